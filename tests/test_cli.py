"""The `graphsaver` command line: every command, on each persistent backend, plus one real
subprocess run of the installed script. (memory:// lives only as long as one command.)"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import graphsaver
from graphsaver import history as h
from graphsaver.cli import cli
from graphsaver.cli.docs import reference
from tests.history_graphs import make_histories

REPO = Path(__file__).resolve().parent.parent
FORK_POINTS: dict[str, str] = {}  # url -> the checkpoint the "chat" thread's branches grew from


@pytest.fixture
def url(saver_url: str) -> Iterator[str]:
    if saver_url == "memory://":
        pytest.skip("memory:// does not outlive one command")
    with graphsaver.connect(saver_url) as saver:
        made = make_histories(saver)
    FORK_POINTS[saver_url] = made["fork_point"]
    yield saver_url


def run(*args: str, code: int = 0, input: str | None = None) -> Any:
    result = CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)
    assert result.exit_code == code, (result.exit_code, result.output, result.stderr)
    return result


def as_json(*args: str) -> Any:
    return json.loads(run(*args, "--json").stdout)


def test_threads_table_and_json(url: str) -> None:
    table = run("threads", "--url", url).stdout
    for word in ("chat", "waiting", "broken", "interrupted", "error", "idle"):
        assert word in table
    data = as_json("threads", "--url", url, "--limit", "2")
    assert [t["thread_id"] for t in data["threads"]] == ["broken", "waiting"]
    rest = as_json("threads", "--url", url, "--cursor", data["cursor"])
    assert [t["thread_id"] for t in rest["threads"]] == ["chat"]
    assert [
        t["thread_id"] for t in as_json("threads", "--url", url, "--filter", "user=alice")["threads"]
    ] == ["chat"]


def test_url_from_the_environment(url: str) -> None:
    result = CliRunner().invoke(cli, ["threads", "--json"], env={"GRAPHSAVER_URL": url})
    assert result.exit_code == 0 and len(json.loads(result.stdout)["threads"]) == 3


def test_history_show_and_diff(url: str) -> None:
    data = as_json("history", "chat", "--url", url)
    assert [b["current"] for b in data["branches"]] == [True, False]
    assert data["entries"][0]["source"] == "update"
    text = run("history", "chat", "--url", url).stdout
    assert "update" in text and "← " + FORK_POINTS[url] in text
    shown = run("show", "waiting", "--url", url).stdout
    assert "interrupted" in shown and "approve?" in shown and "[ai] you said: please review" in shown
    snap = as_json("show", "broken", "--url", url)
    assert snap["tasks"][0]["status"] == "failed" and "the tool broke" in snap["tasks"][0]["error"]
    assert "+ [ai] patched" in run("diff", "chat", "--url", url).stdout
    changes = as_json("diff", "chat", "--url", url)["changes"]
    assert changes[0]["channel"] == "messages" and changes[0]["kind"] == "changed"


def test_fork_then_delete(url: str) -> None:
    point = FORK_POINTS[url]
    out = as_json("fork", "chat", point, "--to", "chat-2", "--url", url, "--set", '{"messages": []}')
    assert out["thread_id"] == "chat-2"
    with graphsaver.connect(url) as saver:
        snap = h.snapshot(saver, "chat-2")
        assert snap.source == "update" and snap.values["messages"] == []
    run("fork", "chat", point, "--to", "chat-2", "--url", url, code=4)  # exists already
    run("delete", "chat-2", "--url", url)
    assert "chat-2" not in run("threads", "--url", url).stdout


def test_prune_is_a_dry_run_unless_yes(url: str) -> None:
    dry = run("prune", "chat", "--url", url).stdout
    assert "would remove 6 checkpoint(s)" in dry
    assert len(as_json("history", "chat", "--url", url)["entries"]) == 7
    assert as_json("prune", "chat", "--url", url, "--yes")["dry_run"] is False
    assert len(as_json("history", "chat", "--url", url)["entries"]) == 1


def test_compact_after_a_prune_keeps_what_remains(url: str) -> None:
    run("prune", "chat", "--url", url, "--yes")
    done = as_json("compact", "--url", url)
    assert 0 < done["bytes_after"] <= done["bytes_before"] and done["note"] is None
    assert len(as_json("history", "chat", "--url", url)["entries"]) == 1
    assert (
        as_json("show", "waiting", "--url", url)["values"]["messages"][-1]["content"]
        == "you said: please review"
    )
    assert "bytes before" in run("compact", "--url", url).stdout


def test_export_import_copy_and_stats(url: str, tmp_path: Path) -> None:
    readable = run("export", "waiting", "--url", url).stdout
    lines = [json.loads(line) for line in readable.splitlines()]
    assert lines[-1]["values"]["messages"][-1]["content"] == "you said: please review"
    backup = tmp_path / "backup.jsonl"
    run("export", "--lossless", "-o", str(backup), "--url", url)
    target = f"sqlite:///{tmp_path}/restored.db"
    assert as_json("import", str(backup), "--url", target)["checkpoints"] == 13
    run("import", str(backup), "--url", target, code=4)
    copy_target = f"sqlite:///{tmp_path}/copied.db"
    assert as_json("copy", url, copy_target, "--thread", "chat")["checkpoints"] == 7
    stats = {r["thread_id"]: r for r in as_json("stats", "--url", target)}
    assert stats["chat"]["checkpoints"] == 7 and stats["waiting"]["bytes"] > 0
    assert "total" in run("stats", "--url", target).stdout


def test_errors_are_one_line_with_exit_codes(url: str) -> None:
    missing = run("show", "nope", "--url", url, code=3)
    assert (
        missing.stderr.strip()
        == "Error: thread 'nope' has no checkpoints: list threads with `graphsaver threads`"
    )
    bad = run("fork", "chat", "no-such", "--url", url, code=3)
    assert "'no-such'" in bad.stderr and "'chat'" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    assert run("threads", "--url", "nonsense", code=1).stderr.startswith(
        "Error: 'nonsense' is not a database URL"
    )
    run("threads", "--url", url, "--limit", "0", code=2)
    run("fork", "chat", "x", "--url", url, "--set", "[1]", code=2)


def test_every_command_has_an_example() -> None:
    for name, command in cli.commands.items():  # type: ignore[attr-defined]
        assert "Example:" in (command.help or ""), name


def test_cli_reference_is_current() -> None:
    current = (REPO / "docs" / "cli.md").read_text()
    assert current == reference(), "docs/cli.md is stale: run `python -m graphsaver.cli.docs > docs/cli.md`"


def test_installed_script_runs(tmp_path: Path) -> None:
    script = shutil.which("graphsaver", path=str(Path(sys.executable).parent))
    assert script is not None, "the graphsaver console script is not installed (pip install -e .)"
    url = f"sqlite:///{tmp_path}/agent.db"
    with graphsaver.connect(url) as saver:
        make_histories(saver)
    done = subprocess.run(
        [script, "threads", "--json"],
        env={**os.environ, "GRAPHSAVER_URL": url},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert {t["thread_id"] for t in json.loads(done.stdout)["threads"]} == {"chat", "waiting", "broken"}
    failed = subprocess.run(
        [script, "history", "nope", "--url", url], capture_output=True, text=True, timeout=120
    )
    assert failed.returncode == 3 and "Traceback" not in failed.stderr
    assert failed.stderr.count("\n") == 1
