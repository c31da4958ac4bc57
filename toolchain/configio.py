"""Strict conversion between JSON dictionaries and frozen config dataclasses.

Presets and training configs are data. Unknown keys, missing keys and wrong types
are user errors, reported as one line that names the key path.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from toolchain.errors import ToolchainError

T = TypeVar("T")


def from_dict(cls: type[T], data: Any, where: str = "config") -> T:
    """Build dataclass ``cls`` from ``data``, rejecting unknown keys and wrong types."""
    if not isinstance(data, dict):
        raise ToolchainError(f"{where}: expected an object, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ToolchainError(f"{where}: unknown key '{unknown[0]}' (valid keys: {', '.join(sorted(fields))})")
    kwargs = {}
    for name, field in fields.items():
        if name not in data:
            no_default = field.default is dataclasses.MISSING
            if no_default and field.default_factory is dataclasses.MISSING:
                raise ToolchainError(f"{where}: missing key '{name}'")
            continue
        kwargs[name] = _convert(hints[name], data[name], f"{where}.{name}")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ToolchainError(f"{where}: {exc}") from None


def _convert(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _convert(inner, value, where)
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, where)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        try:
            return tp(value)
        except ValueError:
            valid = ", ".join(str(m.value) for m in tp)
            raise ToolchainError(f"{where}: '{value}' is not one of {valid}") from None
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ToolchainError(f"{where}: expected a list, got {type(value).__name__}")
        item_type = args[0]
        return tuple(_convert(item_type, v, f"{where}[{i}]") for i, v in enumerate(value))
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ToolchainError(f"{where}: expected a number, got {value!r}")
        if not math.isfinite(value):  # Python's json reads NaN and Infinity; no setting means them
            raise ToolchainError(f"{where}: expected a finite number, got {value!r}")
        return float(value)
    if tp in (int, bool, str):
        if type(value) is not tp:
            raise ToolchainError(f"{where}: expected {tp.__name__}, got {value!r}")
        return value
    raise TypeError(f"unsupported config field type {tp!r} at {where}")


def to_dict(config: Any) -> dict[str, Any]:
    """JSON-ready dictionary of a (nested) config dataclass; enums become their values."""

    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, enum.Enum):
            return value.value
        if isinstance(value, tuple | list):
            return [plain(v) for v in value]
        return value

    return plain(config)


def read_json(path: Path) -> Any:
    """Read a JSON file, turning I/O and syntax problems into one-line errors."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ToolchainError(f"{path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ToolchainError(f"cannot read {path}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ToolchainError(f"{path} is not valid JSON: line {exc.lineno}: {exc.msg}") from None


def dumps_compact(value: Any) -> str:
    """Strict JSON like ``json.dumps(indent=2)``, but lists of scalars (shapes, corners) stay on one line.

    NaN and Infinity are refused (``ValueError``): they are not JSON.
    """
    return _dumps(value, "")


def _dumps(value: Any, indent: str) -> str:
    inner = indent + "  "
    if isinstance(value, dict) and value:
        items = [f"{inner}{json.dumps(k)}: {_dumps(v, inner)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    if isinstance(value, list) and any(isinstance(v, dict | list) and v for v in value):
        if all(isinstance(v, list) and not any(isinstance(x, dict | list) for x in v) for v in value):
            return "[" + ", ".join(json.dumps(v, allow_nan=False) for v in value) + "]"
        return "[\n" + ",\n".join(inner + _dumps(v, inner) for v in value) + "\n" + indent + "]"
    return json.dumps(value, allow_nan=False)
