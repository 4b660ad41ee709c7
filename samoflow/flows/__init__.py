"""Prefect flows: the stories samoflow orchestrates (session, convoy, monitor)."""
