"""Prefect Blocks: configuration and secrets kept on the Prefect server."""
