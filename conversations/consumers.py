"""WebSocket `ws/conversations/`: the account's inbox events (conversations.live).

Access is the page's: the session's user in the session's current account (as
accounts.middleware.CurrentAccountMiddleware resolves it), with VIEW_CONVERSATIONS;
anything else is refused before the handshake completes. Each event is passed on only
if the user may see that conversation: a field user (scope `assigned`) gets events of
conversations assigned to them (or just taken from them, so they leave the list), a
manager those and the unassigned ones, admins and viewers every event of the account
(the pages re-read through the scoped selectors, so an event never shows more than
the user may see).

Frames sent: `{"events": [{"id", "kind"}, ...], "refresh": bool}`. The client sends
nothing we act on. While connected, the consumer keeps the account watched and runs
the trailing edge of the coalescing (conversations.live.flush) once a second.
"""

import asyncio
import contextlib

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from accounts.api import SESSION_ACCOUNT_KEY
from accounts.models import Membership
from accounts.permissions import Capability, ConversationScope, can, conversation_scope
from accounts.selectors import membership_for_session

from . import live

FLUSH_SECONDS = 1.0


def _membership_for(user, session) -> Membership | None:
    slug = session.get(SESSION_ACCOUNT_KEY) if session is not None else None
    membership = membership_for_session(user=user, slug=slug)
    if membership is None or not can(membership.role, Capability.VIEW_CONVERSATIONS):
        return None
    return membership


def visible_events(events: list[dict], *, scope: str, user_id: int) -> list[dict]:
    """The events this user may hear about (conversations.selectors.conversation_scope_q
    in event form), without the holders' ids."""
    if scope == ConversationScope.ASSIGNED:
        events = [e for e in events if user_id in e.get("to", ())]
    elif scope == ConversationScope.ASSIGNED_AND_SHARED:
        events = [e for e in events if e.get("shared") or user_id in e.get("to", ())]
    return [{"id": e["id"], "kind": e["kind"]} for e in events]


class InboxConsumer(AsyncJsonWebsocketConsumer):
    group: str | None = None
    account_id: int | None = None
    user_id: int | None = None
    scope_name: str = ""
    ticking: asyncio.Task | None = None

    async def connect(self) -> None:
        membership = await database_sync_to_async(_membership_for)(
            self.scope.get("user"), self.scope.get("session")
        )
        if membership is None:
            await self.close()
            return
        self.account_id = membership.account_id
        self.user_id = membership.user_id
        self.scope_name = conversation_scope(membership.role)
        await sync_to_async(live.watch, thread_sensitive=False)(self.account_id)
        self.group = live.group_name(self.account_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        self.ticking = asyncio.ensure_future(self._tick())

    async def _tick(self) -> None:
        ticks_per_watch = max(1, int(live.WATCH_SECONDS / 3 / FLUSH_SECONDS))
        n = 0
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            n += 1
            if n % ticks_per_watch == 0:
                await sync_to_async(live.watch, thread_sensitive=False)(self.account_id)
            frame = await sync_to_async(live.claim_pending, thread_sensitive=False)(self.account_id)
            if frame:
                await self.channel_layer.group_send(self.group, frame)

    async def disconnect(self, code: int) -> None:
        if self.ticking is not None:
            self.ticking.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.ticking
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None, **kwargs) -> None:
        pass  # nothing a client sends changes anything

    async def conversations_changed(self, event: dict) -> None:
        events = visible_events(
            event.get("events", []), scope=self.scope_name, user_id=self.user_id
        )
        refresh = bool(event.get("refresh"))
        if events or refresh:
            await self.send_json({"events": events, "refresh": refresh})
