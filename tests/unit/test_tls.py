"""Prefect's API clients share one verified TLS context per process (prefect_api/tls.py)."""

from __future__ import annotations

import ssl

import certifi
from prefect.client import orchestration
from prefect.client.orchestration import PrefectClient, SyncPrefectClient

import samoflow.prefect_api  # noqa: F401  (installs the shared contexts, as every flow does)
from samoflow.prefect_api.tls import share_tls_contexts


def _context(client: PrefectClient | SyncPrefectClient) -> ssl.SSLContext:
    pool = client._client._transport._pool  # type: ignore[union-attr]
    context = pool._ssl_context
    assert isinstance(context, ssl.SSLContext)
    return context


def test_clients_share_one_verified_context() -> None:
    url = "http://127.0.0.1:9/api"
    first, second = SyncPrefectClient(url), PrefectClient(url)
    shared = _context(first)
    assert _context(second) is shared
    assert shared.verify_mode is ssl.CERT_REQUIRED and shared.check_hostname
    assert shared.cert_store_stats()["x509_ca"] > 0  # certifi's roots, not an empty store


def test_another_certificate_file_and_the_insecure_context_are_their_own() -> None:
    share_tls_contexts()  # a second install keeps the first stand-in
    stand_in = orchestration.ssl
    verified = stand_in.create_default_context(cafile=certifi.where())
    insecure = stand_in.create_default_context()
    insecure.check_hostname = False
    insecure.verify_mode = ssl.CERT_NONE  # what Prefect does with it when told to skip
    assert stand_in.create_default_context() is insecure
    assert verified is not insecure and verified.verify_mode is ssl.CERT_REQUIRED
    assert stand_in.SSLContext is ssl.SSLContext  # the rest is the real module
