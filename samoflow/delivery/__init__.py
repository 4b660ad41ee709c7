"""Verified delivery: the project's checks gate `done`; green work is pushed and proposed."""
