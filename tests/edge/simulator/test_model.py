"""The order-flow model: determinism, book invariants and regime statistics."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.simulator.model import NS, MarketModel, Regime, SymbolModel, instrument_for


def _fingerprint(model: MarketModel, until_ns: int) -> list[tuple[object, ...]]:
    return [
        (
            ev.symbol,
            ev.ts_ns,
            tuple(ev.bids.items()),
            tuple(ev.asks.items()),
            tuple((t.trade_id, t.price, t.size, t.buyer_taker) for t in ev.trades),
        )
        for ev in model.advance(until_ns)
    ]


def test_same_seed_gives_the_same_events_and_another_seed_does_not() -> None:
    a = _fingerprint(MarketModel(["BTC/USDT", "ETH/USDT"], 3, 0), 30 * NS)
    b = _fingerprint(MarketModel(["BTC/USDT", "ETH/USDT"], 3, 0), 30 * NS)
    c = _fingerprint(MarketModel(["BTC/USDT", "ETH/USDT"], 4, 0), 30 * NS)

    assert a == b
    assert a != c
    assert len(a) > 1000


def test_stepping_in_small_or_large_increments_gives_the_same_stream() -> None:
    whole = MarketModel(["BTC/USDT"], 5, 0)
    pieces = MarketModel(["BTC/USDT"], 5, 0)

    expected = _fingerprint(whole, 20 * NS)
    got = []
    for k in range(1, 2001):
        got += _fingerprint(pieces, k * 10_000_000)

    assert got == expected


def test_a_symbols_market_does_not_depend_on_the_other_symbols() -> None:
    alone = [e for e in _fingerprint(MarketModel(["ETH/USDT"], 9, 0), 10 * NS)]
    paired = [
        e
        for e in _fingerprint(MarketModel(["BTC/USDT", "ETH/USDT"], 9, 0), 10 * NS)
        if e[0] == "ETH/USDT"
    ]

    assert alone == paired


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), symbol=st.sampled_from(["BTC/USDT", "XRP/USDT", "X/Y"]))
def test_the_book_is_never_crossed_and_both_sides_stay_deep(seed: int, symbol: str) -> None:
    model = SymbolModel(instrument_for(symbol), seed, 0)
    grid = model.spec.grid_ticks
    for _ in range(3000):
        ev = model.next_event()
        book = model.book
        bid, ask = book.best_bid_price(), book.best_ask_price()

        assert bid is not None and ask is not None
        assert ask - bid >= grid  # positive spread, at least one price level
        assert len(book.bids) >= 5 and len(book.asks) >= 5
        assert all(p % grid == 0 and s >= 0 for p, s in ev.bids.items())
        assert all(size > 0 for size in book.bids.values())
        assert all(size > 0 for size in book.asks.values())
        for t in ev.trades:
            assert t.size > 0
            assert (t.price >= ask - 100 * grid) if t.buyer_taker else (t.price <= bid + 100 * grid)


def test_average_depth_decays_away_from_the_touch() -> None:
    model = MarketModel(["ETH/USDT"], 1, 0)
    grid = model.models["ETH/USDT"].spec.grid_ticks
    profile = np.zeros(20)
    for k in range(1, 1201):
        for _ in model.advance(k * NS // 2):
            pass
        book = model.book("ETH/USDT")
        best = book.best_bid_price()
        assert best is not None
        profile += [book.bids.get(best - d * grid, 0) for d in range(20)]

    assert profile[:3].mean() > 1.5 * profile[-5:].mean()


class _Run:
    """One long run of BTC/USDT sampled every simulated second."""

    def __init__(self, seed: int, seconds: int) -> None:
        model = MarketModel(["BTC/USDT"], seed, 0)
        symbol_model = model.models["BTC/USDT"]
        mids, regimes, spreads, trades = [], [], [], []
        for k in range(1, seconds + 1):
            for ev in model.advance(k * NS):
                trades += [t.size for t in ev.trades]
            book = model.book("BTC/USDT")
            bid, ask = book.best_bid_price(), book.best_ask_price()
            assert bid is not None and ask is not None
            mids.append((bid + ask) / 2)
            spreads.append(ask - bid)
            regimes.append(symbol_model.regime)
        self.log_mid = np.log(np.array(mids))
        self.regimes = np.array(regimes)
        self.spreads = np.array(spreads)
        self.trade_sizes = np.array(trades, dtype=float)
        self.returns = np.diff(self.log_mid)

    def episodes(self, regime: Regime) -> list[tuple[int, int]]:
        """[start, end) sample ranges spent in ``regime``."""
        out, start = [], None
        for i, r in enumerate(self.regimes):
            if r == regime and start is None:
                start = i
            elif r != regime and start is not None:
                out.append((start, i))
                start = None
        if start is not None:
            out.append((start, len(self.regimes)))
        return out

    def drift_to_noise(self, regime: Regime) -> float:
        """Mean over episodes of |net move| / (realized 1 s vol * sqrt(duration))."""
        ratios = []
        for a, b in self.episodes(regime):
            if b - a >= 20:
                r = np.diff(self.log_mid[a:b])
                ratios.append(abs(r.sum()) / (r.std() * math.sqrt(len(r))))
        return float(np.mean(ratios))

    def autocorrelation(self, regime: Regime, horizon: int) -> float:
        """Lag-one correlation of consecutive ``horizon``-second returns inside episodes."""
        pairs = []
        for a, b in self.episodes(regime):
            r = np.diff(self.log_mid[a:b:horizon])
            pairs += list(itertools.pairwise(r))
        x = np.array(pairs)
        return float(np.corrcoef(x[:, 0], x[:, 1])[0, 1])

    def vol(self, regime: Regime) -> float:
        return float(self.returns[self.regimes[1:] == regime].std())

    def spread(self, regime: Regime) -> float:
        return float(self.spreads[self.regimes == regime].mean())


@pytest.fixture(scope="module")
def long_run() -> _Run:
    return _Run(seed=11, seconds=3 * 3600)


def test_every_regime_occurs_many_times(long_run: _Run) -> None:
    for regime in Regime:
        assert len(long_run.episodes(regime)) >= 15, regime


def test_trending_regime_has_the_largest_drift_relative_to_its_noise(long_run: _Run) -> None:
    trending = long_run.drift_to_noise(Regime.TRENDING)

    assert trending > 1.5 * long_run.drift_to_noise(Regime.MEAN_REVERTING)
    assert trending > 1.5 * long_run.drift_to_noise(Regime.VOLATILE)


def test_mean_reverting_regime_has_negative_return_autocorrelation(long_run: _Run) -> None:
    mean_reverting = long_run.autocorrelation(Regime.MEAN_REVERTING, horizon=10)

    assert mean_reverting < -0.05
    assert mean_reverting < long_run.autocorrelation(Regime.TRENDING, horizon=10)


def test_volatile_regime_has_larger_realized_vol_and_wider_spread(long_run: _Run) -> None:
    for calm in (Regime.TRENDING, Regime.MEAN_REVERTING):
        assert long_run.vol(Regime.VOLATILE) > 2 * long_run.vol(calm)
        assert long_run.spread(Regime.VOLATILE) > 1.3 * long_run.spread(calm)


def test_volatility_clusters(long_run: _Run) -> None:
    absolute = np.abs(long_run.returns)

    assert np.corrcoef(absolute[:-10], absolute[10:])[0, 1] > 0.05


def test_trade_sizes_are_heavy_tailed(long_run: _Run) -> None:
    sizes = long_run.trade_sizes
    z = (sizes - sizes.mean()) / sizes.std()

    assert len(sizes) > 10_000
    assert float((z**4).mean()) > 6  # a normal's kurtosis is 3
    assert np.percentile(sizes, 99.9) > 5 * np.median(sizes)
