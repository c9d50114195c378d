"""`comfy-platform keys` as an operator runs it: a subprocess against the test stack's database."""

from __future__ import annotations

import asyncio
import uuid

from db.api_keys import authenticate


async def keys(platform, *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        *platform.cli, "keys", *args, env=platform.env(),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    return process.returncode, out.decode(), err.decode()


async def create(platform, *args: str, account: str | None = None) -> tuple[str, str, str]:
    """(key id, API key secret, whole output) of `keys create` (for a new account unless one is named)."""
    account = account or f"dev-{uuid.uuid4().hex[:8]}@example.com"
    code, out, err = await keys(platform, "create", "--account", account, *args)
    assert code == 0, err
    key_id = next(line.split()[1] for line in out.splitlines() if line.startswith("id:"))
    return key_id, out.splitlines()[-1], out


async def authenticated(platform, secret: str):
    async with platform.sessionmaker() as session:
        return await authenticate(session, secret)


async def test_create_prints_the_secret_alone_on_the_last_line_and_it_authenticates(platform, api_server):
    name = f"ci-{uuid.uuid4().hex[:8]}"
    key_id, secret, out = await create(platform, "--name", name, "--scopes", "jobs", "--expires-in", "30",
                                       "--rate-limit", "7", "--max-concurrent", "2")
    assert secret.startswith("sk_") and secret == secret.strip() and " " not in secret
    assert name in out and "scopes:         jobs" in out and "whsec_" in out and "7 requests/minute" in out
    key = await authenticated(platform, secret)
    assert key.id == key_id and key.scopes == ["jobs"]
    assert (key.rate_limit_per_minute, key.max_concurrent_jobs) == (7, 2) and key.expires_at is not None
    # The secret opens the API.
    async with api_server.client(secret) as http, api_server.client("sk_wrong") as wrong:
        assert (await wrong.get("/api/v1/jobs")).status_code == 401
        reply = await http.get("/api/v1/jobs")
        assert reply.status_code == 200, reply.text


async def test_list_shows_keys_but_never_a_secret(platform):
    name = f"listed-{uuid.uuid4().hex[:8]}"
    key_id, secret, out = await create(platform, "--name", name)
    webhook_secret = next(line.split()[-1] for line in out.splitlines() if line.startswith("webhook secret:"))
    code, listing, err = await keys(platform, "list")
    assert code == 0, err
    [row] = [line for line in listing.splitlines() if key_id in line]
    assert name in row and secret[:10] in row and "generate,jobs" in row and "never" in row
    assert secret not in listing and secret[10:] not in listing and webhook_secret not in listing


async def test_revoke_stops_the_key_and_is_idempotent(platform):
    key_id, secret, _ = await create(platform, "--name", "to-revoke")
    assert await authenticated(platform, secret) is not None
    code, out, err = await keys(platform, "revoke", key_id)
    assert code == 0, err
    assert await authenticated(platform, secret) is None
    code, out, err = await keys(platform, "revoke", key_id)
    assert code == 0 and "already revoked" in out
    code, listing, _ = await keys(platform, "list")
    [row] = [line for line in listing.splitlines() if key_id in line]
    assert " no " not in row  # the revoked column shows when


async def test_revoking_an_unknown_key_exits_1(platform):
    code, _, err = await keys(platform, "revoke", "no-such-key")
    assert code == 1 and "no-such-key" in err


async def test_unknown_scope_exits_2_with_the_valid_scopes(platform):
    code, out, err = await keys(platform, "create", "--account", "a@example.com", "--name", "x",
                                "--scopes", "generate,admin")
    assert code == 2 and "unknown scope 'admin'" in err and "generate, jobs" in err
    assert out == ""


async def test_a_key_belongs_to_the_account_of_its_email_made_at_first_need(platform):
    email = f"owner-{uuid.uuid4().hex[:8]}@example.com"
    first_id, first_secret, out = await create(platform, "--name", "one", account=email)
    second_id, second_secret, _ = await create(platform, "--name", "two", account=email.upper())
    assert f"account:        {email} (Free plan)" in out
    first, second = await authenticated(platform, first_secret), await authenticated(platform, second_secret)
    assert first.account_id == second.account_id  # one account per person, whatever the case of the address
    code, listing, _ = await keys(platform, "list")
    assert email in next(line for line in listing.splitlines() if first_id in line)


async def test_reassign_moves_a_key_to_another_account(platform):
    key_id, secret, _ = await create(platform, "--name", "moved")
    other = f"new-owner-{uuid.uuid4().hex[:8]}@example.com"
    code, out, err = await keys(platform, "reassign", key_id, "--account", other)
    assert code == 0, err
    code, listing, _ = await keys(platform, "list")
    assert other in next(line for line in listing.splitlines() if key_id in line)
    code, _, err = await keys(platform, "reassign", "no-such-key", "--account", other)
    assert code == 1 and "no-such-key" in err
