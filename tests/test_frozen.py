"""`@frozen` (the IR's dataclass decorator) behaves as `@dataclass(frozen=True)` does."""

from __future__ import annotations

import dataclasses
import inspect
import pickle

import pytest

from rulec.compiler import ir
from rulec.compiler.frozen import frozen


def _pair(decorate):
    @decorate(kw_only=True)
    class Base:
        span: str = "nowhere"

    @decorate
    class Item(Base):
        name: str
        values: tuple[int, ...] = ()
        tags: list[str] = dataclasses.field(default_factory=list)

    return Item


FAST = _pair(frozen)
PLAIN = _pair(lambda cls=None, **kw: dataclasses.dataclass(cls, frozen=True, **kw))


def test_same_signature_as_a_frozen_dataclass() -> None:
    fast = inspect.signature(FAST.__init__).parameters.values()
    plain = inspect.signature(PLAIN.__init__).parameters.values()
    assert [(p.name, p.kind) for p in fast] == [(p.name, p.kind) for p in plain]
    assert [p.name for p in fast] == ["self", "name", "values", "tags", "span"]


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [(("a",), {}), (("a", (1, 2)), {"span": "here"}), ((), {"name": "b", "tags": ["t"]})],
)
def test_same_fields_equality_and_hash(args: tuple, kwargs: dict) -> None:
    fast, plain = FAST(*args, **kwargs), PLAIN(*args, **kwargs)
    assert dataclasses.asdict(fast) == dataclasses.asdict(plain)
    assert (
        fast == FAST(*args, **kwargs)
        and repr(fast).split("(", 1)[1] == repr(plain).split("(", 1)[1]
    )


def test_instances_stay_immutable_and_factories_run_per_instance() -> None:
    item = FAST("a")
    with pytest.raises(dataclasses.FrozenInstanceError):
        item.name = "b"  # type: ignore[misc]
    assert item.tags == [] and item.tags is not FAST("a").tags
    with pytest.raises(TypeError):
        FAST()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        FAST("a", (), [], "positional span")  # type: ignore[misc]


def test_ir_nodes_pickle_replace_and_hash() -> None:
    match = ir.Match(ir.FieldRef("A"), ir.MatchKind.EQ, ("x",), False, span=ir.Span("f", 1, 2))
    query = ir.Query(ir.Pipeline(ir.Table("t"), (ir.Filter(match),)))
    assert query.meta == ir.RuleMeta(language="unknown") and query.span == ir.NOWHERE
    assert pickle.loads(pickle.dumps(query)) == query
    assert dataclasses.replace(match, values=("y",)).values == ("y",)
    assert hash(match) == hash(ir.Match(ir.FieldRef("A"), ir.MatchKind.EQ, ("x",), False))


def test_post_init_is_refused() -> None:
    with pytest.raises(TypeError, match="__post_init__"):

        @frozen
        class Checked:
            x: int

            def __post_init__(self) -> None:
                pass
