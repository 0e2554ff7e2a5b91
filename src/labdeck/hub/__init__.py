"""Channels, subscriptions and request dispatch for connected clients."""

from __future__ import annotations

from labdeck.hub.connection import SLOW_CLIENT_CLOSE_CODE, Client, Connection, current_client
from labdeck.hub.hub import Hub, channel_group, check_channel_name
from labdeck.hub.rpc import NoObjects, ObjectSpace

__all__ = [
    "SLOW_CLIENT_CLOSE_CODE",
    "Client",
    "Connection",
    "Hub",
    "NoObjects",
    "ObjectSpace",
    "channel_group",
    "check_channel_name",
    "current_client",
]
