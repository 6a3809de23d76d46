"""Three processes sharing one consumer key stay within D&B's 5 calls/s: no 429, nothing lost."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from monitoring_pipeline.fakes.dnb_emulator.admin_client import EmulatorAdmin
from monitoring_pipeline_tests.conftest import CLIENT_ID
from monitoring_pipeline_tests.dnb.ground_truth import delivered_keys


def _run_workers(emulator, admin, state_dir, tmp_path, database_url=None):
    def state_for(reference):
        # With PostgreSQL each process gets its own directory: only the database links them.
        return state_dir if database_url is None else tmp_path / f"state-{reference}"

    for reference in ("MP_A", "MP_B", "MP_C"):
        admin.create_registration(reference)
        admin.generate(reference, 500 if reference != "MP_C" else 300, types={"UPDATE": 1})
    # MP_C is pulled first so that its worker has something to replay.
    _worker(emulator, state_for("MP_C"), "MP_C", "drain", tmp_path / "pre.json", database_url).wait(timeout=120)

    jobs = [("MP_A", "drain"), ("MP_B", "drain"), ("MP_C", "replay")]
    processes = [
        (reference, mode, _worker(emulator, state_for(reference), reference, mode, tmp_path / f"{reference}.json",
                                  database_url))
        for reference, mode in jobs
    ]
    results = {}
    for reference, _, process in processes:
        assert process.wait(timeout=180) == 0, process.stderr.read().decode()
        results[reference] = json.loads((tmp_path / f"{reference}.json").read_text())
    return results


def _worker(emulator, state_dir, reference, mode, out, database_url):
    args = [sys.executable, "-m", "monitoring_pipeline_tests.dnb.drain_worker", emulator.url, str(state_dir), reference]
    args += [mode, str(out)] + ([database_url] if database_url else [])
    return subprocess.Popen(args, stderr=subprocess.PIPE)


def _assert_within_budget_and_complete(admin, results):
    stats = admin.stats()
    assert stats["responses_429"] == 0
    assert stats["max_calls_in_any_second"][CLIENT_ID] <= 5
    assert stats["tokens_issued"] == 1  # one token shared by all four processes
    for reference, result in results.items():
        keys = result["keys"]
        assert len(keys) == len(set(keys)), f"{reference}: duplicates"
        assert set(keys) == set(delivered_keys(admin, reference)), f"{reference}: lost or extra notifications"


@pytest.fixture
def dnb_budget(emulator_factory):
    """An emulator enforcing D&B's real budget: 5 calls/s per consumer key."""
    server = emulator_factory(rate_limit_per_second=5)
    with EmulatorAdmin(server.url) as admin:
        yield server, admin


@pytest.mark.slow
def test_three_processes_share_the_budget_through_local_files(dnb_budget, state_dir, tmp_path):
    emulator, admin = dnb_budget
    results = _run_workers(emulator, admin, state_dir, tmp_path)
    _assert_within_budget_and_complete(admin, results)


@pytest.mark.slow
@pytest.mark.postgres
def test_three_processes_share_the_budget_through_postgres(dnb_budget, tmp_path, postgres_url):
    emulator, admin = dnb_budget
    results = _run_workers(emulator, admin, tmp_path / "unused", tmp_path, database_url=postgres_url)
    _assert_within_budget_and_complete(admin, results)
