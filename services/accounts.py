"""Deleting an account, for good: asked for by its person (signed out at once, the account marked so it cannot be
signed in to meanwhile) and carried out by AccountDeletionWorkflow (`account-deletion-<user id>`), whose activities
take the steps below. Each step is safe to repeat, so a retried or replayed run deletes what is left and nothing
else: the sync schedule and the Google grant, the Stripe subscription (ended at once, so nothing is charged again),
the account's unfinished jobs (cancelled), then a page at a time its jobs' input and output files, its uploads and
its photos' thumbnails in storage, each before the rows that name them, and last the account row itself."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode

from comfy_platform.secrets import Encryptor
from comfy_platform.settings import Settings
from comfy_platform.storage import Storage
from db import accounts as account_queries
from db import jobs as job_queries
from db import users as user_queries
from db.accounts import Page
from services.billing.stripe_billing import StripeBilling
from services.creator.schedules import delete_sync_schedule
from services.creator.thumbnails import thumbnail_key
from services.creator.tokens import revoke_at_google
from workflows.shared import (
    IO_TASK_QUEUE,
    AccountDeletionInput,
    account_deletion_workflow_id,
    typed_search_attributes,
)

log = logging.getLogger(__name__)
ACCOUNT_DELETION_WORKFLOW = "AccountDeletionWorkflow"
PAGE = 100  # rows deleted per step: one activity's worth of storage deletes
DELETES_AT_ONCE = 16


async def request_deletion(session: AsyncSession, temporal: Client, user_id: str) -> None:
    """Start the account's deletion run (or join the one running), then sign the person out everywhere. The run
    starts first: if Temporal does not take it, nothing has changed and the request can be sent again."""
    await temporal.start_workflow(
        ACCOUNT_DELETION_WORKFLOW, AccountDeletionInput(user_id=user_id), id=account_deletion_workflow_id(user_id),
        task_queue=IO_TASK_QUEUE, id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        search_attributes=typed_search_attributes({"Product": "creator", "UserId": user_id}))
    await account_queries.request_deletion(session, user_id)
    await session.commit()


class AccountDeletion:
    """The steps of deleting one account, for AccountDeletionWorkflow's activities."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], storage: Storage, temporal: Client,
                 settings: Settings, encryptor: Encryptor, billing: StripeBilling | None) -> None:
        self.sessionmaker, self.storage, self.temporal = sessionmaker, storage, temporal
        self.settings, self.encryptor, self.billing = settings, encryptor, billing

    async def close_access(self, user_id: str) -> None:
        """No browser session, no live API key, no sync schedule ticking on, no access to the person's Google
        Drive."""
        async with self.sessionmaker() as session, session.begin():
            await account_queries.close_access(session, user_id)
            account = await user_queries.get_user(session, user_id)
        await delete_sync_schedule(self.temporal, user_id)
        if account is not None:
            await revoke_at_google(account, self.settings, self.encryptor)  # best effort: logged when refused

    async def end_subscriptions(self, user_id: str) -> int:
        """The account's subscriptions ended at Stripe at once; how many were live."""
        async with self.sessionmaker() as session:
            account = await user_queries.get_user(session, user_id)
        if self.billing is None or account is None or not account.stripe_customer_id:
            return 0
        return await self.billing.cancel_subscriptions(account.stripe_customer_id)

    async def cancel_unfinished_jobs(self, user_id: str) -> int:
        """Ask every unfinished job of the account to stop; how many have not ended yet. A job whose workflow
        never started (its start still in the row's outbox) is removed here, so the start sweeper cannot start it."""
        async with self.sessionmaker() as session:
            jobs = await account_queries.unfinished_jobs(session, user_id, PAGE)
        for job in jobs:
            try:
                await self.temporal.get_workflow_handle(job.workflow_id).cancel()
            except RPCError as exc:
                if exc.status != RPCStatusCode.NOT_FOUND:
                    raise
                if job.start_payload is not None:
                    async with self.sessionmaker() as session, session.begin():
                        keys = await job_queries.delete_unstarted_job(session, job.id)
                    await self.delete_files(keys or [])
        async with self.sessionmaker() as session:
            return len(await account_queries.unfinished_jobs(session, user_id, PAGE))

    async def delete_jobs(self, user_id: str) -> int:
        """One page of the account's jobs, files first; how many were deleted (0: none left)."""
        return await self._delete_page(account_queries.jobs_page, account_queries.delete_jobs, user_id)

    async def delete_uploads(self, user_id: str) -> int:
        """One page of the images uploaded with the account's keys, files first; how many (0: none left)."""
        return await self._delete_page(account_queries.uploads_page, account_queries.delete_uploads, user_id)

    async def delete_photos(self, user_id: str) -> int:
        """One page of the creator's photo records with their before/after thumbnails; how many (0: none left).
        The photos themselves and their edits stay in the person's Google Drive."""
        return await self._delete_page(_photos_page, account_queries.delete_photos, user_id)

    async def delete_account(self, user_id: str) -> bool:
        async with self.sessionmaker() as session, session.begin():
            return await account_queries.delete_account(session, user_id)

    async def _delete_page(self, read_page: Callable[..., Awaitable[Page]],
                           delete_rows: Callable[[AsyncSession, list[str]], Awaitable[None]], user_id: str) -> int:
        """Read a page of rows, delete the files they name, then the rows; how many rows went."""
        async with self.sessionmaker() as session:
            page = await read_page(session, user_id, PAGE)
        await self.delete_files(page.storage_keys)
        if page.ids:
            async with self.sessionmaker() as session, session.begin():
                await delete_rows(session, page.ids)
        return len(page.ids)

    async def delete_files(self, keys: list[str]) -> None:
        """Delete from storage, a few at a time; a file already gone is fine. Any other failure is raised after
        the rest were tried, so the step is retried and the rows that name the files are kept until then."""
        failures: list[BaseException] = []
        for start in range(0, len(keys), DELETES_AT_ONCE):
            batch = keys[start:start + DELETES_AT_ONCE]
            results = await asyncio.gather(*(self.storage.delete(key) for key in batch), return_exceptions=True)
            failures += [result for result in results if isinstance(result, BaseException)]
        if failures:
            raise failures[0]


async def _photos_page(session: AsyncSession, user_id: str, limit: int) -> Page:
    """A page of the creator's photo records, naming their before/after thumbnails in storage."""
    photos = await account_queries.photos_page(session, user_id, limit)
    return Page(ids=[p.id for p in photos], storage_keys=[thumbnail_key(user_id, p.file_id, p.version, which)
                                                          for p in photos for which in ("before", "after")])
