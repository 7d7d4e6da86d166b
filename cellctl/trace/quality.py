"""Non-conformances: a bad seam opens one (``ProductionStore.record_seam``, in the seam's own
transaction); a repair weld is recorded against it; a user with the quality role releases or
scraps the part (OPC UA ``RecordRepair``, ``ReleasePart``, ``ScrapPart``; ``cellctl nc``).

One function per step, on the synchronous store (the controller runs them on its store's
worker thread, the command line directly), each checking what it is given and refusing with
``TraceRefused`` in the cell's words.
"""

from __future__ import annotations

from typing import Any

from cellctl.records.store import ProductionStore, StoreError
from cellctl.trace.identity import SHOWN_CHARS, TraceRefused

DECISIONS = {"release": "released", "scrap": "scrapped"}


def split_target(text: str) -> tuple[str, str]:
    """``"<NC id or serial> <note>"`` -> (target, note); both needed."""
    target, _, note = text.strip().partition(" ")
    if not target or not note.strip():
        raise TraceRefused(
            f"expected '<non-conformance id or serial> <note>', got {text[:SHOWN_CHARS]!r}"
        )
    return target, note.strip()


def open_ncs_of(store: ProductionStore, target: str) -> list[dict[str, Any]]:
    """The undecided non-conformances ``target`` names: one by its id, or every one of the
    last part welded with a serial."""
    if target.isdigit():
        nc = store.nonconformance(int(target))
        if nc is None:
            raise TraceRefused(f"no non-conformance {target}")
        if nc["status"] not in ("open", "repaired"):
            raise TraceRefused(
                f"non-conformance {target} is already {nc['status']} by {nc['decided_by']}"
            )
        return [nc]
    parts = store.parts_with_serial(target)
    if not parts:
        raise TraceRefused(f"no part with serial {target[:SHOWN_CHARS]!r}")
    undecided = [
        nc
        for nc in store.nonconformances(part_id=parts[-1]["id"])
        if nc["status"] in ("open", "repaired")
    ]
    if not undecided:
        raise TraceRefused(f"serial {target} (part {parts[-1]['id']}) has no open non-conformance")
    return undecided


def record_repair(store: ProductionStore, text: str, by: str, welder: str | None) -> str:
    target, description = split_target(text)
    answers = []
    for nc in open_ncs_of(store, target):
        try:
            repair = store.record_repair(nc["id"], by, welder, description, None)
        except StoreError as error:
            raise TraceRefused(str(error)) from None
        answers.append(f"repair {repair} recorded against non-conformance {nc['id']}")
    return "; ".join(answers)


def decide(store: ProductionStore, decision: str, text: str, by: str) -> str:
    """Release or scrap (``decision``) what ``text`` names; the note is kept with it."""
    status = DECISIONS[decision]
    target, note = split_target(text)
    decided = []
    for nc in open_ncs_of(store, target):
        try:
            store.decide_nonconformance(nc["id"], status, by, note)
        except StoreError as error:
            raise TraceRefused(str(error)) from None
        decided.append(str(nc["id"]))
    return f"non-conformance {', '.join(decided)} {status} by {by}: {note}"
