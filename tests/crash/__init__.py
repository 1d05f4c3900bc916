"""Crash and load harness: a real LangGraph graph run in child processes that get killed.

`worker` is the child side (the graph, the instrumented saver, the event stream); `harness`
is the parent side (kill at a chosen moment, verify, resume, verify again); `load` holds the
concurrent writers of the concurrency suites. `tests/test_crash.py`, `tests/test_concurrency.py`
and `scripts/soak.py` drive them.
"""
