"""Fixtures: one real Klaxon process (with a webhook receiver) per test session, and clients."""

from __future__ import annotations

from typing import AsyncIterator, Iterator

import pytest

from harness import KlaxonProcess, Receiver, start_klaxon
from klaxon import AsyncKlaxon, Klaxon, RetryPolicy

#: Short waits so retry tests stay quick; the production defaults are longer.
FAST_RETRIES = RetryPolicy(retries=3, base_delay=0.05, max_delay=0.2)


@pytest.fixture(scope="session")
def klaxon_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KlaxonProcess]:
    """The Klaxon binary, serving on a free port with the SDK test pipelines."""
    receiver = Receiver()
    server = start_klaxon(tmp_path_factory.mktemp("klaxon"), receiver)
    try:
        yield server
    finally:
        server.stop()
        receiver.close()


@pytest.fixture
def client(klaxon_server: KlaxonProcess) -> Iterator[Klaxon]:
    """A sync client with the API token."""
    with Klaxon(
        klaxon_server.url, token=klaxon_server.token, retry_policy=FAST_RETRIES
    ) as sync_client:
        yield sync_client


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run on asyncio (trio is not installed)."""
    return "asyncio"


@pytest.fixture
async def async_client(klaxon_server: KlaxonProcess) -> AsyncIterator[AsyncKlaxon]:
    """An async client with the API token."""
    async with AsyncKlaxon(
        klaxon_server.url, token=klaxon_server.token, retry_policy=FAST_RETRIES
    ) as async_klaxon:
        yield async_klaxon
