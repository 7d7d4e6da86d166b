"""Config errors that name the file, the line and the field, in the engineer's words.

One ``ConfigError`` prints as ``config/cell.yaml:14: plc.link.port: expected an integer, got
"5o2"``. Pydantic's errors are translated here, once, so that every config file reads the same.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from cellctl.config.yaml_lines import Location, YamlDocument


@dataclass(frozen=True)
class ConfigError:
    file: Path
    line: int
    location: Location
    message: str

    def __str__(self) -> str:
        where = format_location(self.location)
        field = f" {where}:" if where else ""
        return f"{display_path(self.file)}:{self.line}:{field} {self.message}"


class ConfigInvalid(Exception):
    """Raised by the loaders with every error found (not just the first)."""

    def __init__(self, errors: Sequence[ConfigError]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(str(e) for e in self.errors))


def display_path(path: Path) -> str:
    """The path as the engineer typed it relative to the working directory, if it is inside."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def format_location(location: Location) -> str:
    """``("seams", 1, "path_mm", 2)`` -> ``seams[1].path_mm[2]``."""
    text = ""
    for part in location:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def show_value(value: Any) -> str:
    """A value as the engineer wrote it, short enough for one line."""
    if isinstance(value, str):
        text = '"' + value.replace('"', '\\"') + '"'
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif value is None:
        text = "nothing (null)"
    elif isinstance(value, dict):
        text = "a mapping"
    elif isinstance(value, list):
        text = f"a list of {len(value)}"
    else:
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _number(value: Any) -> str:
    """A limit as the engineer would write it: 100, not 100.0."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def _expected_choices(ctx: dict[str, Any]) -> str:
    return str(ctx.get("expected", "")).replace("'", '"')


def translate_error(error: dict[str, Any]) -> str:
    """One pydantic error (an item of ``ValidationError.errors()``) in the engineer's words,
    without its location: ``expected a number, got "abc"``. For files checked by a model
    outside a YAML config (a recording) that should read like config errors."""
    return _translate(error, None)


def _translate(error: dict[str, Any], model: type[BaseModel] | None) -> str:
    """One pydantic error dict -> our message (without location)."""
    kind = error["type"]
    ctx = error.get("ctx") or {}
    value = error.get("input")
    got = f", got {show_value(value)}"
    messages = {
        "int_parsing": "expected an integer" + got,
        "int_type": "expected an integer" + got,
        "int_from_float": "expected a whole number" + got,
        "float_parsing": "expected a number" + got,
        "float_type": "expected a number" + got,
        "finite_number": "expected a finite number" + got,
        "bool_parsing": "expected true or false" + got,
        "bool_type": "expected true or false" + got,
        "string_type": "expected text" + got,
        "missing": "missing (required)",
        "dict_type": "expected a mapping of key: value" + got,
        "model_type": "expected a mapping of key: value" + got,
        "model_attributes_type": "expected a mapping of key: value" + got,
        "list_type": "expected a list" + got,
        "tuple_type": "expected a list" + got,
        "literal_error": f"expected one of {_expected_choices(ctx)}" + got,
        "enum": f"expected one of {_expected_choices(ctx)}" + got,
        "greater_than": f"must be greater than {_number(ctx.get('gt'))}" + got,
        "greater_than_equal": f"must be at least {_number(ctx.get('ge'))}" + got,
        "less_than": f"must be less than {_number(ctx.get('lt'))}" + got,
        "less_than_equal": f"must be at most {_number(ctx.get('le'))}" + got,
        "string_too_short": "must not be empty",
        "string_too_long": f"takes at most {ctx.get('max_length')} characters"
        + (f", got {len(value)}" if isinstance(value, str) else ""),
        "too_short": f"needs at least {ctx.get('min_length')} item(s)"
        + (f", got {len(value)}" if isinstance(value, list | dict) else ""),
        "too_long": f"takes at most {ctx.get('max_length')} item(s)"
        + (f", got {len(value)}" if isinstance(value, list | dict) else ""),
        "union_tag_invalid": f"expected one of {ctx.get('expected_tags', '')}"
        + f", got {show_value(ctx.get('tag'))}",
        "union_tag_not_found": f"needs the key {ctx.get('discriminator', '')!s}",
    }
    if kind in messages:
        return messages[kind]
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    if kind == "assertion_error":
        return str(ctx.get("error", error["msg"]))
    return error["msg"] + got


def _did_you_mean(key: str, model: type[BaseModel] | None) -> str:
    if model is None:
        return ""
    close = difflib.get_close_matches(key, list(model.model_fields), n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""


def _model_at(model: type[BaseModel], location: Location) -> type[BaseModel] | None:
    """The pydantic model class that holds the last key of ``location`` (for suggestions)."""
    current: Any = model
    for part in location[:-1]:
        if isinstance(part, int) or current is None:
            continue
        fields = getattr(current, "model_fields", None)
        if not fields or part not in fields:
            # Lists and dicts of models: step into their item type.
            continue
        current = _model_in(fields[part].annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _model_in(annotation: Any) -> Any:
    """The first BaseModel class inside an annotation like ``list[Seam]`` or ``A | None``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _model_in(arg)
        if found is not None:
            return found
    metadata = getattr(annotation, "__metadata__", None)
    if metadata is not None:
        return _model_in(annotation.__origin__)
    return None


def _data_location(data: Any, location: Iterable[str | int], kind: str) -> Location:
    """Drop the parts of a pydantic location that are not in the data (union tags and such)."""
    parts = list(location)
    kept: list[str | int] = []
    current = data
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        if isinstance(current, dict) and part in current:
            kept.append(part)
            current = current[part]
        elif isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current):
            kept.append(part)
            current = current[part]
        elif last and kind == "missing" and isinstance(current, dict):
            # A key that is not in the file: the missing field itself.
            kept.append(part)
        # else: a union tag or a validator name that pydantic inserted; not part of the file.
    return tuple(kept)


def _field_named_first(location: Location, message: str, base: Any, prefix: Location) -> Location:
    """Point a model-level check at the field its message starts with, if the file has it.

    Checks across fields (a setpoint inside its band) run on the whole model, so pydantic
    locates them at the model; their message names the field first ("current_a 250 lies
    outside ..."), and the engineer wants the line of that field.
    """
    first_word = message.split(" ", 1)[0].rstrip(":")
    holder = base
    for part in location[len(prefix) :]:
        holder = holder[part] if isinstance(holder, dict | list) else None
    if isinstance(holder, dict) and first_word in holder:
        return (*location, first_word)
    return location


def validation_errors(
    error: ValidationError,
    document: YamlDocument,
    file: Path,
    model: type[BaseModel],
    prefix: Location = (),
) -> list[ConfigError]:
    """Translate a pydantic ``ValidationError`` about ``document.data`` into ``ConfigError``s."""
    results: list[ConfigError] = []
    seen: set[tuple[Location, str]] = set()
    base = document.data
    for part in prefix:
        base = base[part] if isinstance(base, dict | list) else None
    for item in error.errors(include_url=False):
        location = (*prefix, *_data_location(base, item["loc"], item["type"]))
        if item["type"] == "extra_forbidden":
            key = location[-1] if location else ""
            holder = _model_at(model, tuple(location[len(prefix) :]))
            message = f'unknown key "{key}"{_did_you_mean(str(key), holder)}'
        else:
            message = _translate(item, model)
            if item["type"] == "value_error":
                location = _field_named_first(location, message, base, prefix)
        if (location, message) in seen:
            continue
        seen.add((location, message))
        if item["type"] == "missing":
            line = document.line_of(location[:-1])
        else:
            line = document.line_of(location)
        results.append(ConfigError(file, line, location, message))
    return results
