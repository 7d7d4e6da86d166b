"""Where a part the controller's last stop interrupted goes on, from its records alone
(``cellctl.weld.resume``): the seams done with their verdicts from all their passes, the open
seam's next pass, its table as the re-scans left it, and the records that do not fit."""

from __future__ import annotations

import dataclasses
import json

import pytest

from cellctl.config.models import PartProgram
from cellctl.weld.passes import plan_passes, seam_of_passes
from cellctl.weld.resume import (
    ResumeRefused,
    rescan_counts,
    resume_point,
    root_path_of,
    table_after,
)
from tests.test_passes import SEAM, summary

PROGRAM = PartProgram.model_validate(
    {
        "name": "two-butts",
        "planned_cycle_time_s": 60,
        "seams": [
            SEAM.model_dump(mode="json"),
            {**SEAM.model_dump(mode="json"), "name": "second", "order": 2},
        ],
    }
)
ROOT_PATH = [[300.0, 0.0, 0.0], [300.2, 50.0, 0.1], [300.0, 100.0, 0.0]]


def row(seam: str, verdict: str, number: int, of: int, kind: str, **extra) -> dict:
    record = dataclasses.replace(summary(verdict, 10.0), seam=seam)
    record.weld_pass = {
        "number": number,
        "of": of,
        "kind": kind,
        "layer": number,
        "lateral_offset_mm": 0.0,
        "vertical_offset_mm": 3.0 * (number - 1),
        "reversed": False,
        **({"root_path_mm": ROOT_PATH} if number == 1 else {}),
        **extra,
    }
    return {"summary_json": json.dumps(record.as_dict())}


def test_a_part_goes_on_at_the_open_seams_first_pass_not_recorded():
    rows = [
        row("butt", "bad", 1, 3, "root"),
        row("butt", "good", 2, 3, "hot"),
        row("butt", "good", 3, 3, "fill"),
        row("second", "good", 1, 3, "root"),
    ]
    point = resume_point(PROGRAM, rows)
    # The first seam is done, bad from its root although its later passes were good.
    assert (point.seams_done, point.verdicts, point.next_pass) == (1, ["bad"], 2)
    assert root_path_of(point.passes) == [tuple(p) for p in ROOT_PATH]
    # The open seam's verdict will come from all its passes, the one before the stop too.
    second = PROGRAM.seams[1]
    bad_root = [dataclasses.replace(point.passes[0], verdict="bad")]
    assert seam_of_passes([*bad_root, summary("good", 5)], second).verdict == "bad"
    # Nothing recorded of a seam: it is welded from its start.
    assert resume_point(PROGRAM, rows[:3]).next_pass == 1
    assert resume_point(PROGRAM, rows[:3]).seams_done == 1


def test_the_table_is_read_back_as_the_rescans_left_it():
    # A fill left out before pass 3 of 4 (the table then 3 long), recorded on that pass.
    skipped = [
        row("butt", "good", 1, 4, "root"),
        row("butt", "good", 2, 3, "hot", rescan={"left_out": [{"pass": "pass 2 of 4"}]}),
    ]
    passes = resume_point(PROGRAM, skipped).passes
    table = table_after(SEAM, passes)
    assert [p.kind for p in table] == ["root", "hot", "fill"]
    assert table[2] == SEAM.passes[2]  # the tail as configured: offsets, angles, reversed
    assert rescan_counts(passes) == (1, 0)
    assert [p.label for p in plan_passes(SEAM, table)][2] == "pass 3 of 3, fill"
    # A fill added before the cap (4 passes then): the configured tail after it.
    added = [
        row("butt", "good", 1, 3, "root"),
        row("butt", "good", 2, 4, "fill", rescan={"changed": "a fill pass added: the groove"}),
    ]
    passes = resume_point(PROGRAM, added).passes
    assert [p.kind for p in table_after(SEAM, passes)] == ["root", "fill", "hot", "fill"]
    assert rescan_counts(passes) == (0, 1)


def test_records_that_do_not_fit_the_program_are_refused():
    with pytest.raises(ResumeRefused, match="seams that part program two-butts has not: other"):
        resume_point(PROGRAM, [row("other", "good", 1, 3, "root")])
    with pytest.raises(ResumeRefused, match=r"recorded as \[1, 3\]"):
        resume_point(PROGRAM, [row("butt", "good", 1, 3, "root"), row("butt", "good", 3, 3, "x")])
    everything = [row(s, "good", n, 3, "root") for s in ("butt", "second") for n in (1, 2, 3)]
    with pytest.raises(ResumeRefused, match="nothing to weld"):
        resume_point(PROGRAM, everything)
