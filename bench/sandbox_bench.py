"""Benchmark the integration sandbox as the probe benchmark uses it (not part of the test command).

The sandbox runs in its own process (`monitoring-pipeline sandbox`); this process drives it with
httpx's AsyncClient, one client per endpoint (as probes of distinct hosts have), or with
--shared-pool one AsyncClient whose pool holds a connection per endpoint. For each HTTP parser:

1. Probing passes: 1,000 endpoints answering in 100-300 ms, one request to each, all at once; the
   first pass opens the connections, the next ones reuse them. Ideal: ~0.3 s (the slowest latency).
2. Sustained: 1,000 requests always in flight against those endpoints; ideal: 1,000 / 0.2 s mean
   latency = 5,000 requests/s.
3. Capacity: endpoints with no latency and 200 requests in flight, to see who saturates first; then
   the same from a minimal asyncio HTTP/1.1 client, cheap enough to load the sandbox itself.

Each line gives requests/s and the CPU used by the sandbox process and by this (client) process: on
2 cores each can use one, so whichever sits near 100 % is the bottleneck. "Sandbox CPU per 1,000
requests" says how many requests a second one core of sandbox can answer.

Run: .venv/bin/python bench/sandbox_bench.py [--endpoints 1000] [--passes 5] [--seconds 8]
                                             [--http h11 httptools] [--shared-pool]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import ssl
import statistics
import time
from collections import Counter
from dataclasses import dataclass

import httpx
from _common import cli_server_process

from monitoring_pipeline.fakes.sandbox import SandboxAdmin

TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (from /proc)."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


@dataclass
class Run:
    requests: int
    seconds: float
    server_cpu: float
    client_cpu: float
    statuses: Counter[int]

    def line(self) -> str:
        rate = self.requests / self.seconds
        return (
            f"{self.requests:>7,} requests in {self.seconds:5.2f} s = {rate:7,.0f}/s; CPU: sandbox "
            f"{self.server_cpu / self.seconds:4.0%}, client {self.client_cpu / self.seconds:4.0%}; "
            f"sandbox CPU per 1,000 requests {1000 * self.server_cpu / max(self.requests, 1) * 1000:5.0f} ms; "
            f"statuses {dict(self.statuses)}"
        )


class Measure:
    """Wall time and CPU of the sandbox process and this one around a block."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def __enter__(self) -> Measure:
        self.wall = time.perf_counter()
        self.server = process_cpu_seconds(self.pid)
        self.client = time.process_time()
        return self

    def __exit__(self, *_: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.server = process_cpu_seconds(self.pid) - self.server
        self.client = time.process_time() - self.client


class Clients:
    """AsyncClients for ``count`` endpoints: one each, or one shared pool with a connection per endpoint."""

    def __init__(self, count: int, shared: bool) -> None:
        size = count if shared else 1
        limits = httpx.Limits(max_connections=size, max_keepalive_connections=size, keepalive_expiry=60)
        # One SSL context for all: each AsyncClient would otherwise build its own (~20 ms, certifi loaded).
        context = ssl.create_default_context()
        self.clients = [
            httpx.AsyncClient(limits=limits, timeout=60, verify=context) for _ in range(1 if shared else count)
        ]

    def __getitem__(self, index: int) -> httpx.AsyncClient:
        return self.clients[index % len(self.clients)]

    async def aclose(self) -> None:
        await asyncio.gather(*(client.aclose() for client in self.clients))


async def probing_passes(url: str, names: list[str], passes: int, pid: int, shared: bool) -> list[Run]:
    runs = []
    clients = Clients(len(names), shared)
    try:
        for _ in range(passes):
            with Measure(pid) as measured:
                responses = await asyncio.gather(*(clients[i].get(f"{url}/{name}") for i, name in enumerate(names)))
            statuses = Counter(response.status_code for response in responses)
            runs.append(Run(len(names), measured.wall, measured.server, measured.client, statuses))
    finally:
        await clients.aclose()
    return runs


async def sustained(url: str, names: list[str], in_flight: int, seconds: float, pid: int, shared: bool) -> Run:
    statuses: Counter[int] = Counter()
    clients = Clients(in_flight, shared)
    try:
        await asyncio.gather(*(clients[i].get(f"{url}/{names[i]}") for i in range(in_flight)))  # connect first
        deadline = time.perf_counter() + seconds

        async def worker(index: int) -> None:
            http, name = clients[index], names[index % len(names)]
            while time.perf_counter() < deadline:
                statuses[(await http.get(f"{url}/{name}")).status_code] += 1

        with Measure(pid) as measured:
            await asyncio.gather(*(worker(index) for index in range(in_flight)))
    finally:
        await clients.aclose()
    return Run(sum(statuses.values()), measured.wall, measured.server, measured.client, statuses)


async def raw_capacity(url: str, names: list[str], connections: int, seconds: float, pid: int) -> Run:
    """Keep-alive GETs from a minimal asyncio HTTP/1.1 client: what the sandbox answers when the client is cheap."""
    host, port = url.removeprefix("http://").split(":")
    statuses: Counter[int] = Counter()
    deadline = time.perf_counter() + seconds

    async def connection(index: int) -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        request = f"GET /{names[index % len(names)]} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
        while time.perf_counter() < deadline:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
            await reader.readexactly(length)
            statuses[int(head.split(b" ", 2)[1])] += 1
        writer.close()

    with Measure(pid) as measured:
        await asyncio.gather(*(connection(index) for index in range(connections)))
    return Run(sum(statuses.values()), measured.wall, measured.server, measured.client, statuses)


def bench(http_parser: str, endpoints: int, passes: int, seconds: float, shared: bool) -> None:
    pool = "one shared AsyncClient" if shared else "one AsyncClient per endpoint"
    print(f"\n== sandbox --http {http_parser}: {endpoints:,} endpoints, {pool} ==")
    command = ["sandbox", "--http", http_parser]
    with cli_server_process(command, "/_sandbox/health") as (url, process), SandboxAdmin(url) as admin:
        names = admin.bulk("ep", endpoints, latency_ms=[100, 300])
        runs = asyncio.run(probing_passes(url, names, passes, process.pid, shared))
        print(f"probing passes, {endpoints:,} requests at once, 100-300 ms each (ideal ~0.30 s a pass):")
        for number, run in enumerate(runs, 1):
            print(f"  pass {number} ({'new connections' if number == 1 else 'kept alive'}): {run.line()}")
        warm = [run.seconds for run in runs[1:]] or [runs[0].seconds]
        print(f"  warm passes: median {statistics.median(warm):.2f} s, worst {max(warm):.2f} s")
        if shared:
            return  # the shared pool's own cost dominates; sustained figures would only repeat it
        run = asyncio.run(sustained(url, names, endpoints, seconds, process.pid, shared))
        print(f"sustained, {endpoints:,} in flight, 100-300 ms (ideal {endpoints / 0.2:,.0f}/s):\n  {run.line()}")
        total = admin.stats()["total"]
        sent = endpoints * (passes + 1) + run.requests
        print(f"  the sandbox counted {total:,} requests; the client sent {sent:,}")
        admin.reset()
        names = admin.bulk("fast", 200, latency_ms=0)
        run = asyncio.run(sustained(url, names, 200, seconds, process.pid, shared))
        print(f"capacity, 200 in flight, no latency, httpx:\n  {run.line()}")
        run = asyncio.run(raw_capacity(url, names, 200, seconds, process.pid))
        print(f"capacity, 200 in flight, no latency, a minimal asyncio client instead of httpx:\n  {run.line()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--endpoints", type=int, default=1000)
    parser.add_argument("--passes", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--http", nargs="+", default=["h11", "httptools"], choices=["auto", "h11", "httptools"])
    parser.add_argument("--shared-pool", action="store_true", help="one AsyncClient for all endpoints")
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs; the sandbox and this client each in their own process")
    for http_parser in args.http:
        bench(http_parser, args.endpoints, args.passes if not args.shared_pool else 2, args.seconds, args.shared_pool)


if __name__ == "__main__":
    main()
