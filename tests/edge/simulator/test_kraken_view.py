"""The Kraken view the server encodes from must follow the model event by event."""

from __future__ import annotations

from edge.simulator.kraken import KrakenMarket
from edge.simulator.model import NS, MarketModel


def test_views_fed_from_advance_mirror_the_top_of_the_model_book_after_every_event() -> None:
    """The server drains ``advance()`` in steps of a tick, as it does live. Before
    ``advance`` was lazy, the whole step was applied to the book before the first
    event was encoded, and the depth-25 view drifted into a crossed book (the demo
    showed 30 crossed-book resyncs in 15 s). Now the mirror equals the model's
    top 25 after every event and is never crossed."""
    model = MarketModel(["BTC/USDT", "SOL/USDT"], 7, 0)
    market = KrakenMarket(model)
    view = market.view("BTC/USDT", 25)
    source = model.book("BTC/USDT")
    checked = 0
    for step in range(1, 601):
        for ev in model.advance(step * NS // 20):  # 50 ms ticks, 30 s of market
            market.on_event(ev)
            if ev.symbol != "BTC/USDT":
                continue
            assert view.mirror.top_bids(25) == source.top_bids(25)
            assert view.mirror.top_asks(25) == source.top_asks(25)
            assert not view.mirror.is_crossed()
            checked += 1
    assert checked > 1000
