"""The agent's sync to the hub: outbox, MQTT client, commands, disk budget (docs/sync.md)."""
