from __future__ import annotations

from labdeck import Deck
from tests.helpers import WireClient


async def test_published_message_reaches_subscriber(deck: Deck, client: WireClient) -> None:
    await client.request("sub", ch="lab/temp")
    deck.publish("lab/temp", {"celsius": 21.5})
    (push,) = await client.wait_for("lab/temp", 1)
    assert push["data"] == {"celsius": 21.5} and push["seq"] == 1
