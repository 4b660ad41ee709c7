"""What samoflow tells a human, the idempotent outbox and the channel payloads."""
