"""The user's own types round-trip exactly through a real graph, with no pickle anywhere.

LangGraph reads LANGGRAPH_STRICT_MSGPACK once, at import. In strict mode it collects the
types of a graph's state schema when the graph is compiled and hands them to the saver
through `with_allowlist`; `strict_langgraph` switches that mode on for one test, which is
what starting the process with LANGGRAPH_STRICT_MSGPACK=true does.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import operator
import sqlite3
import uuid
from collections.abc import Iterator
from typing import Annotated, Any, Generic, TypedDict, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langgraph._internal import _serde as langgraph_serde
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, interrupt
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    RootModel,
    computed_field,
    field_serializer,
    model_serializer,
)

import graphsaver
from tests.graphs import MODES, Driver, thread

T = TypeVar("T")


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Tag(BaseModel):
    name: str
    color: Color


class Profile(BaseModel):
    name: str
    level: Level
    tags: list[Tag]
    born: datetime.datetime
    ident: uuid.UUID


class Box(BaseModel, Generic[T]):
    item: T


# Parametrized at module level, so pydantic registers `Box[int]` in this module's globals,
# where LangGraph's serializer looks a class up by its name.
IntBox = Box[int]


class Crate(BaseModel, Generic[T]):
    """A generic model only ever parametrized inside functions and annotations."""

    item: T


class Plain(BaseModel):
    """A model whose `model_dump()` is its `__dict__`: the serializer's fast path packs it."""

    name: str
    n: float = 0.0
    extra: dict[Any, Any] = {}


class Computed(BaseModel):
    n: int

    @computed_field  # type: ignore[prop-decorator]
    @property
    def double(self) -> int:
        return self.n * 2


class FieldSerialized(BaseModel):
    n: int

    @field_serializer("n")
    def _n(self, value: int) -> str:
        return f"n={value}"


class ModelSerialized(BaseModel):
    n: int

    @model_serializer
    def _all(self) -> dict[str, Any]:
        return {"only": self.n}


class Annotated_(BaseModel):
    n: Annotated[int, PlainSerializer(lambda v: v + 1)]
    inner: list[Annotated[int, PlainSerializer(lambda v: -v)]] = []


class Hidden(BaseModel):
    shown: int
    secret: str = Field(default="s", exclude=True)


class ByAlias(BaseModel):
    model_config = ConfigDict(serialize_by_alias=True, populate_by_name=True)
    name: str = Field(alias="Name")


class Open(BaseModel):
    model_config = ConfigDict(extra="allow")
    a: int


class Root(RootModel[list[int]]):
    pass


class Nested(BaseModel):
    tag: Tag
    when: datetime.datetime
    tags: set[str] = set()


class OwnDump(BaseModel):
    n: int

    def model_dump(self, **kwargs: Any) -> dict[str, Any]:  # type: ignore[override]
        return {"n": self.n, "mine": True}


@dataclasses.dataclass
class Point:
    x: float
    color: Color
    tags: list[Tag] = dataclasses.field(default_factory=list)


class Typed(TypedDict, total=False):
    profile: Profile
    int_box: Box[int]
    point: Point
    color: Color
    when: datetime.datetime
    day: datetime.date
    ident: uuid.UUID
    history: Annotated[list[Profile], operator.add]
    answer: Tag


def typed_graph() -> StateGraph:
    def grow(state: Typed) -> dict[str, Any]:
        return {
            "int_box": Box[int](item=state["int_box"].item + 1),
            "point": Point(state["point"].x * 2, Color.BLUE, [Tag(name="p", color=Color.RED)]),
            "history": [state["profile"]],
        }

    def ask(state: Typed) -> dict[str, Any]:
        return {"answer": interrupt("tag?")}

    builder = StateGraph(Typed)
    builder.add_node("grow", grow)
    builder.add_node("ask", ask)
    builder.add_edge(START, "grow")
    builder.add_edge("grow", "ask")
    builder.add_edge("ask", END)
    return builder


def generic_graph() -> StateGraph:
    # Built in a function, as a module without `from __future__ import annotations` evaluates
    # `crate: Crate[int]` in a class body: pydantic then does not register `Crate[int]` in the
    # module's globals.
    GenericState = TypedDict("GenericState", {"crate": Crate[int]}, total=False)  # noqa: UP013

    def grow(state: Any) -> dict[str, Any]:
        return {"crate": Crate[int](item=state["crate"].item + 1)}

    builder = StateGraph(GenericState)
    builder.add_node("grow", grow)
    builder.add_edge(START, "grow")
    builder.add_edge("grow", END)
    return builder


PROFILE = Profile(
    name="ann",
    level=Level.HIGH,
    tags=[Tag(name="t", color=Color.RED), Tag(name="u", color=Color.BLUE)],
    born=datetime.datetime(2020, 1, 2, 3, 4, 5, 678, tzinfo=datetime.timezone.utc),
    ident=uuid.UUID("12345678-1234-5678-1234-567812345678"),
)
INPUT: dict[str, Any] = {
    "profile": PROFILE,
    "int_box": Box[int](item=1),
    "point": Point(1.5, Color.RED),
    "color": Color.BLUE,
    "when": datetime.datetime(2021, 6, 7, 8, 9, 10, tzinfo=datetime.timezone(datetime.timedelta(hours=2))),
    "day": datetime.date(2022, 2, 2),
    "ident": uuid.UUID("87654321-4321-8765-4321-876543218765"),
    "history": [],
}
EXPECTED: dict[str, Any] = {
    **INPUT,
    "int_box": Box[int](item=2),
    "point": Point(3.0, Color.BLUE, [Tag(name="p", color=Color.RED)]),
    "history": [PROFILE],
    "answer": Tag(name="resumed", color=Color.BLUE),
}


@pytest.fixture(params=MODES)
def drive(request: pytest.FixtureRequest) -> Iterator[Driver]:
    driver = Driver(request.param)
    yield driver
    driver.close()


@pytest.fixture
def strict_langgraph(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(langgraph_serde, "STRICT_MSGPACK_ENABLED", True)


def assert_exact(values: dict[str, Any], expected: dict[str, Any]) -> None:
    """Equal values of the same types, nested ones included."""
    assert values == expected
    for key, value in expected.items():
        assert type(values[key]) is type(value), key
    assert type(values["profile"].level) is Level
    assert type(values["profile"].tags[0]) is Tag and type(values["profile"].tags[0].color) is Color
    assert type(values["profile"].born) is datetime.datetime and values["profile"].born.tzinfo is not None
    assert type(values["profile"].ident) is uuid.UUID
    assert type(values["point"].color) is Color and type(values["point"].tags[0]) is Tag
    assert type(values["history"][0]) is Profile
    assert values["when"].utcoffset() == datetime.timedelta(hours=2)


def run_typed_graph(drive: Driver, saver: graphsaver.GraphsaverSaver) -> dict[str, Any]:
    graph = typed_graph().compile(checkpointer=saver)
    first = drive(graph.invoke, INPUT, thread("t1"))
    assert [i.value for i in first["__interrupt__"]] == ["tag?"]
    final = drive(graph.invoke, Command(resume=Tag(name="resumed", color=Color.BLUE)), thread("t1"))
    assert_exact(final, EXPECTED)
    return final


@pytest.mark.interrupts
def test_user_types_round_trip_in_strict_mode(
    saver_url: str, backend: str, drive: Driver, strict_langgraph: None
) -> None:
    with drive.open(saver_url) as saver:
        run_typed_graph(drive, saver)
        graph = typed_graph().compile(checkpointer=saver)
        assert_exact(drive(graph.get_state, thread("t1")).values, EXPECTED)
        # every checkpoint of the history reads back with its types, the resume write too
        history = drive(graph.get_state_history, thread("t1"))
        assert type(history[-2].values["profile"]) is Profile
        assert type(history[1].values["int_box"]) is Box[int] is IntBox
    if backend != "memory":
        with drive.open(saver_url) as reopened:
            graph = typed_graph().compile(checkpointer=reopened)
            assert_exact(drive(graph.get_state, thread("t1")).values, EXPECTED)


@pytest.mark.interrupts
def test_user_types_round_trip_by_default(saver_url: str, drive: Driver) -> None:
    with drive.open(saver_url) as saver:
        run_typed_graph(drive, saver)
        graph = typed_graph().compile(checkpointer=saver)
        assert_exact(drive(graph.get_state, thread("t1")).values, EXPECTED)


@pytest.mark.xfail(
    strict=True,
    reason=(
        "LangGraph limitation: JsonPlusSerializer stores a parametrized generic model under its "
        "class name 'Crate[int]' and revives it with getattr(module, 'Crate[int]'), which exists "
        "only when pydantic first parametrized it at module level (as Box[int] above), so it "
        "returns the field dict instead (in permissive mode too)"
    ),
)
def test_generic_model_round_trips(saver_url: str, drive: Driver, strict_langgraph: None) -> None:
    with drive.open(saver_url) as saver:
        graph = generic_graph().compile(checkpointer=saver)
        assert drive(graph.invoke, {"crate": Crate[int](item=1)}, thread("t1")) == {
            "crate": Crate[int](item=2)
        }
        stored = drive(graph.get_state, thread("t1")).values["crate"]
        assert stored == Crate[int](item=2) and type(stored) is Crate[int]


@pytest.mark.interrupts
def test_no_pickle_is_used(tmp_path: Any, drive: Driver, strict_langgraph: None) -> None:
    path = tmp_path / "serde.db"
    with drive.open(f"sqlite:///{path}") as saver:
        assert getattr(saver.serde, "pickle_fallback", False) is False
        run_typed_graph(drive, saver)
    with sqlite3.connect(path) as raw:
        blob_types = {row[0] for row in raw.execute("SELECT DISTINCT type FROM graphsaver_blobs")}
        write_types = {row[0] for row in raw.execute("SELECT DISTINCT type FROM graphsaver_writes")}
        blobs = raw.execute("SELECT data FROM graphsaver_blobs WHERE data IS NOT NULL").fetchall()
    assert "msgpack" in blob_types and "pickle" not in blob_types
    assert write_types and "pickle" not in write_types
    # pickle streams start with the PROTO opcode; no stored value is one
    assert blobs and not any(bytes(data).startswith(b"\x80") for (data,) in blobs)


def test_with_allowlist_returns_a_working_saver_on_the_same_storage(saver_url: str, drive: Driver) -> None:
    with drive.open(saver_url) as saver:
        allowed = saver.with_allowlist([(Tag.__module__, "Tag"), (Color.__module__, "Color")])
        assert allowed is not saver and isinstance(allowed, graphsaver.GraphsaverSaver)
        tag = Tag(name="x", color=Color.RED)

        def state_of(graph_saver: graphsaver.GraphsaverSaver) -> Any:
            builder = StateGraph(Typed)
            builder.add_node("noop", lambda state: {})
            builder.add_edge(START, "noop")
            return builder.compile(checkpointer=graph_saver)

        drive(state_of(allowed).invoke, {"answer": tag}, thread("by-clone"))
        # the original sees what the clone stored, and the clone what the original stored
        drive(state_of(saver).invoke, {"answer": tag}, thread("by-original"))
        for thread_id in ("by-clone", "by-original"):
            via_clone = drive(state_of(allowed).get_state, thread(thread_id)).values["answer"]
            assert via_clone == tag and type(via_clone) is Tag and type(via_clone.color) is Color
            via_original = drive(saver.get_tuple, thread(thread_id))
            assert via_original is not None
        # without the allowlist the default serde still revives data classes of imported modules
        raw = drive(saver.get_tuple, thread("by-clone")).checkpoint["channel_values"]["answer"]
        assert type(raw) is Tag and raw == tag
        assert len(drive(allowed.list, None)) == len(drive(saver.list, None)) > 0
        # the clone keeps working after more writes through the original
        drive(saver.delete_thread, "by-original")
        assert drive(allowed.list, thread("by-original")) == []


def _reordered(model: BaseModel) -> BaseModel:
    """The model with its first field moved to the end of its `__dict__`."""
    first = next(iter(model.__dict__))
    model.__dict__[first] = model.__dict__.pop(first)
    return model


def _with_stray_key(model: BaseModel) -> BaseModel:
    model.__dict__["stray"] = 1
    return model


def _mutated_message() -> Any:
    """An AI message whose tool calls and metadata were changed in place after validation,
    with keys in their own order and keys its types do not declare."""
    from langchain_core.messages import AIMessage

    message = AIMessage(content=[{"type": "text", "text": "t"}], id="m1")
    message.tool_calls.append({"id": "c2", "args": {"b": 1, "a": None}, "name": "t", "extra": 5})
    message.usage_metadata = {"total_tokens": 3, "input_tokens": 1, "output_tokens": 2, "zz": 0}
    message.response_metadata["nested"] = {"z": (1, 2.5), "a": [b"raw", None, True]}
    return message


def _encoding_corpus() -> list[Any]:
    from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
    from langgraph.types import Send, TimeoutPolicy

    call = {"name": "search", "args": {"query": "q"}, "id": "call_1", "type": "tool_call"}
    send = Send("tool", {"call": call})
    timed = Send("tool", {"n": 1}, timeout=TimeoutPolicy(run_timeout=2.5))
    return [
        send,
        timed,
        [send, timed, send],
        Send("outer", {"inner": [Send("inner", Color.RED)], "when": datetime.date(2026, 1, 2)}),
        {"tasks": (send,), "profile": Tag(name="t", color=Color.BLUE)},
        [
            HumanMessage(content="hi", id="h1"),
            AIMessage(content="a", tool_calls=[call]),
            ToolMessage("r", tool_call_id="c"),
        ],
        Level.HIGH,
        uuid.UUID(int=7),
        Plain(name="p", n=2, extra={"k": [1, (2, 3)], 4: b"x"}),
        Plain.model_construct(name="p", n=3),  # an int in a float field, unvalidated
        _reordered(Plain(name="order", n=1.5)),
        _with_stray_key(Plain(name="stray")),  # model_dump leaves out what is not a field
        Plain.model_construct(n=1.5),  # a field missing
        Computed(n=2),
        FieldSerialized(n=3),
        ModelSerialized(n=4),
        Annotated_(n=5, inner=[1, 2]),
        Hidden(shown=6),
        ByAlias(Name="a"),
        Open(a=1, more={"x": 1}),
        Open(a=2),
        Root([1, 2]),
        Nested(tag=Tag(name="t", color=Color.RED), when=datetime.datetime(2026, 1, 2)),
        Plain(name="holds a model", extra={"tag": Tag(name="t", color=Color.BLUE), "on": {1, 2}}),
        OwnDump(n=7),
        _mutated_message(),
        {"set": {1, 2}, "n": 3.5, "s": "\u00e9"},
        "text",
        12,
        None,
        b"raw",
        bytearray(b"raw"),
    ]


@pytest.mark.parametrize("index", range(len(_encoding_corpus())))
def test_encoding_is_byte_identical_to_langgraphs(index: int) -> None:
    """The serializer's fast path for `Send` writes the bytes LangGraph's own hook writes."""
    from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

    value = _encoding_corpus()[index]
    ours = graphsaver.GraphsaverSerializer()
    theirs = JsonPlusSerializer(pickle_fallback=False)
    encoded = ours.dumps_typed(value)
    assert encoded == theirs.dumps_typed(value)
    assert ours.loads_typed(encoded) == theirs.loads_typed(encoded)


def test_the_fast_path_packs_messages_and_plain_models_only() -> None:
    """Which classes `model_dump` leaves as their `__dict__` (so the bytes above stay equal
    whichever path encodes them); the messages must be among them, or encoding them slows
    down threefold without any test failing."""
    from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

    from graphsaver.core import codec

    for cls in (AIMessage, HumanMessage, ToolMessage, Plain, Open):
        assert codec._plain_fields(cls) == tuple(cls.model_fields)
    for cls in (Computed, FieldSerialized, ModelSerialized, Annotated_, Hidden, ByAlias, Root, OwnDump):
        assert codec._plain_fields(cls) is None, cls
    for other in (Point, dict, Color, BaseModel.__class__):
        assert codec._plain_fields(other) is None


_plain = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text()
    | st.binary(),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=5) | st.integers(-5, 5), inner, max_size=3)
    ),
    max_leaves=8,
)
_key_order = st.permutations(["name", "args", "id", "type"])


@st.composite
def _messages(draw: st.DrawFn) -> Any:
    from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

    kind = draw(st.sampled_from(["ai", "human", "tool"]))
    content = draw(st.text() | st.lists(st.dictionaries(st.text(max_size=4), _plain, max_size=2), max_size=2))
    common = {"id": draw(st.none() | st.text(max_size=8)), "name": draw(st.none() | st.text(max_size=8))}
    if kind == "human":
        message: Any = HumanMessage(content=content, **common)
    elif kind == "tool":
        artifact = draw(st.none() | _plain | st.just(Tag(name="a", color=Color.RED)))
        message = ToolMessage(
            content=content, tool_call_id=draw(st.text(max_size=8)), artifact=artifact, **common
        )
    else:
        calls = [
            {
                "name": draw(st.text(max_size=6)),
                "args": draw(st.dictionaries(st.text(max_size=4), _plain, max_size=2)),
                "id": draw(st.text(max_size=6)),
                "type": "tool_call",
            }
            for _ in range(draw(st.integers(0, 2)))
        ]
        message = AIMessage(content=content, tool_calls=calls, **common)
        for _ in range(draw(st.integers(0, 2))):  # changed in place after validation
            order = draw(_key_order)
            added = {"name": "n", "args": {"x": draw(_plain)}, "id": "i", "type": "tool_call"}
            message.tool_calls.append({key: added[key] for key in order})
    for key, value in draw(
        st.dictionaries(st.text(max_size=4), _plain | st.sets(st.integers()), max_size=2)
    ).items():
        message.response_metadata[key] = value
    return message


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=st.lists(_messages(), min_size=1, max_size=3))
def test_messages_encode_to_langgraphs_bytes(value: list[Any]) -> None:
    """Any message, changed in place or not, holding plain data or not, encodes to the bytes
    LangGraph's own serializer writes and decodes to what it decodes, or fails as it fails."""
    from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

    ours = graphsaver.GraphsaverSerializer()
    theirs = JsonPlusSerializer(pickle_fallback=False)
    try:
        expected = theirs.dumps_typed(value)
    except TypeError:  # an integer beyond 64 bits in a set, say
        with pytest.raises(TypeError):
            ours.dumps_typed(value)
        return
    encoded = ours.dumps_typed(value)
    assert encoded == expected
    assert ours.loads_typed(encoded) == theirs.loads_typed(encoded)


def test_unencodable_values_still_raise() -> None:
    import ormsgpack

    class Opaque:
        pass

    with pytest.raises(ormsgpack.MsgpackEncodeError):
        graphsaver.GraphsaverSerializer().dumps_typed({"x": Opaque()})
