"""The saver calls of the graph workload, recorded once and replayed: the savers' own cost.

Inside the graph workload a saver's calls share the machine with LangGraph and 16 busy threads,
so a change that saves 10% of the saver's time moves the graph's wall time by less than the
run-to-run noise. This tool records every `put`, `put_writes`, `get_tuple` and
`get_next_version` LangGraph makes in that workload (8 threads x 50 turns, sync), then replays
the same calls, in the same order, on a fresh in-memory saver of each contestant, and reports
the best of several replays per call kind. `floor-encode` (benchmarks/graph.py) is the encoding
alone, which no correct saver skips. It is a tool for performance work, not one of issue 8's
targets (those are measured with LangGraph in the loop, `benchmarks.run`).

    python -m benchmarks.replay [--threads 8] [--turns 50] [--repeats 7]

Recording keeps references to what LangGraph hands the saver (the checkpoint's dicts are
copied, the values are not), which is exact because LangGraph's reducers build new lists.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

from benchmarks import graph

Call = tuple[str, tuple[Any, ...]]
KINDS = ("put", "put_writes", "get_tuple", "get_next_version")


class _Recorder(graph.ReferenceSaver):
    """Runs the graph like the floor saver does, and remembers each call's arguments."""

    def __init__(self, versions: Callable[..., Any]) -> None:
        super().__init__()
        self.calls: list[Call] = []
        self._versions = versions

    def get_next_version(self, current: Any, channel: None = None) -> Any:  # type: ignore[override]
        self.calls.append(("get_next_version", (current, channel)))
        return self._versions(current)  # the contestants' own version strings

    def get_tuple(self, config: Any) -> Any:
        self.calls.append(("get_tuple", (config,)))
        return super().get_tuple(config)

    def put(self, config: Any, checkpoint: Any, metadata: Any, new_versions: Any) -> Any:
        copied = {
            **checkpoint,
            "channel_values": dict(checkpoint["channel_values"]),
            "channel_versions": dict(checkpoint["channel_versions"]),
        }
        self.calls.append(("put", (config, copied, dict(metadata), dict(new_versions))))
        return super().put(config, checkpoint, metadata, new_versions)

    def put_writes(self, config: Any, writes: Any, task_id: str, task_path: str = "") -> None:
        self.calls.append(("put_writes", (config, list(writes), task_id, task_path)))
        super().put_writes(config, writes, task_id, task_path)


def record(threads: int, turns: int) -> list[Call]:
    """The saver calls of `threads` conversations of `turns` turns, in the order they were made."""
    from langgraph.checkpoint.memory import InMemorySaver

    recorder = _Recorder(lambda current: InMemorySaver().get_next_version(current, None))
    graph.run_sync(recorder, threads, turns)
    return recorder.calls


def replay(calls: list[Call], make: Callable[[], Any]) -> dict[str, float]:
    """Seconds spent in each kind of call, replaying `calls` on a fresh saver."""
    saver = make()
    spent = dict.fromkeys(KINDS, 0.0)
    try:
        for kind, args in calls:
            method = getattr(saver, kind)
            start = time.perf_counter()
            method(*args)
            spent[kind] += time.perf_counter() - start
    finally:
        close = getattr(saver, "close", None)
        if close is not None:
            close()
    return spent


def contestants() -> dict[str, Callable[[], Any]]:
    from langgraph.checkpoint.memory import InMemorySaver

    import graphsaver

    class FloorEncode(graph.EncodingReferenceSaver):
        """The encoding alone, which no saver goes below, minting upstream's version strings
        (the calls recorded carry them)."""

        get_next_version = InMemorySaver.get_next_version  # type: ignore[assignment]

    return {
        "upstream-memory": InMemorySaver,
        "floor-encode": FloorEncode,
        "graphsaver-memory": lambda: graphsaver.connect("memory://"),
    }


def run(threads: int, turns: int, repeats: int) -> dict[str, dict[str, float]]:
    """Best-of-`repeats` seconds per call kind (and in all), per contestant, interleaved."""
    calls = record(threads, turns)
    makers = contestants()
    best: dict[str, dict[str, float]] = {}
    for _ in range(repeats):
        for name, make in makers.items():
            spent = replay(calls, make)
            spent["all"] = sum(spent.values())
            if name not in best or spent["all"] < best[name]["all"]:
                best[name] = spent
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.replay", description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--turns", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    best = run(args.threads, args.turns, args.repeats)
    upstream = best["upstream-memory"]
    widths = {k: max(12, len(k)) + 2 for k in (*KINDS, "all")}
    print(f"{'contestant':20s}" + "".join(f"{k:>{w}s}" for k, w in widths.items()) + "   (ms, best of runs)")
    for name, spent in best.items():
        cells = "".join(f"{spent[k] * 1e3:{w}.1f}" for k, w in widths.items())
        print(f"{name:20s}{cells}   x{spent['all'] / upstream['all']:.2f} of upstream")
    return 0


if __name__ == "__main__":
    sys.exit(main())
