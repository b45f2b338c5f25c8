"""Historical market data for the agent: ccxt market metadata (:mod:`.metadata`),
REST backfill of 1-minute candles (:mod:`.backfill`) and file import
(:mod:`.importer`, layouts in :mod:`.formats`). Public endpoints only: nothing
here holds an API key or places an order."""
