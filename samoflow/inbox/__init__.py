"""Messages between sessions, parents and humans, and the agent's own outbox."""
