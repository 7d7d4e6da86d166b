"""YAML loading that remembers where every value came from, and refuses what no config needs.

``load_yaml`` returns the plain data (dicts, lists, scalars, exactly as ``yaml.safe_load`` would)
and a table from each value's path (``("plc", "link", "port")``, ``("seams", 1, "path_mm")``)
to its 1-based line in the file, so that a validation error can say
``config/cell.yaml:14: plc.link.port: ...``. Duplicate keys, which plain YAML loading silently
resolves by keeping the last, are reported as errors.

A config file comes from an engineer's editor, but it is read by the controller, the demo and
``cellctl config check`` alike, so a file that would make the reader run out of memory or
time is refused with its line, never read: a file over ``CONFIG_FILE_MAX_BYTES``, aliases that
expand to more than ``ALIAS_EXPANSION_MAX_VALUES`` values (a "billion laughs"), nesting deeper
than ``NESTING_MAX_LEVELS`` (Python would run out of stack) and integers longer than
``INTEGER_MAX_CHARACTERS`` (Python refuses to convert them, and a sexagesimal one would take
minutes). A value YAML cannot construct (``2026-13-45``, ``!!int abc``, a Python tag) is a
problem with its line, not an exception.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

Location = tuple[str | int, ...]

# The largest shipped file is cell.yaml at ~9 kB; a part program of 100 seams with 100 taught
# points each is ~0.3 MB. 1 MiB leaves room for three times that. PyYAML composes in pure
# Python at ~0.1 MB/s and ~100 bytes of memory per byte of file: a 1 MiB part program of
# 31,000 points takes ~8 s and ~150 MB to check, a 50 MB file would take minutes and gigabytes.
CONFIG_FILE_MAX_BYTES = 1024 * 1024
# Aliases (``*name``) may share a block (merge keys: ``<<: *defaults``), but all of them
# together may add at most this many values to the document: a few defaults blocks used a
# few hundred times. A "billion laughs" needs nine levels of nine: refused at its third level.
ALIAS_EXPANSION_MAX_VALUES = 10_000
# The deepest shipped value is 6 levels down (plc.registers.inputs.<signal>.address; a path
# point's coordinate is 5). Python's stack (~1000 frames) is what a deeper file would exhaust
# in the composer, here and in pydantic's validation.
NESTING_MAX_LEVELS = 32
# A 64-bit integer has at most 20 digits; Python refuses past 4300 (int_max_str_digits), and
# YAML 1.1's base-60 integers (1:30:00) are multiplied out digit by digit.
INTEGER_MAX_CHARACTERS = 40
INT_TAG = "tag:yaml.org,2002:int"
MERGE_TAG = "tag:yaml.org,2002:merge"


@dataclass
class YamlProblem:
    """A problem found while reading the file itself (syntax, duplicate keys, limits)."""

    line: int
    location: Location
    message: str


@dataclass
class YamlDocument:
    data: Any
    lines: dict[Location, int] = field(default_factory=dict)
    problems: list[YamlProblem] = field(default_factory=list)
    text: str = ""  # the file's text as read (for the config's digest)

    def line_of(self, location: Location) -> int:
        """The line of ``location``, or of its nearest ancestor that the file has."""
        for end in range(len(location), -1, -1):
            line = self.lines.get(tuple(location[:end]))
            if line is not None:
                return line
        return 1


class _LimitExceeded(yaml.MarkedYAMLError):
    """A file that asks more of the loader than a config may (raised while composing)."""


class _BoundedLoader(yaml.SafeLoader):
    """``SafeLoader`` whose composer counts nesting and what aliases expand to.

    An alias in PyYAML's node graph is the anchored node itself, shared; anything that walks
    the graph (the constructor, ``_build`` below) walks it once per alias. So the cost of an
    alias is the size of what it names, counted here when the alias is read, before any walk.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._alias_values = 0
        self._open_anchors: set[str] = set()
        # Per node: (values in it, levels in it), aliases counted as what they name.
        self._measured: dict[int, tuple[int, int]] = {}

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        if self.check_event(AliasEvent):
            event = self.peek_event()
            target = self.anchors.get(event.anchor)
            if target is not None:
                if event.anchor in self._open_anchors:
                    raise _LimitExceeded(
                        problem=f"alias *{event.anchor} is inside the value it names (a loop)",
                        problem_mark=event.start_mark,
                    )
                values, levels = self._measure(target)
                self._alias_values += values
                if self._alias_values > ALIAS_EXPANSION_MAX_VALUES:
                    raise _LimitExceeded(
                        problem=f"aliases expand to more than {ALIAS_EXPANSION_MAX_VALUES:,} "
                        f"values here (*{event.anchor} alone to {values:,}); a config may "
                        "share a block by alias, not multiply it",
                        problem_mark=event.start_mark,
                    )
                if self._depth + levels > NESTING_MAX_LEVELS:
                    raise _LimitExceeded(
                        problem=f"alias *{event.anchor} nests deeper than "
                        f"{NESTING_MAX_LEVELS} levels",
                        problem_mark=event.start_mark,
                    )
            return super().compose_node(parent, index)  # undefined aliases: PyYAML's error
        event = self.peek_event()
        if self._depth >= NESTING_MAX_LEVELS:
            raise _LimitExceeded(
                problem=f"nested deeper than {NESTING_MAX_LEVELS} levels",
                problem_mark=event.start_mark,
            )
        anchor = event.anchor
        if anchor is not None:
            self._open_anchors.add(anchor)
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1
            self._open_anchors.discard(anchor)

    def _measure(self, node: Node) -> tuple[int, int]:
        """(values, levels) of a finished node, aliases expanded. Recursion stays within
        ``NESTING_MAX_LEVELS``: every finished node was checked against it."""
        known = self._measured.get(id(node))
        if known is not None:
            return known
        if isinstance(node, SequenceNode):
            children = [self._measure(item) for item in node.value]
        elif isinstance(node, MappingNode):
            children = [self._measure(part) for pair in node.value for part in pair]
        else:
            children = []
        result = (
            1 + sum(values for values, _ in children),
            1 + max((levels for _, levels in children), default=0),
        )
        self._measured[id(node)] = result
        return result


def _problem_document(line: int, message: str, text: str = "") -> YamlDocument:
    return YamlDocument(None, problems=[YamlProblem(line, (), message)], text=text)


def read_config_text(path: Path) -> str | YamlProblem:
    """The text of ``path``, or the problem that stops it being read as a config: not a
    regular file (a FIFO or a device would block or never end) or larger than
    ``CONFIG_FILE_MAX_BYTES``. Never reads more than that many bytes (and one).

    Raises ``OSError`` when the file cannot be read at all, ``UnicodeDecodeError`` when it is
    not UTF-8.
    """
    # O_NONBLOCK: opening a FIFO would otherwise wait for a writer; a regular file ignores it.
    with open(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb", buffering=0) as file:
        info = os.fstat(file.fileno())
        if not stat.S_ISREG(info.st_mode):
            return YamlProblem(1, (), "not a regular file; a config is a text file")
        # Refused by its size when it says it is too large; read to one byte past the bound
        # at most when it does not (a file still growing).
        fits = info.st_size <= CONFIG_FILE_MAX_BYTES
        data = file.read(CONFIG_FILE_MAX_BYTES + 1) if fits else b""
    if not fits or len(data) > CONFIG_FILE_MAX_BYTES:
        size = max(info.st_size, len(data))
        return YamlProblem(
            1,
            (),
            f"file is {size / 1024 / 1024:.1f} MiB ({size:,} bytes); a config file may be at most "
            f"{CONFIG_FILE_MAX_BYTES // 1024 // 1024} MiB (is it the right file?)",
        )
    return data.decode("utf-8")


def load_yaml(path: Path) -> YamlDocument:
    """Read ``path``. Syntax errors and the limits above come back as problems (with their
    line), not exceptions.

    Raises ``OSError`` only when the file cannot be read at all, ``UnicodeDecodeError`` when
    it is not UTF-8.
    """
    text = read_config_text(path)
    if isinstance(text, YamlProblem):
        return YamlDocument(None, problems=[text])
    return parse_yaml_text(text)


def parse_yaml_text(text: str) -> YamlDocument:
    """``load_yaml`` for a text already in hand (a config version kept in the production
    store, read back by a report): the same limits, its size included, and problems instead of
    exceptions."""
    if len(text) > CONFIG_FILE_MAX_BYTES or len(text.encode("utf-8")) > CONFIG_FILE_MAX_BYTES:
        return _problem_document(
            1, f"text of {len(text):,} characters; a config file may be at most 1 MiB", text
        )
    try:
        # The reader checks the characters as it is made: a NUL or other control character
        # fails here, before any node.
        loader = _BoundedLoader(text)
        node = loader.get_single_node()
    except yaml.reader.ReaderError as error:
        line = text[: error.position].count("\n") + 1
        return _problem_document(
            line,
            f"character {chr(error.character)!r} (#x{error.character:04x}) is not allowed "
            "in YAML; only printable characters, tabs and line breaks",
            text,
        )
    except _LimitExceeded as error:
        line = error.problem_mark.line + 1 if error.problem_mark else 1
        return _problem_document(line, str(error.problem), text)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else 1
        what = " ".join(str(p) for p in (error.context, error.problem) if p)
        return _problem_document(line, f"YAML syntax error: {what}", text)
    except yaml.YAMLError as error:
        return _problem_document(1, f"YAML error: {error}", text)
    document = YamlDocument(None, text=text)
    try:
        if node is not None:
            document.data = _build(loader, node, (), document)
    finally:
        loader.dispose()
    return document


class _Unreadable:
    """A value that could not be constructed; its problem is already reported."""


UNREADABLE = _Unreadable()


def _construct(loader: yaml.SafeLoader, node: Node, location: Location, doc: YamlDocument) -> Any:
    """One node as ``safe_load`` would construct it, or ``UNREADABLE`` with a problem."""
    line = node.start_mark.line + 1
    if (
        isinstance(node, ScalarNode)
        and node.tag == INT_TAG
        and len(node.value) > INTEGER_MAX_CHARACTERS
    ):
        doc.problems.append(
            YamlProblem(
                line,
                location,
                f"an integer of {len(node.value):,} characters; a config's integers have at "
                f"most {INTEGER_MAX_CHARACTERS}",
            )
        )
        return UNREADABLE
    try:
        return loader.construct_object(node, deep=True)
    except (yaml.YAMLError, ValueError, OverflowError, TypeError) as error:
        # A value that matches a YAML type but is not one (2026-13-45 as a date, !!int abc),
        # or a tag that safe loading refuses (!!python/object).
        what = (error.problem or error) if isinstance(error, yaml.MarkedYAMLError) else error
        shown = node.value if isinstance(node.value, str) else node.tag
        shown = shown if len(shown) <= 40 else shown[:37] + "..."
        doc.problems.append(YamlProblem(line, location, f"cannot read {shown!r}: {what}"))
        return UNREADABLE


def _build(loader: yaml.SafeLoader, node: Node, location: Location, doc: YamlDocument) -> Any:
    doc.lines.setdefault(location, node.start_mark.line + 1)
    if isinstance(node, MappingNode):
        written = sum(1 for key_node, _ in node.value if key_node.tag != MERGE_TAG)
        try:
            loader.flatten_mapping(node)  # resolve YAML merge keys (<<) the way safe_load does
        except yaml.MarkedYAMLError as error:
            doc.problems.append(YamlProblem(node.start_mark.line + 1, location, str(error.problem)))
            return UNREADABLE
        # flatten_mapping puts the merged pairs first: a key written here overrides them, as
        # YAML means it to, and only a key written twice here is a duplicate.
        merged = len(node.value) - written
        result: dict[Any, Any] = {}
        first_line: dict[Any, int] = {}
        for index, (key_node, value_node) in enumerate(node.value):
            key = _construct(loader, key_node, location, doc)
            line = key_node.start_mark.line + 1
            if key is UNREADABLE:
                continue
            if not isinstance(key, str | int | float | bool) or key is None:
                doc.problems.append(
                    YamlProblem(line, location, f"keys must be plain names, got {key!r}")
                )
                continue
            if index < merged:
                doc.lines.setdefault((*location, key), line)
                result[key] = _build(loader, value_node, (*location, key), doc)
                continue
            if key in first_line:
                doc.problems.append(
                    YamlProblem(
                        line,
                        (*location, key),
                        f"duplicate key {key!r} (first given on line {first_line[key]}); "
                        "YAML would silently keep only the last one",
                    )
                )
            first_line.setdefault(key, line)
            # A key's own line names the field best: for a nested mapping the value starts
            # on the next line.
            doc.lines[(*location, key)] = line
            result[key] = _build(loader, value_node, (*location, key), doc)
        return result
    if isinstance(node, SequenceNode):
        return [_build(loader, item, (*location, i), doc) for i, item in enumerate(node.value)]
    return _construct(loader, node, location, doc)
