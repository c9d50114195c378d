"""`comfy-platform keys`: create, list, revoke and reassign developer API keys.

Every key belongs to an account (`--account EMAIL`: the person's account, made for that address if they have not
signed in yet; their first Google sign-in with that address takes it over); the account's plan sets the key's
limits unless the key sets its own. `keys create` prints the key's secret alone on its last line, so a script can
take it with `tail -1`; the secret is shown this once and only its hash is stored.
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import datetime

from rich.console import Console
from rich.table import Table

from comfy_platform.secrets import Encryptor
from comfy_platform.settings import Settings
from db import api_keys
from db import users as user_queries
from db.session import create_engine, create_sessionmaker, migrate
from services.billing.usage import entitlement_of

err = Console(stderr=True)


def run_keys(settings: Settings, args: argparse.Namespace) -> int:
    command = {"create": _create, "list": _list, "revoke": _revoke, "reassign": _reassign}[args.keys_command]
    return asyncio.run(_with_session(settings, args, command))


async def _with_session(settings: Settings, args: argparse.Namespace, command) -> int:
    await migrate(settings.database_url)
    engine = create_engine(settings.database_url)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            return await command(session, settings, args)
    finally:
        await engine.dispose()


async def _create(session, settings: Settings, args: argparse.Namespace) -> int:
    account = await user_queries.account_for_email(session, args.account)
    created = await api_keys.create_key(
        session, Encryptor.from_settings(settings), account_id=account.id, name=args.name, scopes=args.scopes,
        expires_in_days=args.expires_in, rate_limit_per_minute=args.rate_limit,
        max_concurrent_jobs=args.max_concurrent)
    key = created.key
    plan = (await entitlement_of(session, account.id, settings)).plan
    print(f"id:             {key.id}")
    print(f"account:        {account.email} ({plan.title} plan)")
    print(f"name:           {key.name}")
    print(f"scopes:         {','.join(key.scopes)}")
    print(f"expires:        {_when(key.expires_at, 'never')}")
    print(f"rate limit:     {_limit(key.rate_limit_per_minute, plan.api_rate_limit_per_minute)} requests/minute")
    print(f"max concurrent: {_limit(key.max_concurrent_jobs, plan.api_max_concurrent_jobs)} jobs")
    print(f"webhook secret: {created.webhook_secret}")
    print("API key (shown once, store it now):")
    print(created.secret)
    return 0


async def _list(session, settings: Settings, args: argparse.Namespace) -> int:
    table = Table("id", "account", "name", "prefix", "scopes", "created", "expires", "revoked", "last used", box=None)
    for key, email in await api_keys.list_keys(session):
        table.add_row(key.id, email, key.name, key.prefix, ",".join(key.scopes), _when(key.created_at),
                      _when(key.expires_at, "never"), _when(key.revoked_at, "no"), _when(key.last_used_at, "never"))
    # Wide enough that ids are never folded: scripts grep this output.
    Console(width=240, soft_wrap=True).print(table)
    return 0


async def _reassign(session, settings: Settings, args: argparse.Namespace) -> int:
    account = await user_queries.account_for_email(session, args.account)
    if not await api_keys.reassign_key(session, args.key_id, account.id):
        err.print(f"[red]error:[/red] no API key with id {args.key_id!r}")
        return 1
    print(f"{args.key_id} now belongs to {account.email}")
    return 0


async def _revoke(session, settings: Settings, args: argparse.Namespace) -> int:
    if await api_keys.get_key(session, args.key_id) is None:
        err.print(f"[red]error:[/red] no API key with id {args.key_id!r}")
        return 1
    if await api_keys.revoke_key(session, args.key_id):
        print(f"revoked {args.key_id}")
    else:
        print(f"{args.key_id} was already revoked")
    return 0


def _when(value: datetime | None, none: str = "") -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else none


def _limit(own: int | None, default: int) -> str:
    return str(own) if own is not None else f"{default} (the plan's)"
