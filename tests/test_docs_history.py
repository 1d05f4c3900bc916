"""The examples of docs/history.md run, in order, in one namespace."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parent.parent / "docs" / "history.md"


def test_history_doc_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert len(blocks) >= 6
    monkeypatch.chdir(tmp_path)  # the examples write their SQLite files here
    # a real module, so LangGraph can resolve the state's type hints through sys.modules
    module = types.ModuleType("docs_history_examples")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    for number, block in enumerate(blocks, 1):
        exec(compile(block, f"{DOC.name} example {number}", "exec"), module.__dict__)
