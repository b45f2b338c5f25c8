"""The edge → hub sync contract: synced tables, wire messages and the batch codec."""
