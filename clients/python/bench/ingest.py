"""Ingest throughput of the Python SDK: keeps N ``AsyncKlaxon.ingest`` calls in flight.

    python bench/ingest.py --url http://127.0.0.1:5000 --token T --concurrency 64 --seconds 8

Prints one line: ``python-sdk events/s=... p50_ms=... p99_ms=... errors=...``. Every call is
a new event (its own generated idempotency key); retries are off by default so that errors
are counted, not hidden. ``--single-pool`` hands the client one ``httpx.AsyncClient`` with
all the connections instead of the SDK's several small pools, to compare the two.
"""

from __future__ import annotations

import argparse
import time
from typing import List, Optional

import anyio
import httpx

from klaxon import AsyncKlaxon, KlaxonConnectionError, KlaxonError


def percentile(sorted_values: List[float], fraction: float) -> float:
    """The value at ``fraction`` (0..1) of an ascending list (nearest rank); 0 when empty."""
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


async def run(
    url: str, token: Optional[str], concurrency: int, seconds: float, retries: int,
    single_pool: bool,
) -> str:
    """Run the load for ``seconds`` and return the summary line."""
    latencies: List[float] = []
    errors = 0
    connections = max(concurrency, 64)
    http_client = None
    if single_pool:
        http_client = httpx.AsyncClient(
            timeout=10.0,
            limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
        )
    async with AsyncKlaxon(
        url, token=token, retries=retries, max_connections=connections, http_client=http_client
    ) as client:
        deadline = time.perf_counter() + seconds

        async def worker(number: int) -> None:
            nonlocal errors
            sequence = 0
            while time.perf_counter() < deadline:
                sequence += 1
                started = time.perf_counter()
                try:
                    await client.ingest(
                        "bench.python.ingest", {"worker": number, "sequence": sequence}
                    )
                except (KlaxonError, KlaxonConnectionError):
                    errors += 1
                    continue
                latencies.append((time.perf_counter() - started) * 1000.0)

        started_all = time.perf_counter()
        async with anyio.create_task_group() as group:
            for number in range(concurrency):
                group.start_soon(worker, number)
        elapsed = time.perf_counter() - started_all
    if http_client is not None:
        await http_client.aclose()
    latencies.sort()
    name = "python-sdk-single-pool" if single_pool else "python-sdk"
    return (
        f"{name} events/s={len(latencies) / elapsed:.0f} "
        f"p50_ms={percentile(latencies, 0.50):.1f} p99_ms={percentile(latencies, 0.99):.1f} "
        f"errors={errors}"
    )


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description="Klaxon ingest load through AsyncKlaxon")
    parser.add_argument("--url", default="http://127.0.0.1:5000")
    parser.add_argument("--token", default=None)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--retries", type=int, default=0)
    parser.add_argument("--single-pool", action="store_true")
    arguments = parser.parse_args()
    line = anyio.run(
        run, arguments.url, arguments.token, arguments.concurrency, arguments.seconds,
        arguments.retries, arguments.single_pool,
    )
    print(line)


if __name__ == "__main__":
    main()
