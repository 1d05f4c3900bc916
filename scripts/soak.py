"""The reliability soak: hundreds of SIGKILL trials, then a minute of concurrent writers.

    python scripts/soak.py --trials 200 --backend sqlite [--sqlite-synchronous FULL]
    python scripts/soak.py --trials 200 --backend postgres   # GRAPHSAVER_TEST_PG_URL or a throwaway server

Phases (each can be turned off with --skip):
  crash        kill the worker graph inside put / put_writes / at random times, resume, verify
               (tests/crash/harness.py)
  chains       --processes x --threads writers, each on its own thread, for --seconds;
               every checkpoint is read back (tests/crash/load.py)
  race         several processes invoke a graph on one thread at once; the history must be
               one intact tree
  async        --async-runs graph runs at once through one saver
Prints one JSON report (also written to --report) and exits 1 if anything failed. Run it
before each release and copy the figures into docs/reliability.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.crash import SYNCHRONOUS_ENV, harness, load  # noqa: E402

PHASES = ("crash", "chains", "race", "async")


@contextlib.contextmanager
def database(backend: str, workdir: str) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{workdir}/soak.db"
        return
    try:
        import graphsaver.postgres  # noqa: F401
    except ImportError as exc:
        raise SystemExit(f"the postgres backend is not available in this graphsaver: {exc}") from exc
    from tests.pgserver import fresh_database, postgres_url

    with postgres_url() as base, fresh_database(base, f"soak_{uuid.uuid4().hex[:12]}") as url:
        yield url


def crash_phase(url: str, workdir: str, trials: int, seed: int, launcher: str) -> dict[str, object]:
    rng = random.Random(seed)
    profile = harness.calibrate(url, workdir, launcher)
    results = []
    start = time.monotonic()
    for i in range(trials):
        result = harness.run_trial(url, workdir, i, rng, profile, launcher=launcher)
        results.append(result)
        if not result.ok:
            print(
                f"trial {i} ({result.mode}, {result.durability}) FAILED: {result.problems}", file=sys.stderr
            )
        if (i + 1) % 50 == 0:
            print(f"  {i + 1}/{trials} trials, {time.monotonic() - start:.0f} s", file=sys.stderr)
    summary = harness.summarize(results)
    summary["seconds"] = round(time.monotonic() - start, 1)
    summary["profile"] = {"puts": profile.puts, "put_writes": profile.put_writes}
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--launcher",
        choices=["fork", "exec"],
        default="fork",
        help="fork the warmed-up soak process (fast) or start a new interpreter",
    )
    parser.add_argument("--processes", type=int, default=8)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--async-runs", type=int, default=200)
    parser.add_argument("--skip", action="append", default=[], choices=PHASES)
    parser.add_argument("--report", help="also write the JSON report to this file")
    parser.add_argument(
        "--sqlite-synchronous",
        choices=["NORMAL", "FULL", "EXTRA"],
        help="open SQLite savers with this synchronous setting (default: graphsaver's, NORMAL)",
    )
    args = parser.parse_args(argv)

    if args.sqlite_synchronous:  # read by the harness in this process and its children
        os.environ[SYNCHRONOUS_ENV] = args.sqlite_synchronous
    report: dict[str, object] = {"backend": args.backend, "command": " ".join(["python", *sys.argv])}
    failed = False
    with tempfile.TemporaryDirectory(prefix="graphsaver-soak-") as workdir:
        if "crash" not in args.skip:
            with database(args.backend, workdir) as url:
                crash = crash_phase(url, workdir, args.trials, args.seed, args.launcher)
            report["crash"] = crash
            failed |= bool(crash["failed"])
        if "chains" not in args.skip:
            with database(args.backend, workdir) as url:
                import graphsaver

                graphsaver.connect(url).close()
                chains = load.chains_in_processes(url, workdir, args.processes, args.threads, args.seconds)
            report["chains"] = {**chains, "errors": chains["errors"][:20], "lost": chains["lost"][:20]}
            failed |= bool(chains["errors"] or chains["lost"])
        if "race" not in args.skip:
            with database(args.backend, workdir) as url:
                race = load.race_same_thread(url, workdir, processes=4, invocations=50)
            report["race"] = race
            failed |= bool(race["errors"] or race["problems"])
        if "async" not in args.skip:
            with database(args.backend, workdir) as url:
                runs = asyncio.run(load.many_async_runs(url, args.async_runs))
            report["async"] = {"runs": runs["runs"], "problems": runs["problems"][:20]}
            failed |= bool(runs["problems"])
    report["ok"] = not failed
    text = json.dumps(report, indent=2)
    print(text)
    if args.report:
        Path(args.report).write_text(text + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
