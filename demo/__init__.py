"""``tickerml demo``: broker, hub and two agents as processes on one machine, offline,
and the report on what they did. It may import every part of TickerML; nothing
imports it (an import contract in pyproject.toml says so)."""
