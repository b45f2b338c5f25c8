"""MQTT ingest: the fleet's batches, statuses and command results into the hub store."""

from hub.ingest.service import IngestService
from hub.ingest.writer import IngestStats

__all__ = ["IngestService", "IngestStats"]
