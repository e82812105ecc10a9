"""The console's session store on its own: expiry (idle and in all), the bound on how many
are kept, revocation by token name, and the CSRF comparison. Time is the store's own clock,
handed in, so hours pass in a line."""

from __future__ import annotations

from receiptd.api.sessions import IDLE_S, LIFETIME_S, SessionStore, csrf_matches


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_session_ends_when_idle_too_long_and_after_its_lifetime_however_used() -> None:
    clock = Clock()
    store = SessionStore(clock=clock)
    sid, session = store.open("anna", "cashier")
    assert store.get(sid) is session
    clock.now += IDLE_S - 1
    assert store.get(sid) is session  # used: the idle time starts again
    clock.now += IDLE_S - 1
    assert store.get(sid) is session
    clock.now += IDLE_S + 1
    assert store.get(sid) is None and len(store) == 0

    sid, _ = store.open("anna", "cashier")  # used twice a day, it still ends after a week
    start = clock.now
    while clock.now + IDLE_S / 2 - start <= LIFETIME_S:
        clock.now += IDLE_S / 2
        assert store.get(sid) is not None
    clock.now += IDLE_S / 2
    assert store.get(sid) is None


def test_the_oldest_session_goes_first_past_the_bound_and_revocation_ends_a_tokens() -> None:
    store = SessionStore(clock=Clock(), max_sessions=3)
    first, _ = store.open("till-1", "pos")
    others = [store.open(name, "cashier")[0] for name in ("anna", "ben", "anna")]
    assert len(store) == 3 and store.get(first) is None
    assert store.drop_token("anna") == 2
    assert store.get(others[0]) is None and store.get(others[2]) is None
    assert store.get(others[1]) is not None
    store.close(others[1])
    assert store.get(others[1]) is None
    assert store.get("") is None and store.get("x" * 1000) is None


def test_csrf_needs_this_sessions_token_exactly() -> None:
    store = SessionStore(clock=Clock())
    _, one = store.open("anna", "cashier")
    _, two = store.open("anna", "cashier")
    assert one.csrf != two.csrf and len(one.csrf) >= 40
    assert csrf_matches(one, one.csrf)
    assert not csrf_matches(one, two.csrf)
    assert not csrf_matches(one, None) and not csrf_matches(one, "")
    assert not csrf_matches(one, one.csrf[:-1])
