"""A small chat graph and the histories the history and CLI tests read.

`make_histories(saver)` leaves, on any backend:
- "chat": two runs, then `update_state` on the checkpoint after the first run: a second branch;
- "waiting": stopped by `interrupt()` in the review node;
- "broken": stopped by a node that raised.
"""

from __future__ import annotations

import contextlib
from typing import Annotated, Any, TypedDict

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.types import interrupt


class State(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]


def agent(state: State) -> dict[str, Any]:
    return {"messages": [AIMessage(f"you said: {state['messages'][-1].content}")]}


def review(state: State) -> dict[str, Any]:
    verdict = interrupt({"question": "approve?"})
    return {"messages": [AIMessage(f"review: {verdict}")]}


def tool(state: State) -> dict[str, Any]:
    raise ValueError("the tool broke")


def route(state: State) -> str:
    text = str(state["messages"][-2].content)
    return "review" if "review" in text else "tool" if "fail" in text else END


def build(saver: Any) -> Any:
    builder = StateGraph(State)
    builder.add_node("agent", agent)
    builder.add_node("review", review)
    builder.add_node("tool", tool)
    builder.add_edge(START, "agent")
    builder.add_conditional_edges("agent", route, ["review", "tool", END])
    builder.add_edge("review", END)
    builder.add_edge("tool", END)
    return builder.compile(checkpointer=saver)


def config(thread_id: str, **metadata: Any) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread_id}, "metadata": metadata}


def make_histories(saver: Any) -> dict[str, Any]:
    """Build the three threads; returns the graph and the checkpoint the fork grew from."""
    graph = build(saver)
    graph.invoke({"messages": [HumanMessage("hello")]}, config("chat", user="alice"))
    after_first = graph.get_state(config("chat"))
    graph.invoke({"messages": [HumanMessage("again")]}, config("chat", user="alice"))
    graph.update_state(after_first.config, {"messages": [AIMessage("patched")]}, as_node="agent")
    graph.invoke({"messages": [HumanMessage("please review")]}, config("waiting", user="bob"))
    with contextlib.suppress(ValueError):
        graph.invoke({"messages": [HumanMessage("fail now")]}, config("broken", user="bob"))
    return {"graph": graph, "fork_point": after_first.config["configurable"]["checkpoint_id"]}
