"""Serving samoflow on a local Prefect server: processes started and stopped."""
