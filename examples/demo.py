"""graphsaver demo: a LangGraph agent on SQLite, its history, a fork, and a replay.

Run it with `make demo` (or `python examples/demo.py [path.db]`). It needs no API key: the
"model" is a tiny rule-based function, the persistence is real.
"""

from __future__ import annotations

import operator
import os
import sys
import tempfile
from typing import Annotated, TypedDict

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages

import graphsaver


class State(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]
    tool_calls: Annotated[int, operator.add]


def agent(state: State) -> dict:
    question = state["messages"][-1].content
    if isinstance(question, str) and question.startswith("calc "):
        return {"messages": [AIMessage(f"calling the calculator for {question[5:]!r}")]}
    return {"messages": [AIMessage(f"you said: {question}")]}


def calculator(state: State) -> dict:
    expression = str(state["messages"][-2].content)[5:]
    left, _, right = expression.partition("+")
    return {"messages": [AIMessage(f"= {int(left) + int(right)}")], "tool_calls": 1}


def route(state: State) -> str:
    return "calculator" if "calculator" in str(state["messages"][-1].content) else END


def build() -> StateGraph:
    builder = StateGraph(State)
    builder.add_node("agent", agent)
    builder.add_node("calculator", calculator)
    builder.add_edge(START, "agent")
    builder.add_conditional_edges("agent", route, ["calculator", END])
    builder.add_edge("calculator", END)
    return builder


def show_history(graph, config) -> None:  # type: ignore[no-untyped-def]
    print(f"  {'step':>4}  {'source':<6}  {'next':<12}  last message")
    for snapshot in graph.get_state_history(config):
        meta = snapshot.metadata or {}
        last = snapshot.values.get("messages", [])[-1:] or [None]
        text = "" if last[0] is None else f"{type(last[0]).__name__}: {last[0].content}"
        print(
            f"  {meta.get('step'):>4}  {meta.get('source'):<6}  {','.join(snapshot.next) or '-':<12}  {text}"
        )


def main() -> None:
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(tempfile.mkdtemp(), "agent.db")
    url = f"sqlite:///{path}"
    print(f"database: {url}\n")
    with graphsaver.connect(url) as saver:
        graph = build().compile(checkpointer=saver)
        config = {"configurable": {"thread_id": "demo"}}
        for text in ["hello", "calc 2+3", "thanks"]:
            graph.invoke({"messages": [HumanMessage(text)]}, config)

        print("1. the thread's history, newest first")
        show_history(graph, config)
        original_head = graph.get_state(config)

        # Time travel: find the checkpoint just before the calculator ran, and fork from it.
        before_tool = next(s for s in graph.get_state_history(config) if s.next == ("calculator",))
        print(f"\n2. fork from step {before_tool.metadata['step']}: ask another sum there, then resume")
        forked = graph.update_state(
            before_tool.config,
            {"messages": [HumanMessage("calc 40+2"), AIMessage("calling the calculator for '40+2'")]},
            as_node="agent",
        )
        result = graph.invoke(None, forked)
        print(f"  the fork ends with: {result['messages'][-1].content}")
        original = graph.get_state(original_head.config).values["messages"][-1].content
        print(f"  the original branch still ends with: {original}")

        print("\n3. replay from the checkpoint before the calculator: it runs again, on a new branch")
        replayed = graph.invoke(None, before_tool.config)
        print(f"  replay ends with: {replayed['messages'][-1].content}")

        print("\n4. the history now holds every branch")
        show_history(graph, config)
        total = sum(1 for _ in saver.list({"configurable": {"thread_id": "demo"}}))
        print(f"\n{total} checkpoints stored in {path}")
    with graphsaver.connect(url) as reopened:
        graph = build().compile(checkpointer=reopened)
        latest = graph.get_state(config)
        print(f"reopened from disk: {len(latest.values['messages'])} messages on the current branch")


if __name__ == "__main__":
    main()
