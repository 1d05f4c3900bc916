"""The parent side of the crash harness: kill a worker, check the database, resume, check again.

A trial runs the worker graph (`tests.crash.worker`) on a new thread in a child process and
kills it with SIGKILL at a chosen moment:

- `put` / `put_writes`: at a random delay (0 to 2 ms) after the child reported entering the
  n-th call of that method (n random), so many kills land inside the call's transaction;
- `time`: at a random moment of the run.

After the kill the parent checks that the database opens cleanly (SQLite: `integrity_check`
is "ok"), that every checkpoint and every set of writes the child saw committed is there and
decodes, and notes which tasks had committed writes and how often every task had run. Then a
fresh child drives the thread to completion, and the parent checks the final state, that no
task with committed writes ran again, and that the committed checkpoints are still intact.

Children are forked from the (already warmed-up) parent by default, which makes a trial cost
tens of milliseconds instead of an interpreter start; `launcher="exec"` starts
`python -m tests.crash.worker` instead.
"""

from __future__ import annotations

import collections
import json
import os
import random
import select
import signal
import sqlite3
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langgraph.checkpoint.base import WRITES_IDX_MAP

from graphsaver.core.records import config_for
from tests import crash
from tests.crash import worker

REPO = Path(__file__).resolve().parents[2]
SPECIAL_CHANNELS = set(WRITES_IDX_MAP)  # __error__, __interrupt__, __resume__, ...: not a success
MODES = ("put", "put_writes", "time")


@dataclass
class Profile:
    """How many calls and how much time one undisturbed run takes (from `calibrate`)."""

    puts: int
    put_writes: int
    seconds: float


@dataclass
class TrialResult:
    trial: int
    mode: str
    durability: str
    target: int | float
    killed: bool = False
    landed_inside: bool = False  # the kill came after "enter" and before "exit" of the call
    committed_checkpoints: int = 0
    committed_writes: int = 0
    legit_reruns: int = 0  # tasks run again because the kill came before their writes committed
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


# --- launching children ------------------------------------------------------------------------


class Child:
    """A worker process and the read end of its event pipe."""

    def __init__(self, url: str, thread_id: str, effects: str, durability: str, launcher: str) -> None:
        r, w = os.pipe()
        self.proc: subprocess.Popen[bytes] | None = None
        if launcher == "fork":
            pid = os.fork()
            if pid == 0:  # the child: run the graph, never return into the caller's stack
                os.close(r)
                code = 1
                try:
                    worker.drive(url, thread_id, effects, w, durability)
                    code = 0
                except BaseException:
                    traceback.print_exc()
                finally:
                    os._exit(code)
            self.pid = pid
        else:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tests.crash.worker",
                    "--url",
                    url,
                    "--thread",
                    thread_id,
                    "--effects",
                    effects,
                    "--events-fd",
                    str(w),
                    "--durability",
                    durability,
                ],
                pass_fds=(w,),
                cwd=REPO,
            )
            self.pid = self.proc.pid
        os.close(w)
        self.fd = r
        self.buffer = b""
        self.events: list[dict[str, Any]] = []

    def read_event(self, timeout: float) -> dict[str, Any] | None:
        """The next event, or None at end of stream or after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                return None
            chunk = os.read(self.fd, 65536)
            if not chunk:
                return None
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        event: dict[str, Any] = json.loads(line)
        self.events.append(event)
        return event

    def kill(self) -> None:
        os.kill(self.pid, signal.SIGKILL)

    def wait(self, timeout: float = 60.0) -> int:
        """Drain the events and reap the process; returns its exit status (negative: signal)."""
        while self.read_event(timeout) is not None:
            pass
        os.close(self.fd)
        if self.proc is not None:
            return self.proc.wait(timeout)
        _, status = os.waitpid(self.pid, 0)
        return os.waitstatus_to_exitcode(status)


# --- checking the database ---------------------------------------------------------------------


def sqlite_path(url: str) -> str | None:
    return url[len("sqlite:///") :] if url.startswith("sqlite:///") else None


def check_opens_cleanly(url: str) -> list[str]:
    path = sqlite_path(url)
    if path is None:  # PostgreSQL: the server recovers on its own; the saver must connect and read
        with crash.connect(url) as saver:
            next(iter(saver.list(None, limit=1)), None)
        return []
    conn = sqlite3.connect(path)
    try:
        result = [row[0] for row in conn.execute("PRAGMA integrity_check")]
    finally:
        conn.close()
    return [] if result == ["ok"] else [f"integrity_check: {result}"]


def check_committed(saver: Any, thread_id: str, events: list[dict[str, Any]]) -> list[str]:
    """Every checkpoint and every set of writes reported committed is stored and decodes.

    With durability="async" LangGraph may save a task's writes while the put of their checkpoint
    is still in flight; a kill then leaves committed writes whose checkpoint never committed
    (LangGraph resumes from its parent and never reads them). Writes are checked when their
    checkpoint is stored, and a missing checkpoint is a loss only if its put was reported.
    """
    problems = []
    puts = {(ev["ns"], ev["id"]) for ev in events if ev.get("e") == "exit" and ev["op"] == "put"}
    for ev in events:
        if ev.get("e") != "exit":
            continue
        got = saver.get_tuple(config_for(thread_id, ev["ns"], ev["id"]))
        if got is None and ev["op"] == "put_writes" and (ev["ns"], ev["id"]) not in puts:
            continue  # the writes of a checkpoint whose put had not returned: see above
        if got is None:
            problems.append(f"lost committed {ev['op']} #{ev['n']}: checkpoint {ev['id']!r} ns {ev['ns']!r}")
        elif ev["op"] == "put":
            versions = {k: str(v) for k, v in got.checkpoint["channel_versions"].items()}
            if versions != ev["versions"] or got.metadata.get("step") != ev["step"]:
                problems.append(f"checkpoint {ev['id']!r} changed: {versions} != {ev['versions']}")
        else:
            stored = collections.Counter(ch for task, ch, _ in got.pending_writes or [] if task == ev["task"])
            if collections.Counter(ev["channels"]) - stored:
                problems.append(
                    f"writes of task {ev['task']!r} at {ev['id']!r}: stored {stored}, committed {ev['channels']}"
                )
    return problems


def committed_tasks(saver: Any, thread_id: str) -> set[str]:
    """Tasks of the thread (any namespace) with stored writes that mean the task succeeded."""
    done = set()
    for tup in saver.list({"configurable": {"thread_id": thread_id}}):
        for task_id, channel, _ in tup.pending_writes or []:
            if channel not in SPECIAL_CHANNELS:
                done.add(task_id)
    return done


def effect_counts(path: str) -> collections.Counter[str]:
    if not os.path.exists(path):
        return collections.Counter()
    with open(path) as f:
        return collections.Counter(line.split()[1] for line in f if line.strip())


# --- trials ------------------------------------------------------------------------------------


def calibrate(url: str, workdir: str, launcher: str = "fork") -> Profile:
    """Run the graph once without a kill: the counts that kill targets are drawn from."""
    effects = os.path.join(workdir, "calibrate.effects")
    start = time.monotonic()
    child = Child(url, "calibrate", effects, "sync", launcher)
    status = child.wait()
    if status != 0:
        raise RuntimeError(f"the calibration run failed with status {status}")
    entered = collections.Counter(ev["op"] for ev in child.events if ev.get("e") == "enter")
    return Profile(entered["put"], entered["put_writes"], time.monotonic() - start)


def run_trial(
    url: str,
    workdir: str,
    trial: int,
    rng: random.Random,
    profile: Profile,
    *,
    mode: str | None = None,
    durability: str | None = None,
    launcher: str = "fork",
) -> TrialResult:
    mode = mode or rng.choice(MODES)
    durability = durability or rng.choice(["sync", "sync", "async"])
    thread_id = f"trial-{trial}-{mode}-{durability}"
    effects = os.path.join(workdir, f"{thread_id}.effects")
    if mode == "time":
        target: int | float = rng.uniform(0, profile.seconds)
    else:
        target = rng.randint(1, profile.puts if mode == "put" else profile.put_writes)
    result = TrialResult(trial, mode, durability, target)

    child = Child(url, thread_id, effects, durability, launcher)
    kill_at = time.monotonic() + float(target) if mode == "time" else None
    while True:
        timeout = max(0.0, kill_at - time.monotonic()) if kill_at is not None else 30.0
        ev = child.read_event(timeout)
        if ev is None:
            if kill_at is not None and time.monotonic() >= kill_at:
                child.kill()
                result.killed = True
            break
        if ev.get("e") == "enter" and mode != "time" and ev["op"] == mode:
            target = int(target) - 1
            if target == 0:
                delay = rng.choice([0.0, rng.uniform(0, 0.002)])
                if delay:
                    time.sleep(delay)
                child.kill()
                result.killed = True
                inside_n = ev["n"]
                break
    status = child.wait()
    if result.killed and mode != "time":
        result.landed_inside = not any(e.get("e") == "exit" and e.get("n") == inside_n for e in child.events)
    if not result.killed and status != 0:
        result.problems.append(f"the first run failed with status {status}")
    first_events = child.events

    # after the kill: opens cleanly, nothing committed is missing
    result.problems += check_opens_cleanly(url)
    with crash.connect(url) as saver:
        result.problems += check_committed(saver, thread_id, first_events)
        done_before = committed_tasks(saver, thread_id)
    ran_before = effect_counts(effects)
    result.committed_checkpoints = sum(1 for e in first_events if e.get("e") == "exit" and e["op"] == "put")
    result.committed_writes = sum(1 for e in first_events if e.get("e") == "exit" and e["op"] == "put_writes")

    # resume in a fresh process, to the end
    child = Child(url, thread_id, effects, durability, launcher)
    status = child.wait()
    if status != 0:
        result.problems.append(f"the resumed run failed with status {status}")
    finished = [e for e in child.events if e.get("e") == "finished"]
    if not finished:
        result.problems.append("the resumed run did not finish")
    else:
        values = finished[-1]["values"]
        values["items"] = sorted(values.get("items", []))
        if values != worker.EXPECTED_STATE:
            result.problems.append(f"wrong final state {values}")

    ran_after = effect_counts(effects)
    for task in sorted(done_before):
        if ran_after[task] != ran_before[task]:
            result.problems.append(f"task {task} had committed writes but ran again")
    result.legit_reruns = sum(1 for task, n in ran_after.items() if n > 1 and task not in done_before)
    result.problems += check_opens_cleanly(url)
    with crash.connect(url) as saver:
        result.problems += check_committed(saver, thread_id, first_events + child.events)
    return result


def summarize(results: list[TrialResult]) -> dict[str, Any]:
    by_mode = collections.Counter(r.mode for r in results)
    return {
        "trials": len(results),
        "failed": sum(not r.ok for r in results),
        "killed": sum(r.killed for r in results),
        "killed_inside_put": sum(r.landed_inside and r.mode == "put" for r in results),
        "killed_inside_put_writes": sum(r.landed_inside and r.mode == "put_writes" for r in results),
        "by_mode": dict(by_mode),
        "sync_trials": sum(r.durability == "sync" for r in results),
        "committed_checkpoints_checked": sum(r.committed_checkpoints for r in results),
        "committed_writes_checked": sum(r.committed_writes for r in results),
        "tasks_rerun_before_their_commit": sum(r.legit_reruns for r in results),
        "committed_tasks_rerun": sum(sum("ran again" in p for p in r.problems) for r in results),
    }
