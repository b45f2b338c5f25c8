"""The ingest's per-agent limits as logic, on injected time: the rate limit's token
buckets and the dead-letter budget (their effect on a real broker and store is in
test_dead_letter_limits.py and test_flood.py)."""

from __future__ import annotations

from hub.ingest.limits import AgentRateLimiter, DeadLetterBudget, reason_kind
from shared.config.hub import AgentRateConfig, DeadLetterConfig

RATE = AgentRateConfig(messages_per_s=10, burst_messages=5, bytes_per_s=1000, burst_bytes=2000)


def admitted(limiter: AgentRateLimiter, agent: str | None, count: int, *, size: int = 10,
             at_s: float = 0.0) -> int:
    return sum(limiter.admit(agent, size, at_s) for _ in range(count))


def test_an_agent_gets_its_burst_then_its_rate_and_the_rest_are_counted() -> None:
    """Tried: 20 messages at t=0, then 20 at t=1 s (burst 5, 10/s). Kept: 5 pass, then 5
    (a second's refill, capped at the burst); the 30 others counted, with their bytes."""
    limiter = AgentRateLimiter(RATE)

    first = admitted(limiter, "pi-1", 20, at_s=0.0)
    second = admitted(limiter, "pi-1", 20, at_s=1.0)

    assert (first, second) == (5, 5)  # the bucket holds at most its burst
    assert limiter.take_counts() == {"pi-1": (30, 300)}
    assert limiter.take_counts() == {}


def test_one_agents_flood_leaves_another_agents_bucket_whole() -> None:
    """Tried: pi-2 sends 100 messages at once, then pi-1 five. Kept: all five of pi-1's
    pass; only pi-2's are counted."""
    limiter = AgentRateLimiter(RATE)

    admitted(limiter, "pi-2", 100)

    assert admitted(limiter, "pi-1", 5) == 5
    assert limiter.take_counts() == {"pi-2": (95, 950)}


def test_bytes_are_limited_too_and_a_message_larger_than_the_burst_passes_a_full_bucket() -> None:
    """Tried: messages of 900 bytes (burst 2,000 bytes), then one of 5,000 bytes after the
    bucket refilled, then another at once. Kept: two 900s pass, the third is counted; the
    5,000 passes once (so the hub can refuse it with its reason), the next does not."""
    limiter = AgentRateLimiter(RATE)

    assert admitted(limiter, "pi-1", 3, size=900) == 2
    assert limiter.admit("pi-1", 5000, 10.0)
    assert not limiter.admit("pi-1", 10, 10.0)


def test_made_up_agent_ids_cannot_grow_the_limiter_past_its_bound() -> None:
    """Tried: 1,000 different agent ids, 50 at a time in flood, with room for 10. Kept: at
    most 10 buckets and the shared one; newcomers past it share that one, so they are
    limited together; idle agents' buckets (full again) make room."""
    limiter = AgentRateLimiter(RATE, max_agents=10)

    passed = sum(limiter.admit(f"id-{i}", 10, 0.0) for i in range(1000))

    assert len(limiter._buckets) <= 10 + 1
    assert passed == 10 + 5  # ten of their own, then the shared bucket's burst
    assert limiter.admit("late", 10, 60.0)  # a minute on, every bucket is full: room again


def test_topics_naming_no_valid_agent_share_one_bucket() -> None:
    """Tried: 10 messages on topics with no valid agent id. Kept: the burst passes, the
    rest are counted under None."""
    limiter = AgentRateLimiter(RATE)

    assert admitted(limiter, None, 10) == 5
    assert limiter.take_counts() == {None: (5, 50)}


BUDGET = DeadLetterConfig(window_s=60, max_per_window=3, max_bytes_per_window=10_000,
                          max_sample_reasons=2)


def test_the_budget_keeps_its_count_then_one_sample_per_reason_then_counts_only() -> None:
    """Tried: 3 refusals, then more of reason A (with other numbers), of B and of C, in one
    window (samples for 2 reasons). Kept: 3 kept; A and B sampled once each; the other
    A's and B's and every C dropped."""
    budget = DeadLetterBudget(BUDGET)

    kept = [budget.admit("pi-2", f"x {i}", 10, 0.0) for i in range(3)]
    later = [budget.admit("pi-2", reason, 10, 1.0) for reason in (
        "row 5 has id 9", "row 6 has id 10", "bad magic", "bad magic", "third kind")]

    assert kept == ["keep"] * 3
    assert later == ["sample", "drop", "sample", "drop", "drop"]


def test_the_budget_counts_bytes_and_starts_over_each_window() -> None:
    """Tried: two 6,000-byte refusals (budget 10,000 bytes), then one a window later.
    Kept: the first kept, the second sampled (over the bytes), the third kept again."""
    budget = DeadLetterBudget(BUDGET)

    assert budget.admit("pi-2", "big", 6000, 0.0) == "keep"
    assert budget.admit("pi-2", "big", 6000, 1.0) == "sample"
    assert budget.admit("pi-2", "big", 6000, 61.0) == "keep"


def test_each_agent_has_its_own_budget() -> None:
    """Tried: pi-2 spends its budget and its sample. Kept: pi-1's first refusal is kept."""
    budget = DeadLetterBudget(BUDGET)
    for _ in range(10):
        budget.admit("pi-2", "garbage", 10, 0.0)

    assert budget.admit("pi-1", "garbage", 10, 0.0) == "keep"


def test_reasons_differing_only_in_numbers_are_one_kind() -> None:
    """Tried: two reasons that differ in ids and sizes, and one that differs in words.
    Kept: the first two are one kind, the third another."""
    assert reason_kind("pi-2/trades: row 3 has id 7") == reason_kind("pi-2/trades: row 40 has id 1")
    assert reason_kind("pi-2/trades: not JSON") != reason_kind("pi-2/trades: row 3 has id 7")
