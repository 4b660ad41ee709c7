"""The agent economy: usage and cost, budgets, rate and usage limits."""
