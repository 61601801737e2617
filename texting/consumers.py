"""WebSocket `ws/campaigns/<id>/`: the campaign's live status snapshot.

On connect the whole snapshot is sent (the truth is always a fresh read); after that
the consumer forwards what texting.live pushes to the group `campaign.<id>`. Frames are
the exact object `GET /api/v1/campaigns/{id}/status/` returns. The client sends nothing
we act on.

Access is the page's: the session's user, acting in the session's current account
(as accounts.middleware.CurrentAccountMiddleware resolves it), with VIEW_STATS, and the
campaign must belong to that account. Anything else is refused before the handshake
completes (the browser sees a failed connection, close code 1006; no tenant's ids leak).
"""

import asyncio
import contextlib
import time

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from accounts.api import SESSION_ACCOUNT_KEY
from accounts.permissions import Capability, can
from accounts.selectors import membership_for_session

from . import live
from .models import Campaign
from .selectors import campaign_status_snapshot


def _campaign_for(user, session, campaign_id: int) -> Campaign | None:
    """The campaign if this session may watch it, else None."""
    slug = session.get(SESSION_ACCOUNT_KEY) if session is not None else None
    membership = membership_for_session(user=user, slug=slug)
    if membership is None or not can(membership.role, Capability.VIEW_STATS):
        return None
    return Campaign.objects.filter(account=membership.account, pk=campaign_id).first()


def _snapshot(campaign_id: int) -> dict | None:
    campaign = Campaign.objects.filter(pk=campaign_id).first()
    return campaign_status_snapshot(campaign=campaign) if campaign else None


class CampaignStatusConsumer(AsyncJsonWebsocketConsumer):
    group: str | None = None
    last_at: float = 0.0  # when the newest snapshot we sent was read
    watching: asyncio.Task | None = None

    async def connect(self) -> None:
        campaign_id = int(self.scope["url_route"]["kwargs"]["campaign_id"])
        campaign = await database_sync_to_async(_campaign_for)(
            self.scope.get("user"), self.scope.get("session"), campaign_id
        )
        if campaign is None:
            await self.close()
            return
        # Watched and joined before reading, so no push after the read is lost.
        await sync_to_async(live.watch)(campaign.pk)
        self.watching = asyncio.ensure_future(self._keep_watching(campaign.pk))
        self.group = live.group_name(campaign.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        self.last_at = time.time()
        snapshot = await database_sync_to_async(_snapshot)(campaign.pk)
        if snapshot is not None:
            await self.send_json(snapshot)

    async def _keep_watching(self, campaign_id: int) -> None:
        while True:
            await asyncio.sleep(live.WATCH_SECONDS / 3)
            await sync_to_async(live.watch)(campaign_id)

    async def disconnect(self, code: int) -> None:
        if self.watching is not None:
            self.watching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.watching
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None, **kwargs) -> None:
        pass  # the status is read-only: whatever a client sends (even non-JSON) is ignored

    async def campaign_status(self, event: dict) -> None:
        # Pushes from different processes can arrive out of order; never step back.
        at = event.get("at", 0.0)
        if at < self.last_at:
            return
        self.last_at = at
        await self.send_json(event["snapshot"])
