"""Login throttling: free attempts, then exponential back-off to a cap, per user and per address."""

from __future__ import annotations

from labdeck.auth.config import AuthConfig
from labdeck.auth.throttle import LoginThrottle, Verdict

T = 1000.0


def fail(throttle: LoginThrottle, times: int, user: str = "ana", addr: str = "10.0.0.1", now: float = T) -> None:
    for _ in range(times):
        throttle.failed(user, addr, now)


def test_the_first_failures_cost_nothing() -> None:
    throttle = LoginThrottle(free_per_user=3)
    fail(throttle, 3)
    assert throttle.check("ana", "10.0.0.1", T) == Verdict(allowed=True)


def test_further_failures_double_the_wait_up_to_the_cap() -> None:
    throttle = LoginThrottle(free_per_user=3, base=1.0, cap=30.0)
    waits = []
    for _ in range(9):
        throttle.failed("ana", "10.0.0.1", T)
        waits.append(throttle.check("ana", "10.0.0.1", T).wait)
    assert waits == [0, 0, 0, 1, 2, 4, 8, 16, 30]
    assert not throttle.check("ana", "10.0.0.1", T).allowed


def test_waiting_out_the_delay_is_enough() -> None:
    throttle = LoginThrottle(free_per_user=1, base=2.0)
    fail(throttle, 3)  # needs 4 s after the last failure
    assert throttle.check("ana", "10.0.0.1", T + 3.5) == Verdict(allowed=False, wait=0.5)
    assert throttle.check("ana", "10.0.0.1", T + 4).allowed


def test_a_user_is_slowed_from_every_address() -> None:
    throttle = LoginThrottle(free_per_user=2, free_per_address=100)
    for i in range(4):
        throttle.failed("ana", f"10.0.0.{i}", T)
    assert not throttle.check("ana", "10.0.0.99", T).allowed
    assert throttle.check("bo", "10.0.0.99", T).allowed


def test_an_address_is_slowed_for_every_user_name() -> None:
    throttle = LoginThrottle(free_per_user=100, free_per_address=5)
    for i in range(7):
        throttle.failed(f"user{i}", "10.0.0.1", T)
    verdict = throttle.check("someone-new", "10.0.0.1", T)
    assert not verdict.allowed and verdict.wait == 2.0
    assert throttle.check("someone-new", "10.0.0.2", T).allowed


def test_success_resets_the_user_but_not_the_address() -> None:
    throttle = LoginThrottle(free_per_user=1, free_per_address=3)
    fail(throttle, 5)
    throttle.succeeded("ana", "10.0.0.1", T)
    assert not throttle.check("ana", "10.0.0.1", T).allowed  # the address still waits
    assert throttle.check("ana", "10.0.0.2", T).allowed


def test_old_failures_are_forgotten() -> None:
    throttle = LoginThrottle(free_per_user=1, forget=600.0)
    fail(throttle, 5)
    assert throttle.check("ana", "10.0.0.1", T + 599).wait == 0  # the 8 s delay is long over
    throttle.failed("ana", "10.0.0.1", T + 600)  # counts as the first again
    assert throttle.check("ana", "10.0.0.1", T + 600).allowed
    throttle.prune(T + 1200)
    assert throttle.check("ana", "10.0.0.1", T + 1200).allowed


def test_memory_stays_bounded_under_a_spray_of_names() -> None:
    throttle = LoginThrottle(free_per_user=0, max_entries=100)
    for i in range(1000):
        throttle.failed(f"user{i}", "10.0.0.1", T + i)
    assert len(throttle._counts) <= 100
    assert not throttle.check("user999", "10.0.0.1", T + 999).allowed  # the newest still throttled


def test_the_auth_section_sets_free_attempts_and_cap() -> None:
    throttle = LoginThrottle.from_config(AuthConfig(login_free_attempts=1, login_max_delay=3.0))
    fail(throttle, 1)
    assert throttle.check("ana", "10.0.0.1", T).allowed
    fail(throttle, 5)
    assert throttle.check("ana", "10.0.0.1", T).wait == 3.0
