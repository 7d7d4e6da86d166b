"""Curved and bent seams in the simulated cell: welded with the laser tracking on, scored
against the truth.

A small part of the shape of ``config/parts/boom-hinge-boss.yaml`` (kept short for the test's
budget): a full circle around a round boss (two half-circle MOVE_CIRCULARs) and a bent fillet
with two blended corners (lines and blend arcs, one path that never stops). The true part lies
off its taught shape (an offset, a sine along the path); the torch must follow the true joint,
the correction along the local path normal.

The same run is recorded (``sensor.recording``) with the simulator's truth beside it, and
``cellctl replay``'s figures are checked on it: a circle's recording is the welded circle, not
the polyline of its three vertices (issue 17, stop 22).
"""

from __future__ import annotations

import asyncio
import json
import math

import pytest
import yaml

from cellctl.sensing.replay import compare, find_recordings, load_recording, load_truth, welded_path
from drivers.codecs.robot_protocol import MessageType
from rigs.cell import REPO, running_cell
from sim.truth.file import write_truth
from sim.truth.part import VisionScenario
from tests.test_tracking_cell import sensor_on

PART = "curved-coupon"
# Half the straight seams' 4x: on a curve a late look at the torch's position turns into a
# lateral error where the sensor's chord crosses the joint at a slant, and this test holds
# the torch to the goal figures (the straight seams' tests to looser ones).
TIME_SCALE = 2.0
# The sensor sits closer to the torch than the shipped 30 mm here, for a circle this small
# (a look-ahead's chord must cross the arc: a radius well above it) that keeps the test short.
LOOKAHEAD_MM = 15.0
CIRCLE_RADIUS_MM = 22.0
CIRCUMFERENCE_MM = 2 * math.pi * CIRCLE_RADIUS_MM
PROGRAM = {
    "name": PART,
    "description": "a boss fillet all round and a bent fillet, short",
    "planned_cycle_time_s": 90,
    "seams": [
        {
            "name": "boss",
            "order": 1,
            "joint": "fillet",
            "procedure": "mag-fillet-a4",
            "path": {
                "start": [350.0, -CIRCLE_RADIUS_MM, 8.0],
                "segments": [{"arc": {"centre": [350.0, 0.0, 8.0], "sweep_deg": 360}}],
            },
            "torch": {"work_angle_deg": 45, "travel_angle_deg": 10},
            "approach_clearance_mm": 30,
            "sensing": {"seam_finding": True, "search_range_mm": 8, "tracking": True},
        },
        {
            "name": "bent",
            "order": 2,
            "joint": "fillet",
            "procedure": "mag-fillet-a4",
            "path": {
                "start": [270.0, -120.0, 8.0],
                "segments": [
                    {"line": {"to": [290.0, -120.0, 8.0], "blend_radius_mm": 20}},
                    {"line": {"to": [315.0, -95.0, 8.0], "blend_radius_mm": 20}},
                    {"line": {"to": [350.0, -95.0, 8.0]}},
                ],
            },
            "torch": {"work_angle_deg": 45, "travel_angle_deg": 10},
            "approach_clearance_mm": 30,
            "sensing": {"seam_finding": True, "search_range_mm": 8, "tracking": True},
        },
    ],
}
# Off its taught shape: seam finding has the offset at the start to find (a shift, which on a
# circle is no longer a constant lateral offset further round), tracking the rest.
DRAWN = VisionScenario.model_validate(
    {
        "name": "drawn-curved",
        "deviations": [
            {"kind": "offset", "lateral_mm": 1.0, "vertical_mm": 0.3},
            # Two waves round the circle: the true joint closes on itself.
            {"kind": "sine", "lateral_amplitude_mm": 1.0, "wavelength_mm": CIRCUMFERENCE_MM / 2},
        ],
    }
)
# The goal figures (issue 17, at 1x): RMS 0.10 mm, max 0.25 mm. Here, at 2x on a machine the
# simulator shares with the controller and with other tests, the RMS holds the goal (0.02-0.05
# mm measured) and the max mostly does (0.06-0.13 mm); a late status under load has put
# single spikes of up to 0.28 mm on the bent seam's slanted crossings, hence the margin.
RMS_MM = 0.10
MAX_MM = 0.35


async def test_a_circle_and_a_bent_seam_are_tracked_on_the_true_joint(tmp_path):
    base = sensor_on(PART)
    recordings = tmp_path / "recordings"

    def edit(cell: dict) -> None:
        base(cell)
        # The simulator shares this process with the controller, and a weld this long keeps
        # tens of thousands of trajectory samples alive: a full garbage collection (80+ ms
        # on a busy machine) must not read as a lost link (the shipped 100 / 80 ms hold in
        # `make bench`, where the simulator has its own process).
        for device in ("plc", "power_source", "robot"):
            cell[device]["link"]["timeout_ms"] = 400
        cell["sensor"]["lookahead_mm"] = LOOKAHEAD_MM
        cell["sensor"]["recording"] = {
            "enabled": True,
            "folder": str(recordings),
            "min_free_disk_mb": 0,
            "write_queue_frames": 1000,  # the writer may fall behind on a loaded machine
        }
        (tmp_path / "config" / "parts" / f"{PART}.yaml").write_text(yaml.safe_dump(PROGRAM))
        cell["parts"].append(f"parts/{PART}.yaml")

    try:
        async with running_cell(tmp_path, TIME_SCALE, edit, vision=DRAWN) as rig:
            await rig.to_idle()
            record = await rig.weld_part(timeout_s=60)
            seams = await rig.controller.store.seams(record["id"])
            scores = {s["seam"]: s for s in rig.sim.tracking_score.figures()}
            circular_moves = rig.sim.robot.requests_received[MessageType.MOVE_CIRCULAR]
            write_truth(rig.sim.tracking_score.part, recordings / "truth.json", DRAWN.name)
        print(json.dumps(scores, indent=1))
        assert record["status"] == "complete"
        assert [s["verdict"] for s in seams] == ["good", "good"]
        # The circle as two half circles, each blend as one arc (the seam-finding shift kept them).
        assert circular_moves == 2 + 2
        for name in ("boss", "bent"):
            score = scores[name]
            assert score["samples"] > 1000
            # Open loop the torch would be off by the taught shape's error; tracked, it is on.
            assert score["taught_max_mm"] > 1.5
            assert score["rms_mm"] <= RMS_MM, (name, score)
            assert score["max_mm"] <= MAX_MM, (name, score)
        assert REPO.exists()
        replayed_on_the_recordings(recordings, scores)
    finally:
        # The recorder was closed on the loop's default executor (asyncio.to_thread): its
        # thread ends here, not after the test's leak check (asyncio.run would end it too).
        await asyncio.get_running_loop().shutdown_default_executor()


def replayed_on_the_recordings(recordings, scores: dict) -> None:
    """``cellctl replay``'s figures on the run's recordings: the welded path is the circle
    (the bent seam: lines and blend arcs), the replay with the recorded settings gives the
    corrections that were sent, and the recorded torch against the truth (at each
    correction, where it took effect) agrees with the simulator's own score of the torch
    (every physics step). With the path as the polyline of its vertices the circle was 88 mm
    long (of 138) and its truth file was refused (its start is its end)."""
    truth = load_truth(recordings / "truth.json")
    recorded = [load_recording(run) for run in find_recordings(recordings)]
    assert sorted(r.name for r in recorded) == ["bent", "boss"]
    figures = {}
    for recording in recorded:
        path = welded_path(recording)
        assert path.curved, recording.name
        if recording.name == "boss":
            assert path.closed
            assert path.length_mm == pytest.approx(CIRCUMFERENCE_MM, rel=1e-9)
        comparison = compare(recording, [], truth)
        figures[recording.name] = comparison.as_dict()
        assert comparison.correction_rms_mm < 0.01, recording.name
        assert comparison.recorded_error is not None
        rms, worst = comparison.recorded_error
        assert rms <= scores[recording.name]["rms_mm"] + 0.03, (recording.name, rms)
        assert worst <= MAX_MM, (recording.name, worst)
    print(json.dumps(figures, indent=1))
