"""A Python client of labdeck's wire protocol: :class:`Client` (asyncio) and
:class:`SyncClient` (blocking), with reconnect, resubscribe-with-``since``/``epoch`` and
request/reply matching by id. The protocol itself is ``docs/topics/protocol.md``."""

from __future__ import annotations

from labdeck.client.address import websocket_url
from labdeck.client.aio import Client, DeckError, Subscription
from labdeck.client.sync import SyncClient, SyncSubscription
from labdeck.protocol.wire import Gap, Push

__all__ = [
    "Client",
    "DeckError",
    "Gap",
    "Push",
    "Subscription",
    "SyncClient",
    "SyncSubscription",
    "websocket_url",
]
