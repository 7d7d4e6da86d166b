"""YAML loading that remembers where every value came from.

``load_yaml`` returns the plain data (dicts, lists, scalars, exactly as ``yaml.safe_load`` would)
and a table from each value's path (``("plc", "link", "port")``, ``("seams", 1, "path_mm")``)
to its 1-based line in the file, so that a validation error can say
``config/cell.yaml:14: plc.link.port: ...``. Duplicate keys, which plain YAML loading silently
resolves by keeping the last, are reported as errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode

Location = tuple[str | int, ...]


@dataclass
class YamlProblem:
    """A problem found while reading the file itself (syntax, duplicate keys)."""

    line: int
    location: Location
    message: str


@dataclass
class YamlDocument:
    data: Any
    lines: dict[Location, int] = field(default_factory=dict)
    problems: list[YamlProblem] = field(default_factory=list)

    def line_of(self, location: Location) -> int:
        """The line of ``location``, or of its nearest ancestor that the file has."""
        for end in range(len(location), -1, -1):
            line = self.lines.get(tuple(location[:end]))
            if line is not None:
                return line
        return 1


def load_yaml(path: Path) -> YamlDocument:
    """Read ``path``. Syntax errors come back as problems (with their line), not exceptions.

    Raises ``OSError`` only when the file cannot be read at all.
    """
    text = path.read_text(encoding="utf-8")
    try:
        # The reader checks the characters as it is made: a NUL or other control character
        # fails here, before any node.
        loader = yaml.SafeLoader(text)
        node = loader.get_single_node()
    except yaml.reader.ReaderError as error:
        line = text[: error.position].count("\n") + 1
        return YamlDocument(
            None,
            problems=[
                YamlProblem(
                    line,
                    (),
                    f"character {chr(error.character)!r} (#x{error.character:04x}) is not allowed "
                    "in YAML; only printable characters, tabs and line breaks",
                )
            ],
        )
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else 1
        what = " ".join(str(p) for p in (error.context, error.problem) if p)
        return YamlDocument(None, problems=[YamlProblem(line, (), f"YAML syntax error: {what}")])
    except yaml.YAMLError as error:
        return YamlDocument(None, problems=[YamlProblem(1, (), f"YAML error: {error}")])
    document = YamlDocument(None)
    try:
        if node is not None:
            document.data = _build(loader, node, (), document)
    finally:
        loader.dispose()
    return document


def _build(loader: yaml.SafeLoader, node: Node, location: Location, doc: YamlDocument) -> Any:
    doc.lines.setdefault(location, node.start_mark.line + 1)
    if isinstance(node, MappingNode):
        loader.flatten_mapping(node)  # resolve YAML merge keys (<<) the way safe_load does
        result: dict[Any, Any] = {}
        first_line: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if not isinstance(key, str | int | float | bool) or key is None:
                doc.problems.append(
                    YamlProblem(line, location, f"keys must be plain names, got {key!r}")
                )
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
    return loader.construct_object(node, deep=True)
