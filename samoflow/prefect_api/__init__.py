"""The Prefect side that is neither a flow nor a task: events, automations, run names, runs."""
