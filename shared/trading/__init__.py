"""The paper-trading engine: broker, portfolios, risk, strategies, backtests.

It lives in ``shared`` because the very same engine runs live on the Pi and in
backtests anywhere (edge or hub store): one implementation, the same trades.
Pure Python plus numpy; persistence and the CLI live in ``edge.trading``.
No code path here or anywhere in TickerML reaches an exchange's private API.
"""
