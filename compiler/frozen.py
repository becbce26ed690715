"""`@frozen`: a frozen dataclass that is quick to construct, for IR nodes built by the thousand.

The `__init__` that `dataclass(frozen=True)` generates stores each field through
`object.__setattr__` (to get past the class's own `__setattr__`, which refuses every change);
`frozen` keeps everything else the dataclass generates and replaces only that `__init__` with one
of the same signature and defaults that writes the fields into the new instance's `__dict__`.
Construction takes about half the instructions; instances still refuse changes afterwards.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import MISSING, dataclass, fields
from typing import TypeVar, overload

C = TypeVar("C", bound=type)
_UNSET = object()  # a default_factory field left to its factory


@overload
def frozen(cls: C, /) -> C: ...
@overload
def frozen(*, kw_only: bool = False) -> Callable[[C], C]: ...


def frozen(cls: C | None = None, /, *, kw_only: bool = False) -> C | Callable[[C], C]:
    """`@dataclass(frozen=True, kw_only=...)` with a direct `__init__`."""

    def wrap(cls: C) -> C:
        cls = dataclass(frozen=True, kw_only=kw_only)(cls)
        if "__post_init__" in vars(cls) or any(not f.init for f in fields(cls)):
            raise TypeError(f"{cls.__name__}: @frozen takes no __post_init__ or init=False field")
        cls.__init__ = _direct_init(cls)  # type: ignore[misc]
        return cls

    return wrap if cls is None else wrap(cls)


def _direct_init(cls: type) -> Callable[..., None]:
    """`__init__(self, <positional fields>, *, <keyword-only fields>)` filling `__dict__`."""
    namespace: dict[str, object] = {"_UNSET": _UNSET}
    positional, keyword, lines = [], [], []
    for f in fields(cls):
        param = f.name
        if f.default is not MISSING:
            namespace[f"_default_{f.name}"] = f.default
            param += f"=_default_{f.name}"
        elif f.default_factory is not MISSING:
            namespace[f"_factory_{f.name}"] = f.default_factory
            param += "=_UNSET"
            lines.append(f"    if {f.name} is _UNSET: {f.name} = _factory_{f.name}()")
        (keyword if f.kw_only else positional).append(param)
        lines.append(f"    fields[{f.name!r}] = {f.name}")
    params = ", ".join(["self", *positional, *(["*", *keyword] if keyword else [])])
    source = f"def __init__({params}):\n    fields = self.__dict__\n" + "\n".join(lines)
    exec(source, namespace)  # the dataclass module builds its __init__ the same way
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"  # type: ignore[attr-defined]
    return init  # type: ignore[return-value]
