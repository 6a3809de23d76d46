"""Benchmark integration probing against the sandbox in its own process (not part of the test command).

1. One pass over 1,000 endpoints answering in 100-300 ms, through the runner the sensor uses: wall time, CPU
   time of this process, peak RSS; then the same pass with the database writes a sensor tick does (SQLite).
2. The same endpoints probed sequentially (concurrency 1), measured on a sample and extrapolated, as a ratio.
2b. A mixed pass of 1,000 probes: HTTP (the sandbox), TCP (the sandbox's port), Redis (PING) and PostgreSQL (log in,
   SELECT 1) on the machine's own servers (127.0.0.1:6379 and :5432), printed beside the HTTP-only pass. PostgreSQL
   probes are kept under the server's max_connections (100 by default), since each one is a connection.
3. Sustained: 5,000 endpoints at a 30 s interval, the sensor's pass every 15 s (probes, states, breakers,
   routing and SQLite writes) for two intervals: CPU seconds per 30 s, as a fraction of one core.

Run: .venv/bin/python bench/probes_bench.py [--endpoints 1000] [--sustained 5000] [--sequential-sample 40]
     [--mix http=400,tcp=300,redis=240,postgresql=60]
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

import yaml
from _common import cli_server_process

from monitoring_pipeline.fakes.sandbox.admin_client import SandboxAdmin
from monitoring_pipeline.integrations.config import IntegrationsFile, load_integrations
from monitoring_pipeline.integrations.monitor import HealthMonitor
from monitoring_pipeline.integrations.runner import ProbeRunner
from monitoring_pipeline.storage.database import create_db_engine, migrate

LATENCY_MS = [100, 300]
DEFAULT_MIX = "http=400,tcp=300,redis=240,postgresql=60"


def mixed_file(directory: Path, url: str, mix: dict[str, int]) -> IntegrationsFile:
    """``mix`` probes of each type: HTTP endpoints of the sandbox, TCP connects to its port, Redis and PostgreSQL
    on the machine's own servers."""
    port = int(url.rsplit(":", 1)[1])
    targets = {
        "http": lambda n: {"url": f"{url}/ep-{n:04d}", "conditions": [{"status": 200}]},
        "tcp": lambda n: {"type": "tcp", "host": "127.0.0.1", "port": port},
        "redis": lambda n: {"type": "redis", "host": "127.0.0.1", "port": 6379},
        "postgresql": lambda n: {"type": "postgresql", "host": "127.0.0.1", "port": 5432, "user": "postgres"},
    }
    path = directory / "mixed.yaml"
    path.write_text(yaml.safe_dump({
        "probing": {"concurrency": 1000, "tick_budget": "45s"},
        "defaults": {"category": "bench", "interval": "30s", "timeout": "5s", "retries": {"attempts": 1}},
        "integrations": [{"name": f"{kind}_{n:04d}", **targets[kind](n)}
                         for kind, count in mix.items() for n in range(count)],
    }))
    return load_integrations(path)


def integrations_file(directory: Path, url: str, prefix: str, count: int, interval: str = "30s") -> IntegrationsFile:
    """Endpoints as an integrations file, loaded by the real loader (conditions compiled, defaults applied)."""
    path = directory / f"{prefix}.yaml"
    path.write_text(yaml.safe_dump({
        "probing": {"concurrency": 1000, "tick_budget": "45s"},
        "defaults": {"category": "bench", "interval": interval, "timeout": "5s", "retries": {"attempts": 1},
                     "latency": {"degraded": "1s", "down": "4s"}},
        "integrations": [
            {"name": f"{prefix}_{n:04d}", "url": f"{url}/{prefix}-{n:04d}", "conditions": [
                {"status": 200}, {"json": "$.status", "equals": "ok"}]}
            for n in range(count)
        ],
    }))
    return load_integrations(path)


def measure(label: str, action) -> tuple[float, float, object]:  # type: ignore[no-untyped-def]
    cpu, wall = time.process_time(), time.perf_counter()
    outcome = action()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"{label:<48} wall {wall:6.2f} s   CPU {cpu:6.2f} s")
    return wall, cpu, outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--endpoints", type=int, default=1000)
    parser.add_argument("--sustained", type=int, default=5000)
    parser.add_argument("--sequential-sample", type=int, default=40)
    parser.add_argument("--sustain-seconds", type=float, default=60.0)
    parser.add_argument("--mix", default=DEFAULT_MIX, help="probes per type of the mixed pass (type=count,...)")
    args = parser.parse_args()
    mix = {kind: int(count) for kind, count in (part.split("=") for part in args.mix.split(","))}

    # Other processes on the machine inflate wall times: the load average is printed with the figures.
    load_before = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    # The sandbox in its own process: the probes and the endpoints share no interpreter.
    with cli_server_process(["sandbox"], "/_sandbox/endpoints") as (url, _), SandboxAdmin(url) as admin, \
            tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        admin.bulk("ep", args.endpoints, latency_ms=LATENCY_MS)
        config = integrations_file(directory, url, "ep", args.endpoints)
        integrations = list(config.integrations)
        low, high = LATENCY_MS
        print(f"{args.endpoints} endpoints on the sandbox ({url}), each answering in {low}-{high} ms")

        runner = ProbeRunner(concurrency=config.probing.concurrency)
        measure("warm-up pass (imports, first connections)", lambda: runner.run(integrations, 60))
        pass_wall, pass_cpu, results = measure("one pass, probes only", lambda: runner.run(integrations, 60))
        ok = sum(1 for r in results if r.ok)  # type: ignore[attr-defined]
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"{'':<48} {ok}/{len(results)} answered ok; peak RSS {rss:.0f} MiB")  # type: ignore[arg-type]

        engine = create_db_engine(f"sqlite:///{directory / 'project.db'}")
        migrate(engine)
        monitor = HealthMonitor(engine, config, runner=runner)
        db_wall, db_cpu, _ = measure("one pass with database writes (SQLite), a tick", lambda: monitor.run_pass(60))

        sample = integrations[: args.sequential_sample]
        sequential = ProbeRunner(concurrency=1)
        seq_wall, _, _ = measure(f"sequential sample ({len(sample)} endpoints)", lambda: sequential.run(sample, 600))
        estimate = seq_wall * len(integrations) / len(sample)
        print(f"sequential pass, extrapolated from the sample:  {estimate:6.1f} s = {estimate / pass_wall:.0f}x the "
              f"concurrent pass (Gatus' default concurrency of 3: about {estimate / 3:.0f} s)")
        goal = "met" if pass_wall < 2 else "MISSED"
        print(f"goal: one pass of {args.endpoints} under 2 s on this machine: {goal} ({pass_wall:.2f} s)")

        mixed = list(mixed_file(directory, url, mix).integrations)
        shown = ", ".join(f"{count} {kind}" for kind, count in mix.items())
        measure("mixed warm-up pass (client imports)", lambda: runner.run(mixed, 60))
        mixed_wall, mixed_cpu, mixed_results = measure(f"mixed pass of {len(mixed)} ({shown})",
                                                       lambda: runner.run(mixed, 60))
        failed = [r for r in mixed_results if not r.ok]  # type: ignore[attr-defined]
        by_type: dict[str, list[float]] = {}
        for result in mixed_results:  # type: ignore[attr-defined]
            if result.latency_ms is not None:
                by_type.setdefault(result.integration.rsplit("_", 1)[0], []).append(result.latency_ms)
        medians = ", ".join(f"{kind} {sorted(values)[len(values) // 2]:.0f} ms" for kind, values in by_type.items())
        print(f"{'':<48} {len(mixed_results) - len(failed)}/{len(mixed_results)} ok; median latency: {medians}")
        if failed:
            print(f"{'':<48} first failure: {failed[0].integration}: {failed[0].error_class} {failed[0].error}")
        goal = "met" if mixed_wall < 2 and not failed else "MISSED"
        print(f"HTTP-only pass {pass_wall:.2f} s  |  mixed pass {mixed_wall:.2f} s wall / {mixed_cpu:.2f} s CPU")
        print(f"goal: a mixed pass of {len(mixed)} under 2 s on this machine: {goal} ({mixed_wall:.2f} s)")

        if args.sustained:
            admin.bulk("sus", args.sustained, latency_ms=LATENCY_MS)
            config = integrations_file(directory, url, "sus", args.sustained)
            engine = create_db_engine(f"sqlite:///{directory / 'sustained.db'}")
            migrate(engine)
            monitor = HealthMonitor(engine, config, runner=ProbeRunner(concurrency=config.probing.concurrency))
            print(f"\nsustained: {args.sustained} endpoints, 30 s interval, a sensor pass every 15 s, "
                  f"{args.sustain_seconds:.0f} s")
            cpu_start, wall_start, passes, probed = time.process_time(), time.perf_counter(), 0, 0
            while time.perf_counter() - wall_start < args.sustain_seconds:
                tick = time.perf_counter()
                outcome = monitor.run_pass(45)
                passes, probed = passes + 1, probed + len(outcome.results)
                time.sleep(max(0.0, 15 - (time.perf_counter() - tick)))
            elapsed, cpu = time.perf_counter() - wall_start, time.process_time() - cpu_start
            per_interval = cpu * 30 / elapsed
            print(f"{passes} passes, {probed} probes in {elapsed:.0f} s: {cpu:.1f} s CPU, "
                  f"{per_interval:.2f} s CPU per 30 s = {per_interval / 30:.0%} of one core")
            goal = "met" if per_interval / 30 < 0.25 else "MISSED"
            print(f"goal: under a quarter of one core: {goal}")
        print(f"\nfigures: pass {pass_wall:.2f} s wall / {pass_cpu:.2f} s CPU, mixed pass {mixed_wall:.2f} s wall / "
              f"{mixed_cpu:.2f} s CPU, with DB {db_wall:.2f} s / "
              f"{db_cpu:.2f} s, peak RSS {rss:.0f} MiB, sequential {estimate:.0f} s ({estimate / pass_wall:.0f}x); "
              f"load average before: {load_before}")


if __name__ == "__main__":
    main()
