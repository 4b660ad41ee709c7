"""The Prefect side that is neither a flow nor a task: events, automations, run names, runs."""

from samoflow.prefect_api.retries import quick_local_retries
from samoflow.prefect_api.tls import share_tls_contexts
from samoflow.serve.server_tuning import tune_servers_started_here

# Every samoflow process that reaches Prefect imports this package before its first client
# (the CLI, the flows a worker loads, the tests): one TLS context each, see tls.py, quick
# first retries for an API on this machine, see retries.py, and the servers it starts
# record task runs in batches, see serve/server_tuning.py.
share_tls_contexts()
quick_local_retries()
tune_servers_started_here()
