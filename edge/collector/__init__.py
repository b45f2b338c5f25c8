"""The agent's exchange sockets: one runner per connection, its HTTP fetches, and the
raw recorder. What the messages become is the agent's business (:mod:`edge.agent`)."""
