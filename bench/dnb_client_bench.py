"""Benchmark the D&B client against the emulator (not part of the test command).

1. Client overhead: drain 20,000 notifications with the emulator's rate limit off, once with a bare
   httpx loop (the network-and-server floor) and once with DnbClient; print notifications/s and the ratio.
2. Budget efficiency: drain with the emulator enforcing 5 calls/s and the client's shared limiter
   at 5/s; print elapsed time against the floor (calls needed / 5) and the 429s received.

Run: .venv/bin/python bench/dnb_client_bench.py [--notifications 20000] [--limited-calls 100]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import httpx
from _common import KEY, SECRET, emulator_process

from monitoring_pipeline.dnb.factory import DnbConnectionSettings, build_client
from monitoring_pipeline.fakes.dnb_emulator.admin_client import EmulatorAdmin

MIX = {"UPDATE": 0.9, "DELETE": 0.03, "TRANSFER": 0.03, "UNDER_REVIEW": 0.02, "SEED": 0.02}


def bare_drain(url: str, reference: str) -> int:
    """The floor: one token, then Pull until 404 with nothing but httpx and json parsing."""
    count = 0
    with httpx.Client(base_url=url, timeout=60) as http:
        token = http.post(
            "/v3/token", auth=(KEY, SECRET), data={"grant_type": "client_credentials"}
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        while True:
            response = http.get(
                f"/v1/monitoring/registrations/{reference}/notifications",
                params={"maxNotifications": 100},
                headers=headers,
            )
            if response.status_code == 404:
                return count
            count += len(response.json()["notifications"])


def client_drain(url: str, reference: str, state_dir: Path, rate: float | None) -> tuple[int, int, int]:
    settings = DnbConnectionSettings(
        client_id=KEY, client_secret=SECRET, base_url=url, state_dir=state_dir, rate_limit_per_second=rate
    )
    count = 0
    with build_client(settings) as client:
        for page in client.drain(reference):
            count += len(page)
        return count, client.stats.calls, client.stats.responses_429


def overhead(notifications: int) -> None:
    with emulator_process(rate_limit=0) as url:
        admin = EmulatorAdmin(url)
        admin.create_registration("BENCH")
        admin.generate("BENCH", notifications, types=MIX)
        started = time.perf_counter()
        assert bare_drain(url, "BENCH") == notifications
        bare = time.perf_counter() - started

        admin.generate("BENCH", notifications, types=MIX)
        with tempfile.TemporaryDirectory() as state:
            started = time.perf_counter()
            count, calls, _ = client_drain(url, "BENCH", Path(state), rate=None)
            ours = time.perf_counter() - started
        assert count == notifications
        print(f"drain {notifications} notifications, rate limit off ({calls} calls):")
        print(f"  bare httpx loop : {bare:7.2f} s  {notifications / bare:9.0f} notifications/s")
        print(f"  DnbClient       : {ours:7.2f} s  {notifications / ours:9.0f} notifications/s")
        print(f"  client overhead : {ours / bare:7.2f}x the bare loop")


def efficiency(calls_wanted: int) -> None:
    with emulator_process(rate_limit=5) as url:
        admin = EmulatorAdmin(url)
        admin.create_registration("BUDGET")
        admin.generate("BUDGET", (calls_wanted - 2) * 100, types={"UPDATE": 1})
        with tempfile.TemporaryDirectory() as state:
            started = time.perf_counter()
            count, calls, client_429 = client_drain(url, "BUDGET", Path(state), rate=5.0)
            elapsed = time.perf_counter() - started
        stats = admin.stats()
        # The first call goes at once; each later one needs 1/5 s of budget.
        floor = (calls - 1) / 5
        print(f"drain {count} notifications at 5 calls/s ({calls} calls, token included):")
        print(f"  elapsed {elapsed:.2f} s, floor {floor:.2f} s, budget efficiency {floor / elapsed:.1%}")
        print(f"  429s answered by the emulator: {stats['responses_429']} (client saw {client_429})")
        print(f"  most calls in any 1 s window: {max(stats['max_calls_in_any_second'].values())}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--notifications", type=int, default=20_000)
    parser.add_argument("--limited-calls", type=int, default=100)
    args = parser.parse_args()
    overhead(args.notifications)
    efficiency(args.limited_calls)


if __name__ == "__main__":
    main()
