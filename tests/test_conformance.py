"""The official langgraph-checkpoint-conformance suite: every capability, every backend."""

from __future__ import annotations

import pytest
from langgraph.checkpoint.conformance import checkpointer_test, validate
from langgraph.checkpoint.conformance.capabilities import ALL_CAPABILITIES

import graphsaver


async def test_conformance_all_capabilities(saver_url: str, backend: str) -> None:
    @checkpointer_test(name=f"graphsaver-{backend}")
    async def factory():  # type: ignore[no-untyped-def]
        async with graphsaver.connect(saver_url) as saver:
            yield saver

    report = await validate(factory)
    outcome = {name: (r.passed, r.failures) for name, r in report.results.items()}
    assert set(outcome) == {c.value for c in ALL_CAPABILITIES}
    failed = {name: fails for name, (ok, fails) in outcome.items() if ok is not True}
    assert failed == {}, failed
    assert sum(r.tests_passed for r in report.results.values()) >= 81


@pytest.mark.parametrize("capability", sorted(c.value for c in ALL_CAPABILITIES))
def test_capability_is_implemented(capability: str) -> None:
    from langgraph.checkpoint.conformance.capabilities import DetectedCapabilities

    detected = DetectedCapabilities.from_instance(graphsaver.InMemorySaver())
    assert capability in {c.value for c in detected.detected}
