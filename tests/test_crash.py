"""Crash safety: a real graph killed with SIGKILL at random moments, then resumed.

Each trial kills the worker graph (tests/crash/worker.py) inside `put`, inside `put_writes`,
or at a random moment, and checks (tests/crash/harness.py) that the database opens cleanly,
that every checkpoint and write committed before the kill is intact, that the resumed run
reaches the right final state, and that no task whose writes were committed runs again.
The long version is `python scripts/soak.py --trials 200 --backend sqlite|postgres`.
"""

from __future__ import annotations

import random

import pytest

from tests.conftest import BACKENDS
from tests.crash import harness

PERSISTENT = [b for b in BACKENDS if b != "memory"]
TRIALS = 20


@pytest.mark.parametrize("backend", PERSISTENT, indirect=True)
def test_kill_anywhere_then_resume(saver_url: str, tmp_path) -> None:
    profile = harness.calibrate(saver_url, str(tmp_path))
    assert profile.puts >= 8 and profile.put_writes >= 8, profile
    rng = random.Random(20260601)
    modes = [harness.MODES[i % len(harness.MODES)] for i in range(TRIALS)]
    results = [
        harness.run_trial(saver_url, str(tmp_path), i, rng, profile, mode=mode)
        for i, mode in enumerate(modes)
    ]
    failures = {r.trial: r.problems for r in results if not r.ok}
    assert failures == {}, failures
    summary = harness.summarize(results)
    assert summary["killed"] >= TRIALS - 2, summary  # a kill target can fall after the run ended
    assert summary["committed_tasks_rerun"] == 0


@pytest.mark.parametrize("backend", PERSISTENT, indirect=True)
def test_sync_durability_never_reruns_a_succeeded_task(saver_url: str, tmp_path) -> None:
    """Kill in or just after put_writes under durability="sync": a task whose writes were
    committed never runs again after the resume."""
    profile = harness.calibrate(saver_url, str(tmp_path))
    rng = random.Random(7)
    results = [
        harness.run_trial(saver_url, str(tmp_path), n, rng, profile, mode="put_writes", durability="sync")
        for n in range(1, 6)
    ]
    assert {r.trial: r.problems for r in results if not r.ok} == {}
    assert sum(r.committed_writes for r in results) > 0


def test_sqlite_full_kill_anywhere_then_resume(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same on SQLite with synchronous="FULL", where concurrent sync writes share commits
    (the group commit): the killed children open their savers that way too."""
    from tests import crash

    monkeypatch.setenv(crash.SYNCHRONOUS_ENV, "FULL")
    url = f"sqlite:///{tmp_path}/graphsaver.db"
    with crash.connect(url) as saver:
        assert saver._engine._conn.execute("PRAGMA synchronous").fetchone() == (2,)
    profile = harness.calibrate(url, str(tmp_path))
    rng = random.Random(20261127)
    results = [
        harness.run_trial(url, str(tmp_path), i, rng, profile, mode=harness.MODES[i % len(harness.MODES)])
        for i in range(12)
    ]
    assert {r.trial: r.problems for r in results if not r.ok} == {}
    summary = harness.summarize(results)
    assert summary["killed"] >= 10, summary
    assert summary["committed_tasks_rerun"] == 0
