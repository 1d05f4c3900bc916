"""The graph tests/test_api_server.py serves with LangGraph's API server (`langgraph dev`)."""

import operator
import time
from typing import Annotated, TypedDict

from langgraph.graph import END, START, StateGraph


class State(TypedDict):
    items: Annotated[list[str], operator.add]
    count: int


def step(state: State) -> dict:
    if state["items"][-1:] == ["slow"]:  # a run the test can roll back while it is in flight
        time.sleep(30)
    return {"items": [f"item-{state.get('count', 0)}"], "count": state.get("count", 0) + 1}


builder = StateGraph(State)
builder.add_node("step", step)
builder.add_edge(START, "step")
builder.add_edge("step", END)
graph = builder.compile()
