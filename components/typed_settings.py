"""Typed settings from plain data: the one loader every settings section goes through.

A settings section is a frozen dataclass beside the code that uses it (the
Trainer's in ``components/trainer/settings.py``, ...). Its field annotations
say what each key may hold (``Literal`` values come from the code that
implements them); its optional ``validate(key)`` checks ranges. :func:`build`
turns YAML-like data (from the config file, or from a component's
``custom_config``) into that dataclass, and every error names the dotted key,
the value and what is allowed. This module imports nothing of the project.
"""
from __future__ import annotations

import dataclasses
import math
import re
import typing
from typing import Any, Dict, List, Literal, Mapping, Type, TypeVar

import yaml

T = TypeVar("T")


class ConfigError(ValueError):
    """A setting is missing, unknown or invalid; the message names the key."""


def require(condition: bool, key: str, value: Any, allowed: str) -> None:
    """Raises ConfigError ``<key>: got <value>; expected <allowed>`` unless ``condition``."""
    if not condition:
        raise ConfigError(f"{key}: got {value!r}; expected {allowed}")


def build(cls: Type[T], data: Any, key: str) -> T:
    """``data`` (a mapping) checked against the dataclass ``cls`` and built, nested sections included."""
    return _convert(data, cls, key)


def to_dict(settings: Any, cls: Any = None) -> Dict[str, Any]:
    """A section as plain data (what TFX hands to module code); with ``cls``, only the fields ``cls`` declares."""
    data = dataclasses.asdict(settings)
    if cls is None:
        return data
    return {field.name: data[field.name] for field in dataclasses.fields(cls)}


def pack(**sections: Any) -> Dict[str, Dict[str, Any]]:
    """Settings sections as one component's ``custom_config``: {section name: plain data}."""
    return {name: to_dict(section) if dataclasses.is_dataclass(section) else section
            for name, section in sections.items()}


def unpack(custom_config: Mapping[str, Any], name: str, cls: Type[T]) -> T:
    """The section ``name`` of a component's ``custom_config``, rebuilt and re-validated as ``cls``."""
    if not isinstance(custom_config, Mapping) or name not in custom_config:
        raise ConfigError(f"custom_config: missing the {name!r} section (the pipeline definition passes it); "
                          f"got keys {sorted(custom_config) if isinstance(custom_config, Mapping) else custom_config!r}")
    return build(cls, custom_config[name], name)


def read_yaml_mapping(path: str) -> Dict[str, Any]:
    """The top-level mapping of a YAML file; ConfigError naming the file otherwise."""
    try:
        with open(path, encoding="utf-8") as handle:
            raw = yaml.safe_load(handle)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of sections at the top level, got {type(raw).__name__}")
    return raw


def apply_override(raw: Dict[str, Any], override: str) -> None:
    """Sets ``a.b.c=value`` in the raw mapping; the value is parsed as YAML."""
    key, sep, text = override.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {override!r}: expected section.key=value, e.g. trainer.epochs=1")
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"--set {override!r}: the value is not valid YAML: {error}") from None
    set_value(raw, key.strip(), value, where=f"--set {override!r}")


def set_value(raw: Dict[str, Any], dotted: str, value: Any, where: str) -> None:
    """Sets ``a.b.c`` in the raw mapping; every part but the last must be an existing section."""
    parts = dotted.split(".")
    node = raw
    for depth, part in enumerate(parts[:-1]):
        child = node.get(part) if isinstance(node, dict) else None
        if not isinstance(child, dict):
            raise ConfigError(f"{where}: {'.'.join(parts[: depth + 1])!r} is not a section of the config")
        node = child
    node[parts[-1]] = value


def check_keys(raw: Mapping[str, Any], allowed: Mapping[str, Any], where: str) -> None:
    """Unknown keys, then missing required ones (``allowed``: name -> dataclass field or anything required)."""
    unknown = sorted(set(raw) - set(allowed))
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}; allowed keys: {sorted(allowed)}")
    missing = sorted(k for k, f in allowed.items() if k not in raw and _is_required(f))
    if missing:
        raise ConfigError(f"{where}: missing key {missing[0]!r}")


def is_plain_name(name: str) -> bool:
    """A single path component that cannot climb out of its parent folder."""
    return bool(_PLAIN_NAME.fullmatch(name)) and ".." not in name


def _is_required(field) -> bool:
    return (not isinstance(field, dataclasses.Field)
            or (field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING))


def _convert(value: Any, annotation: Any, key: str) -> Any:
    """Checks ``value`` against ``annotation`` and builds dataclasses."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if dataclasses.is_dataclass(annotation):
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        fields = {f.name: f for f in dataclasses.fields(annotation) if f.init}
        for old_key, instead in getattr(annotation, "RENAMED_KEYS", {}).items():
            if old_key in value:
                raise ConfigError(f"{key}.{old_key}: {instead}")
        check_keys(value, fields, where=key)
        hints = typing.get_type_hints(annotation)  # resolved in each class's own module
        built = annotation(**{name: _convert(value[name], hints[name], f"{key}.{name}")
                              for name in fields if name in value})
        if hasattr(built, "validate"):
            built.validate(key)
        return built
    if origin is Literal:
        if value not in args or type(value) is not type(args[0]):
            raise ConfigError(f"{key}: got {value!r}; allowed values: {list(args)}")
        return value
    if origin is typing.Union:  # Optional[X]
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _convert(value, inner[0], key)
    if origin in (list, List):
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        return [_convert(item, args[0], f"{key}[{i}]") for i, item in enumerate(value)]
    if origin in (dict, Dict):
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return {str(k): _convert(v, args[1], f"{key}.{k}") for k, v in value.items()}
    if annotation is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return value
    if annotation is float:
        if isinstance(value, str) and _FLOAT_TEXT.fullmatch(value.strip()):
            value = float(value)  # YAML 1.1 reads 2e-4 (no dot) as a string
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        if not math.isfinite(value):
            raise ConfigError(f"{key}: got {value!r}; expected a finite number (not inf or nan)")
        return float(value)
    if annotation is str:
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{key}: expected a non-empty string, got {value!r}")
        return value
    raise TypeError(f"unsupported annotation {annotation!r} for {key}")


# A decimal number in any notation Python reads, but not the words inf/nan (refused as not finite above).
_FLOAT_TEXT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
