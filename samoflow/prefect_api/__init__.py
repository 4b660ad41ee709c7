"""The Prefect side that is neither a flow nor a task: events, automations, run names, runs."""

from samoflow.prefect_api.retries import quick_local_retries
from samoflow.prefect_api.tls import share_tls_contexts

# Every samoflow process that reaches Prefect imports this package before its first client
# (the CLI, the flows a worker loads, the tests): one TLS context each, see tls.py, and
# quick first retries for an API on this machine, see retries.py.
share_tls_contexts()
quick_local_retries()
