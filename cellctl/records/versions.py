"""Config versions: which config welded which part, and what changed between two versions.

The controller stores every config it runs with (all its files, under the SHA-256 of their
paths and texts) and links each part to it. ``cellctl config history`` lists the versions with
the parts welded under each; ``cellctl config diff A B`` compares two versions, each a digest
prefix from the store or a config file or folder on disk, and says what changed in the
engineer's terms: which procedure (and which part's seams weld with it), which part program and
seam, which cell setting, with the old and the new value.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cellctl.config import ConfigInvalid, load_cell_config
from cellctl.config.yaml_lines import parse_yaml_text
from cellctl.records.store import ProductionStore


class VersionError(ValueError):
    """A version that cannot be found or read; the message names it."""


# -- the records -----------------------------------------------------------------------------


# -- reading a version -----------------------------------------------------------------------


@dataclass(frozen=True)
class ConfigVersion:
    label: str  # what the engineer gave: a digest prefix or a path
    digest: str | None
    files: dict[str, str]  # path relative to cell.yaml -> text


def load_version(reference: str, store: ProductionStore | None) -> ConfigVersion:
    """A version from a cell config file, a folder holding cell.yaml, or a digest prefix."""
    path = Path(reference)
    if path.is_dir():
        path = path / "cell.yaml"
    if path.is_file():
        try:
            loaded = load_cell_config(path)
        except ConfigInvalid as invalid:
            raise VersionError(f"{reference}: invalid config: {invalid.errors[0]}") from None
        return ConfigVersion(reference, loaded.digest, loaded.files)
    if store is None:
        raise VersionError(f"{reference}: no such config file, and no production store to look in")
    try:
        matches = store.configs_by_prefix(reference)
    except ValueError:
        raise VersionError(
            f"{reference}: neither a config file or folder nor a config digest prefix"
        ) from None
    if not matches:
        raise VersionError(f"{reference}: no config version with that digest in {store.name}")
    if len(matches) > 1:
        digests = ", ".join(m["digest"][:12] for m in matches)
        raise VersionError(f"{reference}: ambiguous, matches {digests}; give more digits")
    found = matches[0]
    return ConfigVersion(reference, found["digest"], json.loads(found["files_json"]))


# -- comparing -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    subject: str  # "procedure mag-fillet-a4", "part bracket-a12 seam gusset-left", "cell"
    field: str  # dotted path inside the subject: "bands.current_a.max"
    old: Any  # None: absent
    new: Any


def _subject_of(name: str, data: Any) -> str:
    label = data.get("name") if isinstance(data, dict) else None
    if name.startswith("parts/"):
        return f"part {label or Path(name).stem}"
    if name.startswith("procedures/") or "procedures" in Path(name).parts:
        return f"procedure {label or Path(name).stem}"
    return "cell" if Path(name).name == "cell.yaml" else f"file {name}"


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted paths to leaves; a list of named items (seams) is keyed by their names."""
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for key, value in data.items():
            out.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if (
        isinstance(data, list)
        and data
        and all(isinstance(item, dict) and "name" in item for item in data)
    ):
        out = {}
        for item in data:
            out.update(_flatten(item, f"{prefix}[{item['name']}]"))
        return out
    return {prefix: data}


def _parse(name: str, text: str) -> Any:
    """A stored file's data for comparing; read with the config loader's limits (a stored
    text is read back as carefully as a file), its whole text when it cannot be read."""
    document = parse_yaml_text(text)
    return {"(text)": text} if document.problems else document.data


def diff_versions(old: ConfigVersion, new: ConfigVersion) -> list[Change]:
    changes: list[Change] = []
    for name in sorted(set(old.files) | set(new.files)):
        before = _parse(name, old.files[name]) if name in old.files else None
        after = _parse(name, new.files[name]) if name in new.files else None
        subject = _subject_of(name, after if after is not None else before)
        if before is None or after is None:
            changes.append(Change(subject, f"(file {name})",
                                  "present" if before is not None else None,
                                  "present" if after is not None else None))  # fmt: skip
            continue
        flat_old, flat_new = _flatten(before), _flatten(after)
        for key in sorted(set(flat_old) | set(flat_new), key=_seam_first):
            if flat_old.get(key) != flat_new.get(key):
                seam_subject, field = _split_seam(subject, key)
                changes.append(Change(seam_subject, field, flat_old.get(key), flat_new.get(key)))
    return changes


def _seam_first(key: str) -> tuple[int, str]:
    return (1 if key.startswith("seams[") else 0, key)


def _split_seam(subject: str, key: str) -> tuple[str, str]:
    """``seams[gusset-left].procedure`` of a part -> (part ... seam gusset-left, procedure)."""
    if subject.startswith("part ") and key.startswith("seams["):
        seam, _, rest = key[len("seams[") :].partition("]")
        return f"{subject} seam {seam}", rest.lstrip(".") or "(seam)"
    return subject, key


def procedure_users(version: ConfigVersion) -> dict[str, list[str]]:
    """Procedure name -> ``part/seam`` that weld with it in this version."""
    users: dict[str, list[str]] = {}
    for name, text in version.files.items():
        if not name.startswith("parts/"):
            continue
        data = _parse(name, text)
        if not isinstance(data, dict):
            continue
        for seam in data.get("seams") or []:
            if isinstance(seam, dict) and "procedure" in seam:
                users.setdefault(str(seam["procedure"]), []).append(
                    f"{data.get('name')}/{seam.get('name')}"
                )
    # Sorted: the files come in the order they were read (a folder, the store's JSON), and
    # the same version must read the same whichever way it came.
    return {procedure: sorted(welds) for procedure, welds in users.items()}


def _show(value: Any) -> str:
    if value is None:
        return "(absent)"
    return json.dumps(value) if isinstance(value, (list, dict, str)) else str(value)


def format_diff(old: ConfigVersion, new: ConfigVersion, changes: list[Change]) -> list[str]:
    def name(version: ConfigVersion) -> str:
        digest = (
            f" ({version.digest[:12]})"
            if version.digest and version.digest[:12] not in (version.label)
            else ""
        )
        return version.label + digest

    lines = [f"config diff {name(old)} -> {name(new)}"]
    if not changes:
        lines.append("  no differences")
        return lines
    users = {**procedure_users(old), **procedure_users(new)}
    subject = None
    for change in changes:
        if change.subject != subject:
            subject = change.subject
            heading = subject
            if subject.startswith("procedure "):
                welds = users.get(subject.removeprefix("procedure "), [])
                if welds:
                    heading += f" (welds {', '.join(welds)})"
            lines.append(heading)
        lines.append(f"  {change.field}: {_show(change.old)} -> {_show(change.new)}")
    return lines


# -- history ---------------------------------------------------------------------------------


def format_history(store: ProductionStore) -> list[str]:
    versions = store.configs()
    lines = [
        f"{'version':<12}  {'first used':<19}  {'parts':>5} {'good':>5} {'bad':>4}  "
        f"{'part ids':<11}  welded between"
    ]
    previous: ConfigVersion | None = None
    for version in versions:
        stamp = dt.datetime.fromtimestamp(version["first_used_at"]).strftime("%Y-%m-%d %H:%M:%S")
        ids = f"{version['first_part']}..{version['last_part']}" if version["parts"] else "-"
        span = (
            f"{_clock(version['first_part_at'])} .. {_clock(version['last_part_at'])}"
            if version["parts"]
            else "-"
        )
        lines.append(
            f"{version['digest'][:12]:<12}  {stamp:<19}  {version['parts']:>5} "
            f"{version['good'] or 0:>5} {version['bad'] or 0:>4}  {ids:<11}  {span}"
        )
        current = ConfigVersion(version["digest"][:12], version["digest"],
                                store.config_files(version["id"]))  # fmt: skip
        if previous is not None:
            changes = diff_versions(previous, current)
            subjects = sorted({c.subject for c in changes})
            lines.append(
                f"{'':<12}  changed from {previous.label}: "
                + (", ".join(subjects) if subjects else "nothing")
            )
        previous = current
    if not versions:
        lines.append("(no config versions recorded)")
    return lines


def _clock(at: float | None) -> str:
    return "-" if at is None else dt.datetime.fromtimestamp(at).strftime("%m-%d %H:%M")
