"""Agent adapters: how one iteration's CLI process is built, run and read."""
