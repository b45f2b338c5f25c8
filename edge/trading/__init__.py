"""Paper trading on the agent: the SQLite ledger and its recovery, the trading CLI."""
