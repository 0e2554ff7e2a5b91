"""What only the in-process broker does: its own epoch, and being the default."""

from __future__ import annotations

import pytest

from labdeck.broker import MemoryBroker, open_broker
from labdeck.broker.redis import RedisBroker
from labdeck.exceptions import ConfigError


def test_open_broker_knows_memory_and_redis_and_refuses_unknown_schemes() -> None:
    assert isinstance(open_broker(None, 10), MemoryBroker)
    assert isinstance(open_broker("memory://", 10), MemoryBroker)
    assert isinstance(open_broker("redis://127.0.0.1:6379/0", 10), RedisBroker)
    with pytest.raises(ConfigError, match="unknown broker scheme"):
        open_broker("kafka://host", 10)


def test_an_unknown_scheme_is_named_without_the_password() -> None:
    with pytest.raises(ConfigError) as caught:
        open_broker("kafka://user:secret@host", 10)
    assert "secret" not in str(caught.value)


def test_each_memory_broker_has_its_own_epoch() -> None:
    assert MemoryBroker().epoch != MemoryBroker().epoch
