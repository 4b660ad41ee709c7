"""The iteration loop: one agent attempt, the phase rules, the judge and the prompts."""
