"""The vocabulary the record's schema is written in: JSON value types, a field (type, unit, meaning),
and the check of a value against a type, which names the offending field."""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from typing import Any

from dlbench.errors import DlbenchError


class RecordError(DlbenchError, ValueError):
    """A result record that does not follow its schema."""


def _at(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


class Type:
    """A JSON value type. ``fits`` says whether a value is of this type's kind (a number, a list, an
    object...); ``check`` also checks what is inside and raises RecordError naming ``path``."""

    name: str

    def fits(self, value: Any) -> bool:
        raise NotImplementedError

    def check(self, value: Any, path: str) -> None:
        if not self.fits(value):
            raise RecordError(f"{path}: expected {self.name}, got {type(value).__name__} {_short(value)}")

    def __or__(self, other: Type) -> Union:
        return Union((*_options(self), *_options(other)))


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


@dataclass(frozen=True, eq=False)
class Atom(Type):
    """A JSON scalar: an instance of one of ``kinds``; a boolean only where ``bool`` is one of them
    (Python's ``True`` is also an ``int``)."""

    name: str
    kinds: tuple[type, ...]

    def fits(self, value: Any) -> bool:
        return isinstance(value, self.kinds) and isinstance(value, bool) == (bool in self.kinds)


INT = Atom("integer", (int,))
NUMBER = Atom("number", (int, float))  # an integer is a JSON number too
STR = Atom("string", (str,))
BOOL = Atom("boolean", (bool,))
NULL = Atom("null", (type(None),))


class AnyJSON(Type):
    name = "any JSON value"

    def fits(self, value: Any) -> bool:
        if value is None or isinstance(value, (bool, int, float, str)):
            return True
        if isinstance(value, list):
            return all(map(self.fits, value))
        return isinstance(value, dict) and all(isinstance(k, str) and self.fits(v) for k, v in value.items())


JSON = AnyJSON()


@dataclass(frozen=True, eq=False)
class OneOf(Type):
    """A string from a fixed set."""

    values: tuple[str, ...]

    @property
    def name(self) -> str:  # type: ignore[override]
        return "one of " + ", ".join(f"`{v}`" for v in self.values)

    def fits(self, value: Any) -> bool:
        return isinstance(value, str)

    def check(self, value: Any, path: str) -> None:
        super().check(value, path)
        if value not in self.values:
            raise RecordError(f"{path}: expected {self.name}, got {value!r}")


@dataclass(frozen=True, eq=False)
class ListOf(Type):
    item: Type

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"list of {'objects' if isinstance(self.item, Object) else self.item.name}"

    def fits(self, value: Any) -> bool:
        return isinstance(value, list)

    def check(self, value: Any, path: str) -> None:
        super().check(value, path)
        if isinstance(self.item, Atom) and set(map(type, value)) <= set(self.item.kinds) - {bool}:
            return  # a long series of plain numbers, at C speed
        for i, v in enumerate(value):
            self.item.check(v, f"{path}[{i}]")


@dataclass(frozen=True)
class Field:
    """One declared key: its type, its unit (None for text, flags and names) and what it means."""

    type: Type
    unit: str | None
    meaning: str


@dataclass(frozen=True, eq=False)
class Object(Type):
    """A JSON object with declared keys; ``other`` declares what any undeclared key holds, where the
    keys are open (a backend's own settings), else an undeclared key is an error. No key is required:
    a failed run's sections are empty, and older records lack fields added since."""

    fields: dict[str, Field]
    other: Field | None = None

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"object of {self.other.type.name}" if not self.fields and self.other else "object"

    def fits(self, value: Any) -> bool:
        return isinstance(value, dict)

    def check(self, value: Any, path: str) -> None:
        super().check(value, path)
        for key, v in value.items():
            declared = self.fields.get(key, self.other)
            if declared is None:
                where = f"{path} declares" if path else "a record has"
                raise RecordError(f"{_at(path, key)} is not declared ({where}: {', '.join(self.fields)})")
            declared.type.check(v, _at(path, key))


def map_of(value: Type) -> Object:
    """An object whose keys are open, each holding a ``value``."""
    return Object({}, Field(value, None, ""))


@dataclass(frozen=True, eq=False)
class Union(Type):
    options: tuple[Type, ...]

    @property
    def name(self) -> str:  # type: ignore[override]
        return " or ".join(o.name for o in self.options)

    def fits(self, value: Any) -> bool:
        return any(o.fits(value) for o in self.options)

    def check(self, value: Any, path: str) -> None:
        for option in self.options:
            if option.fits(value):
                option.check(value, path)  # an object or a list: what is wrong inside it
                return
        super().check(value, path)


def _options(t: Type) -> tuple[Type, ...]:
    return t.options if isinstance(t, Union) else (t,)


_PYTHON = {int: INT, float: NUMBER, str: STR, bool: BOOL, type(None): NULL}


def from_annotation(hint: Any) -> Type:
    """The JSON type of a dataclass field's annotation (``int | None``, ``dict[str, Any]``...)."""
    if hint in _PYTHON:
        return _PYTHON[hint]
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return Union(tuple(map(from_annotation, typing.get_args(hint))))
    if typing.get_origin(hint) is dict:
        return map_of(JSON)
    if typing.get_origin(hint) is list:
        return ListOf(from_annotation(typing.get_args(hint)[0]))
    raise TypeError(f"no JSON type for the annotation {hint!r}")
