"""The pacer: duration parsing, holding at zero, pacing to the refill rate (a fake clock), and
the practice server's honest rate-limit headers over a real socket."""

from __future__ import annotations

import threading

import pytest
import requests

from oai_magic.core.pacer import DEFAULT_ANSWER_TOKENS, Pacer, estimate_need, parse_duration
from oai_magic.practice import RateLimit
from oai_magic.practice.batch import go_duration

from .conftest import TEST_KEY


@pytest.mark.parametrize("text, seconds", [
    ("1s", 1.0), ("6m0s", 360.0), ("120ms", 0.12), ("1h2m3.5s", 3723.5), ("0s", 0.0),
    ("2.5", 2.5), ("17ms", 0.017), ("1m", 60.0),
])
def test_reset_durations_parse_as_go_writes_them(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "soon", "1x", "s", "5 s", None, "1s2"])
def test_an_unreadable_reset_is_none_and_never_an_error(text):
    assert parse_duration(text) is None


@pytest.mark.parametrize("seconds", [0.12, 0.5, 1.0, 1.25, 59.9, 360.0, 3723.5])
def test_the_practice_servers_durations_read_back(seconds):
    assert parse_duration(go_duration(seconds)) == pytest.approx(seconds, abs=0.002 if seconds < 60 else 1)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def headers(remaining, reset, limit=10, tokens_remaining=1_000_000, tokens_reset="0s"):
    return {"x-ratelimit-limit-requests": str(limit),
            "x-ratelimit-remaining-requests": str(remaining),
            "x-ratelimit-reset-requests": reset,
            "x-ratelimit-limit-tokens": "1000000",
            "x-ratelimit-remaining-tokens": str(tokens_remaining),
            "x-ratelimit-reset-tokens": tokens_reset}


def test_with_no_headers_seen_nothing_is_held():
    pacer = Pacer(Clock())
    assert pacer.delay(5000) == 0


def test_at_zero_remaining_requests_are_held_until_one_has_refilled():
    clock = Clock()
    pacer = Pacer(clock)
    assert pacer.acquire(10)
    pacer.observe(headers(0, "2s"))  # empty, full again in 2 s: 5 requests a second
    pacer.release()
    assert pacer.delay(10) == pytest.approx(0.2)
    clock.now += 0.1
    assert pacer.delay(10) == pytest.approx(0.1)
    clock.now += 0.1
    assert pacer.delay(10) == 0


def test_the_pace_is_the_refill_rate_not_one_burst_per_window():
    clock = Clock()
    pacer = Pacer(clock)
    pacer.acquire(1)
    pacer.observe(headers(4, "6s", limit=10))  # 6 used, full in 6 s: one a second
    pacer.release()
    for _ in range(4):
        assert pacer.delay(1) == 0
        pacer.acquire(1)
        pacer.release()
    assert pacer.delay(1) == pytest.approx(1.0)  # not the whole 6 s window
    clock.now += 1.0
    assert pacer.delay(1) == 0


def test_requests_still_in_flight_count_against_what_the_server_reports():
    clock = Clock()
    pacer = Pacer(clock)
    for _ in range(4):
        pacer.acquire(1)
    pacer.observe(headers(3, "1s", limit=10))  # the 3 others in flight may not be counted yet
    pacer.release()
    assert pacer.delay(1) > 0


def test_an_older_report_arriving_late_does_not_undo_a_newer_one():
    clock = Clock()
    pacer = Pacer(clock)
    pacer.acquire(1)
    pacer.observe(headers(1, "1s", limit=10))
    pacer.observe(headers(6, "1s", limit=10))  # sent earlier, answered later
    pacer.release()
    pacer.acquire(1)
    assert pacer.delay(1) > 0


def test_fixed_windows_are_paced_by_the_slowest_refill_seen_not_the_rush_at_a_windows_end():
    clock = Clock()
    pacer = Pacer(clock)
    pacer.acquire(1)
    pacer.observe(headers(9, "2s", limit=10))  # early in a fixed window: 0.5 a second
    clock.now += 1.9
    pacer.observe(headers(0, "100ms", limit=10))  # near its end: would suggest 100 a second
    pacer.release()
    assert pacer.delay(1) == pytest.approx(0.15)  # the reset (plus a margin), not 10 ms


def test_tokens_are_held_for_too_when_the_prompt_and_answer_would_not_fit():
    clock = Clock()
    pacer = Pacer(clock)
    pacer.acquire(1)
    pacer.observe(headers(100, "1ms", limit=100, tokens_remaining=500, tokens_reset="1s"))
    pacer.release()
    need = estimate_need(400, None)
    assert need == 101 + DEFAULT_ANSWER_TOKENS
    assert pacer.delay(need) > 0
    clock.now += 1.1  # the reset said the tokens are full again by then
    assert pacer.delay(need) == 0


def test_a_429_holds_every_worker_for_the_time_it_asks():
    clock = Clock()
    pacer = Pacer(clock)
    pacer.hold(1.5)
    assert pacer.delay(1) == pytest.approx(1.5)
    clock.now += 1.5
    assert pacer.delay(1) == 0


def test_acquire_returns_false_at_once_when_stopped():
    clock = Clock()
    pacer = Pacer(clock)
    pacer.hold(3600)
    stop = threading.Event()
    stop.set()
    assert pacer.acquire(1, stop) is False


@pytest.mark.parametrize("continuous", [False, True])
def test_the_practice_server_sends_honest_headers_and_a_429_past_the_limit(server, continuous):
    server.rate_limit = RateLimit(3, 30.0, continuous=continuous)
    session = requests.Session()
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "[[echo]] hi"}]}
    answers = [session.post(server.base_url + "/chat/completions", json=body,
                            headers={"Authorization": f"Bearer {TEST_KEY}"}) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.headers["x-ratelimit-remaining-requests"] for a in answers[:3]] == ["2", "1", "0"]
    assert all(a.headers["x-ratelimit-limit-requests"] == "3" for a in answers)
    reset = parse_duration(answers[2].headers["x-ratelimit-reset-requests"])
    assert reset is not None and 0 < reset <= 30.0
    refused = answers[3]
    assert refused.json()["error"]["code"] == "rate_limit_exceeded"
    assert 0 < int(refused.headers["retry-after-ms"]) <= 30_000
    assert server.rate_limit.refused == 1
