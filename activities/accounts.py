"""AccountActivities: the steps of AccountDeletionWorkflow (services/accounts.py), each safe to retry."""

from __future__ import annotations

import logging

from temporalio import activity

from services.accounts import AccountDeletion
from workflows.shared import AccountDeletionInput

log = logging.getLogger(__name__)


class AccountActivities:
    def __init__(self, deletion: AccountDeletion) -> None:
        self.deletion = deletion

    @activity.defn
    async def close_account_access(self, request: AccountDeletionInput) -> None:
        await self.deletion.close_access(request.user_id)

    @activity.defn
    async def end_account_subscriptions(self, request: AccountDeletionInput) -> int:
        return await self.deletion.end_subscriptions(request.user_id)

    @activity.defn
    async def cancel_account_jobs(self, request: AccountDeletionInput) -> int:
        return await self.deletion.cancel_unfinished_jobs(request.user_id)

    @activity.defn
    async def delete_account_jobs(self, request: AccountDeletionInput) -> int:
        return await self.deletion.delete_jobs(request.user_id)

    @activity.defn
    async def delete_account_uploads(self, request: AccountDeletionInput) -> int:
        return await self.deletion.delete_uploads(request.user_id)

    @activity.defn
    async def delete_account_photos(self, request: AccountDeletionInput) -> int:
        return await self.deletion.delete_photos(request.user_id)

    @activity.defn
    async def delete_account_row(self, request: AccountDeletionInput) -> bool:
        deleted = await self.deletion.delete_account(request.user_id)
        log.info("account %s deleted", request.user_id, extra={"user_id": request.user_id})
        return deleted
