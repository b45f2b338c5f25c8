"""The agent's market-data collector: exchange sockets in, SQLite rows out."""

from edge.collector.service import CollectorService, CollectorStatus, run_collector

__all__ = ["CollectorService", "CollectorStatus", "run_collector"]
