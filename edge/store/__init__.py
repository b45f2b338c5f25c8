"""The agent's SQLite store: schema and migrations, one batched writer, retention."""
