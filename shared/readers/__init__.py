"""Market data read back from a TickerML store: an agent's database or the hub store.

Both keep the synced tables (:mod:`shared.sync.tables`) under the same names and
data columns; only the key differs. An agent's rows are keyed on ``id``; the
hub's on ``(agent_id, epoch, local_id)``, one copy per agent that sent them, one
series per database the agent had (the epoch; ``(agent_id, local_id)`` in a hub
store from before epochs, still read). Which kind a file is comes from its schema
(:func:`~shared.readers.stores.store_kind`), so every reader here takes the same
connection either way, and an optional ``agent``:

* agent database: it holds one agent's rows, ``agent`` filters nothing (check it
  first with :func:`~shared.readers.stores.check_agent`);
* hub store, ``agent`` given: that agent's series, every epoch of it together (a
  replaced SD card goes on where the old one stopped), in time order, each market
  fact once (a trade or a candle both databases hold is read once, as below);
* hub store, no ``agent``: every agent's rows, each market fact once. Two agents
  collecting the same market store the same trades and candles: a trade is taken
  once per (exchange, symbol, trade_id) (the lowest agent id's copy), a candle
  once per (exchange, symbol, open_time_ms) (the copy built from the most trades:
  a whole minute beats one an agent joined or left halfway; then the lowest agent
  id). Books are not merged: two agents' snapshots or raw messages are two views
  of the book with their own clocks and sequence, so they are read from one agent
  only — the only one that has them, else :class:`OperationalError` asking for it.

Every function reads; none writes. Callers open the connection (read-only).

* :mod:`~shared.readers.stores`: which kind of store, its agents, whose rows a read takes;
* :mod:`~shared.readers.sources`: what there is to replay in a window, and from whom;
* :mod:`~shared.readers.events`: raw messages, trades, book snapshots and candles;
* :mod:`~shared.readers.timeframes`: candles of a longer timeframe, stored or resampled;
* :mod:`~shared.readers.instruments`: tick and lot inferred from stored prices and sizes.
"""
