"""A part's weld record, read from the production store: what ``cellctl record SERIAL`` prints.

ISO 3834-2 asks that for each part it be known who welded it (the welder and their
qualification), to which procedure and revision, with which consumables, and what each seam
measured. ``part_record`` gathers that for one part: its trace (``part_trace``: serial, work
order, welder, lots, procedure revisions), every seam's and pass's summary (monitoring, heat
input, tracking and bead figures, interpass temperature, the arc's trace), its faults, and the
procedures as they were in the config version that welded it (for the bands the plots draw).
``cellctl.records.weld_record_pdf`` lays it out as a PDF.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from cellctl.config.models import Procedure
from cellctl.config.yaml_lines import parse_yaml_text
from cellctl.records.store import ProductionStore


class RecordNotFound(LookupError):
    """No part with that serial (or id) in the store; the message says what was looked for."""


@dataclass
class SeamRecord:
    row: dict[str, Any]  # the store's seam row
    summary: dict[str, Any]  # its summary_json
    procedure: Procedure | None  # as the part's config version had it (None: unreadable)

    @property
    def title(self) -> str:
        weld_pass = self.summary.get("weld_pass")
        if weld_pass:
            return (
                f"{self.row['seam']}, pass {weld_pass.get('number', '?')} "
                f"({weld_pass.get('kind', '?')}, layer {weld_pass.get('layer', '?')})"
            )
        return str(self.row["seam"])


@dataclass
class PartRecord:
    part: dict[str, Any]  # the store's part row, with its trace columns
    config_digest: str
    seams: list[SeamRecord]
    faults: list[dict[str, Any]]
    earlier_parts: list[dict[str, Any]] = field(default_factory=list)  # the same serial before
    # Its non-conformances, each with its repairs under "repairs".
    nonconformances: list[dict[str, Any]] = field(default_factory=list)

    @property
    def qualification(self) -> dict[str, str] | None:
        text = self.part.get("qualification_json")
        return json.loads(text) if text else None

    @property
    def lots(self) -> dict[str, str]:
        return json.loads(self.part.get("lots_json") or "{}")

    @property
    def procedures(self) -> dict[str, dict[str, str | None]]:
        return json.loads(self.part.get("procedures_json") or "{}")


def part_record(store: ProductionStore, serial: str, part_id: int | None = None) -> PartRecord:
    """The record of the last part welded with ``serial`` (or of part ``part_id`` among them)."""
    parts = store.parts_with_serial(serial)
    if not parts:
        raise RecordNotFound(f"no part with serial {serial!r} in {store.name}")
    if part_id is None:
        part = parts[-1]
    else:
        chosen = [p for p in parts if p["id"] == part_id]
        if not chosen:
            ids = ", ".join(str(p["id"]) for p in parts)
            raise RecordNotFound(f"serial {serial!r} has no part {part_id} (its parts: {ids})")
        part = chosen[0]
    procedures = _procedures(store.config_files(part["config_id"]))
    seams = []
    for row in store.seams(part["id"]):
        summary = json.loads(row["summary_json"])
        seams.append(SeamRecord(row, summary, procedures.get(row["procedure"])))
    return PartRecord(
        part=part,
        config_digest=_digest_of(store, part["config_id"]),
        seams=seams,
        faults=store.part_faults(part["id"]),
        earlier_parts=[p for p in parts if p["id"] < part["id"]],
        nonconformances=[
            {**nc, "repairs": store.repairs(nc["id"])}
            for nc in store.nonconformances(part_id=part["id"])
        ],
    )


def _digest_of(store: ProductionStore, config_id: int) -> str:
    for version in store.configs():
        if version["id"] == config_id:
            return str(version["digest"])
    return "?"


def _procedures(files: dict[str, str]) -> dict[str, Procedure]:
    """The procedures of a stored config version, by name (read with the loader's limits;
    one that no longer reads is left out, and its seams are drawn without bands)."""
    found: dict[str, Procedure] = {}
    for name, text in files.items():
        if "procedures/" not in name:
            continue
        document = parse_yaml_text(text)
        if document.problems:
            continue
        try:
            procedure = Procedure.model_validate(document.data)
        except ValidationError:
            continue
        found[procedure.name] = procedure
    return found
