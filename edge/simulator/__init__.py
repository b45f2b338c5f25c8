"""The market simulator: an order-flow model and loopback servers that speak the
exchanges' own wire protocols (Binance/Binance.US and Kraken WebSocket v2), so the
real feeds collect from it exactly as from a venue; only the URL differs."""
