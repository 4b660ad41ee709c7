"""Prefect tasks: thin, retryable wrappers over the samoflow domain."""
