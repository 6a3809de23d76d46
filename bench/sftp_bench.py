"""SFTP upload throughput: our destination sync against OpenSSH's own `sftp -b`, same files, same sshd, same run.

Creates a day of 1,000 files totalling 100 MB (sizes varied around 100 KB) as notification_files leaves
them (files + manifest rows in a SQLite project database), starts the tests' sshd on a free loopback
port, then uploads the day into a fresh remote folder with

1. ``sync_day`` (the asset's code path: read, checksum, temp-name write, rename, manifest row per file)
   with the default 4 SFTP sessions, and with 1 session for comparison;
2. OpenSSH's ``sftp -b batchfile`` (key auth, StrictHostKeyChecking against the generated known_hosts),
   one ``put`` per file after creating the directories.

Each is run ``--repeat`` times, interleaved; prints the median MB/s and files/s of each and the ratio
of times (goal: ours within 1.5x of OpenSSH's).

    .venv/bin/python bench/sftp_bench.py [--files 1000] [--megabytes 100] [--repeat 3]
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' sshd launcher serves here too

from monitoring_pipeline.destinations.sftp import SftpSettings, SftpStore  # noqa: E402
from monitoring_pipeline.destinations.sync import DestinationFormat, sync_day  # noqa: E402
from monitoring_pipeline.notifications.files import ExportSettings  # noqa: E402
from monitoring_pipeline.storage.database import create_db_engine, migrate  # noqa: E402
from monitoring_pipeline_tests.destinations.local_day import REFERENCES, LocalDay  # noqa: E402
from monitoring_pipeline_tests.destinations.sshd_server import SshdServer  # noqa: E402

DAY = date(2026, 3, 14)


def make_day(workdir: Path, files: int, megabytes: int) -> LocalDay:
    engine = create_db_engine(f"sqlite:///{workdir / 'project.db'}")
    migrate(engine)
    local = LocalDay(engine, ExportSettings(base_path=workdir / "data"), DAY)
    rng = random.Random(42)
    weights = [rng.uniform(0.5, 1.5) for _ in range(files)]
    total = megabytes * 1_000_000
    sizes = [int(total * w / sum(weights)) for w in weights]
    sizes[-1] += total - sum(sizes)
    for index, size in enumerate(sizes):
        reference = REFERENCES[index % len(REFERENCES)]
        relative = (f"notifications/{DAY:%Y/%m/%d}/{reference}/"
                    f"notifications_{DAY:%Y%m%d}_{index // 3600:02d}{index // 60 % 60:02d}{index % 60:02d}_000.json")
        local.write(relative, rng.randbytes(size), reference)
    return local


def ours(server: SshdServer, local: LocalDay, base: str, sessions: int) -> float:
    store = SftpStore(SftpSettings(
        host=server.host, port=server.port, username=server.user, remote_base_path=base,
        private_key_path=str(server.client_key), known_hosts_path=str(server.known_hosts),
        parallel_sessions=sessions,
    ))
    started = time.perf_counter()
    result = sync_day(local.engine, local.settings, store, DestinationFormat(), DAY, rebuild=False)
    elapsed = time.perf_counter() - started
    store.close()
    assert result.files_written == len(local.paths), result
    return elapsed


def openssh(server: SshdServer, local: LocalDay, base: str, workdir: Path) -> float:
    directories = sorted({str(Path(p).parent) for p in local.paths})
    needed = sorted({str(parent) for d in directories for parent in [Path(d), *Path(d).parents]} - {"."})
    lines = [f"-mkdir {base}"] + [f"-mkdir {base}/{d}" for d in needed]
    lines += [f"put {local.settings.base_path / p} {base}/{p}" for p in local.paths]
    batch = workdir / "batch.txt"
    batch.write_text("\n".join(lines) + "\n")
    command = [
        "sftp", "-q", "-b", str(batch), "-i", str(server.client_key), "-P", str(server.port),
        "-o", f"UserKnownHostsFile={server.known_hosts}", "-o", "StrictHostKeyChecking=yes",
        "-o", "BatchMode=yes", f"{server.user}@{server.host}",
    ]
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--megabytes", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="mp-sftp-bench-"))
    server = SshdServer.create(workdir / "sshd").start()
    try:
        local = make_day(workdir, args.files, args.megabytes)
        size = sum((local.settings.base_path / p).stat().st_size for p in local.paths)
        print(f"day: {len(local.paths)} files, {size / 1e6:.1f} MB; sshd on 127.0.0.1:{server.port}")
        root = server.remote_root
        runs: dict[str, list[float]] = {"openssh sftp -b": [], "ours, 4 sessions (default)": [], "ours, 1 session": []}
        for round_ in range(args.repeat):  # interleaved, each into a fresh folder: a busy machine hits all alike
            runs["openssh sftp -b"].append(openssh(server, local, f"{root}/openssh{round_}", workdir))
            runs["ours, 4 sessions (default)"].append(ours(server, local, f"{root}/ours4-{round_}", 4))
            runs["ours, 1 session"].append(ours(server, local, f"{root}/ours1-{round_}", 1))
        times = {name: statistics.median(values) for name, values in runs.items()}
        print(f"median of {args.repeat} interleaved rounds:")
        for name, seconds in times.items():
            rate = f"{size / 1e6 / seconds:7.1f} MB/s  {len(local.paths) / seconds:7.0f} files/s"
            print(f"{name:<28} {seconds:6.2f} s  {rate}")
        reference = times["openssh sftp -b"]
        for name in ("ours, 4 sessions (default)", "ours, 1 session"):
            print(f"ratio {name} / openssh: {times[name] / reference:.2f}x (goal <= 1.5x)")
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
