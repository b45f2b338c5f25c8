"""The hub store: every agent's synced rows plus the hub's own bookkeeping (SQLite)."""

from hub.store.records import AgentRecord, CommandRecord, DeadLetter, ValidBatch
from hub.store.store import HubStore

__all__ = ["AgentRecord", "CommandRecord", "DeadLetter", "HubStore", "ValidBatch"]
