"""Config validation: every error names its file, line and field, and all errors are listed.

Each broken config is the shipped config/ tree with one edit: the case names the file, the text
replaced, the replacement, and the error expected. The expected line is found by looking for
``anchor`` (by default the replacement's first line) in the edited file, so the cases keep
working when the shipped files grow.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from cellctl.config import ConfigInvalid, load_cell_config


@dataclass(frozen=True)
class Broken:
    id: str
    file: str  # relative to config/
    old: str
    new: str
    field: str  # expected field path in the message ("" for file-level problems)
    message: str  # expected text after the field
    anchor: str | None = None  # text on the expected line (default: first line of new)


BOOM = "parts/loader-boom-side-plate.yaml"  # its seam has a pass table
# The re-scan the shipped boom has (the broken cases below change it).
BOOM_RESCAN = (
    "    rescan: {max_offset_change_mm: 4.0, max_extra_passes: 1, max_skipped_passes: 1}\n"
)

CASES = [
    Broken("port-not-a-number", "cell.yaml", "port: 5020", "port: 5o2",
           "plc.link.port", 'expected an integer, got "5o2"'),
    Broken("misspelt-key", "cell.yaml", "    timeout_ms: 100\n", "    timout_ms: 100\n",
           "plc.link.timout_ms", 'unknown key "timout_ms" (did you mean "timeout_ms"?)'),
    Broken("odd-baud", "cell.yaml", "baud: 115200\n    # N for", "baud: 115201\n    # N for",
           "power_source.link.baud", "115201 is not a standard rate"),
    Broken("bad-parity", "cell.yaml", "parity: N", "parity: X",
           "power_source.link.parity", 'expected one of "N", "E" or "O", got "X"'),
    Broken("unknown-transport", "cell.yaml", "transport: tcp", "transport: udp",
           "plc.link", 'expected one of \'tcp\', \'rtu\', got "udp"', anchor="link:"),
    Broken("duplicate-key", "cell.yaml", "    port: 5020\n", "    port: 5020\n    port: 5021\n",
           "plc.link.port", "duplicate key 'port' (first given on line", anchor="port: 5021"),
    Broken("yaml-syntax", "cell.yaml", "      x: {min: -900, max: 900}",
           "      x: {min: -900, max: 900", "", "YAML syntax error", anchor="y: {min: -900"),
    Broken("overlapping-bits", "cell.yaml", "door_closed:         {address: 0, type: bool, bit: 1}",
           "door_closed:         {address: 0, type: bool, bit: 0}", "plc.registers",
           "signals estop_chain_ok, door_closed overlap at register 0", anchor="registers:"),
    Broken("missing-required-input", "cell.yaml",
           "      estop_chain_ok:      {address: 0, type: bool, bit: 0, description: e-stop chain "
           "closed}\n", "", "plc", "registers.inputs lacks estop_chain_ok", anchor="plc:"),
    Broken("watchdog-too-short", "cell.yaml", "watchdog_timeout_ms: 1000",
           "watchdog_timeout_ms: 250", "plc.heartbeat.watchdog_timeout_ms",
           "must be at least 3 heartbeat periods (300)"),
    Broken("heartbeat-not-an-output", "cell.yaml", "    output: heartbeat",
           "    output: heart_beat", "plc", "heartbeat.output 'heart_beat' is not an output",
           anchor="plc:"),
    Broken("workspace-inverted", "cell.yaml", "z: {min: -50, max: 900}", "z: {min: 900, max: -50}",
           "robot.limits.workspace_mm.z.max", "max (-50.0) must be above min (900.0)"),
    Broken("part-file-missing", "cell.yaml", "  - parts/plate-v60.yaml", "  - parts/plate-v61.yaml",
           "parts[1]", "part program file not found"),
    Broken("point-outside-workspace", "parts/bracket-a12.yaml", "- [400.0,  75.0, 8.0]",
           "- [400.0,  975.0, 8.0]", "seams[0].path_mm[1]",
           "point [400.0, 975.0, 8.0] mm is outside the robot's workspace"),
    Broken("unknown-procedure", "parts/plate-v60.yaml", "procedure: mag-vgroove-root",
           "procedure: mag-vgroove-rot", "seams[0].procedure",
           'procedure "mag-vgroove-rot" not found'),
    Broken("duplicate-seam-order", "parts/bracket-a12.yaml", "    order: 2", "    order: 1",
           "", "seam order 1 is used twice", anchor="name: bracket-a12"),
    Broken("one-point-path", "parts/plate-v60.yaml", "      - [500.0, 100.0, 0.0]\n", "",
           "seams[0].path_mm", "needs at least 2 item(s), got 1", anchor="path_mm:"),
    Broken("unknown-joint", "parts/plate-v60.yaml", "joint: v_groove_butt", "joint: butt",
           "seams[0].joint", 'expected one of "fillet", "v_groove_butt", "square_butt" or "lap"'),
    Broken("blend-longer-than-its-line", "parts/boom-hinge-boss.yaml",
           "- line: {to: [580.0, -140.0, 20.0], blend_radius_mm: 25}",
           "- line: {to: [580.0, -140.0, 20.0], blend_radius_mm: 250}",
           "seams[1].path.segments[1].line.blend_radius_mm", "the blend radius needs"),
    Broken("arc-tighter-than-the-robot", "parts/boom-hinge-boss.yaml",
           "arc: {centre: [600.0, 0.0, 20.0], sweep_deg: 360}",
           "arc: {centre: [600.0, -48.0, 20.0], sweep_deg: 360}",
           "seams[0].path.segments[0].arc",
           "arc radius 2.0 mm is below the robot's min_arc_radius_mm 5"),
    Broken("arc-through-a-line", "parts/boom-hinge-boss.yaml",
           "arc: {centre: [600.0, 0.0, 20.0], sweep_deg: 360}",
           "arc: {via: [650.0, -50.0, 20.0], to: [700.0, -50.0, 20.0]}",
           "seams[0].path.segments[0].arc", "lie on one line"),
    Broken("arc-of-two-forms", "parts/boom-hinge-boss.yaml",
           "arc: {centre: [600.0, 0.0, 20.0], sweep_deg: 360}",
           "arc: {centre: [600.0, 0.0, 20.0], sweep_deg: 360, to: [1.0, 2.0, 20.0]}",
           "seams[0].path.segments[0].arc", "an arc is either {via, to} or {centre, sweep_deg}"),
    Broken("path-and-path-mm", "parts/boom-hinge-boss.yaml",
           "    path:\n      start: [600.0, -50.0, 20.0]",
           "    path_mm: [[0, 0, 0], [1, 0, 0]]\n    path:\n      start: [600.0, -50.0, 20.0]",
           "seams[0]", "a seam has either path_mm (a polyline) or path (lines and arcs)",
           anchor="name: boss-fillet"),
    Broken("current-outside-band", "procedures/mag-fillet-a4.yaml", "current_a: 220\n",
           "current_a: 250\n", "current_a", "current_a 250 lies outside its band 200..240"),
    Broken("current-above-machine", "cell.yaml", "max_current_a: 400", "max_current_a: 200",
           "current_a", "220 is above the power source's max_current_a 200",
           anchor="current_a: 220"),
    Broken("voltage-as-text", "procedures/mag-vgroove-root.yaml", "voltage_v: 19.0",
           "voltage_v: nineteen", "voltage_v", 'expected a number, got "nineteen"'),
    Broken("procedure-renamed", "procedures/mag-vgroove-root.yaml", "name: mag-vgroove-root",
           "name: vgroove-root", "name", 'name "vgroove-root" differs from its file name'),
    Broken("band-inverted", "procedures/mag-vgroove-root.yaml",
           "voltage_v: {min: 18.0, max: 20.5}", "voltage_v: {min: 20.5, max: 18.0}",
           "bands.voltage_v.max", "max (18) must be above min (20.5)"),
    Broken("missing-travel-speed", "procedures/mag-fillet-a4.yaml",
           "travel_speed_mm_per_s: 8.0\n", "", "travel_speed_mm_per_s", "missing (required)",
           anchor="name: mag-fillet-a4"),
    Broken("unknown-active-part", "cell.yaml", "active_part: bracket-a12",
           "active_part: bracket-a13", "controller.cycle.active_part",
           '"bracket-a13" is not one of the part programs '
           '(boom-hinge-boss, bracket-a12, coupon-fillet-80, coupon-fillet-touch, '
           'loader-boom-side-plate, '
           'plate-v60)'),
    Broken("speed-above-robot", "cell.yaml", "max_speed_mm_per_s: 500", "max_speed_mm_per_s: 5",
           "seams[0].procedure", "travels at 8 mm/s, above the robot's max_speed_mm_per_s 5",
           anchor="procedure: mag-fillet-a4"),
    Broken("nul-character", "cell.yaml", "  name: cell-01", "  name: cell\x00-01",
           "", "character '\\x00' (#x0000) is not allowed in YAML"),
    Broken("zero-length-segment", "parts/bracket-a12.yaml", "- [400.0,  75.0, 8.0]",
           "- [400.0, -75.0, 8.0]", "seams[0].path_mm", "path_mm points 0 and 1 coincide",
           anchor="path_mm:"),
    Broken("approach-clearance-huge", "parts/plate-v60.yaml", "approach_clearance_mm: 50",
           "approach_clearance_mm: 5000", "seams[0].approach_clearance_mm", "at most 300"),
    Broken("negative-cycle-time", "parts/plate-v60.yaml", "planned_cycle_time_s: 55",
           "planned_cycle_time_s: -5", "planned_cycle_time_s", "greater than 0"),
    Broken("search-range-huge", "parts/plate-v60.yaml", "search_range_mm: 10",
           "search_range_mm: 500", "seams[0].sensing.search_range_mm", "at most 50"),
    Broken("travel-angle-impossible", "parts/plate-v60.yaml", "travel_angle_deg: 5",
           "travel_angle_deg: 60", "seams[0].torch.travel_angle_deg", "at most 30"),
    Broken("touch-direction-not-unit", "parts/coupon-fillet-touch.yaml",
           "direction: [0, 0, -1], distance_mm: 30, expect_mm: 17",
           "direction: [0, 0, -2], distance_mm: 30, expect_mm: 17",
           "touch_frame.searches[0].direction", "is not a unit vector", anchor="name: base"),
    Broken("touch-distance-negative", "parts/coupon-fillet-touch.yaml",
           "direction: [0, 0, -1], distance_mm: 25, expect_mm: 12",
           "direction: [0, 0, -1], distance_mm: -25, expect_mm: 12",
           "seams[0].sensing.touch.searches[0].distance_mm", "greater than 0",
           anchor="name: start-base"),
    Broken("touch-start-outside-workspace", "parts/coupon-fillet-touch.yaml",
           "start_mm: [280.0, 0.0, 25.0]", "start_mm: [280.0, 0.0, 2500.0]",
           "touch_frame.searches[0].start_mm", "outside the robot's workspace",
           anchor="name: base"),
    Broken("crater-current-negative", "procedures/mag-fillet-a4.yaml", "  current_a: 150",
           "  current_a: -150", "crater_fill.current_a", "greater than 0"),
    Broken("scan-period-zero", "cell.yaml", "scan_period_ms: 20", "scan_period_ms: 0",
           "plc.scan_period_ms", "at least"),
    # The weave (issue 17): every setting checked, nothing that silently does nothing.
    Broken("weave-unknown-pattern", "procedures/mag-vgroove-root.yaml", "pattern: triangle",
           "pattern: zigzag", "weave.pattern", 'expected one of "none", "triangle", "sine"'),
    Broken("weave-without-frequency", "procedures/mag-vgroove-root.yaml",
           "  frequency_hz: 2.0\n", "", "weave",
           "weave triangle needs one of frequency_hz or pitch_mm", anchor="weave:"),
    Broken("weave-frequency-and-pitch", "procedures/mag-vgroove-root.yaml",
           "  frequency_hz: 2.0\n", "  frequency_hz: 2.0\n  pitch_mm: 3\n", "weave.pitch_mm",
           "pitch_mm given beside frequency_hz: give one or the other", anchor="pitch_mm: 3"),
    Broken("weave-dwell-on-a-triangle", "procedures/mag-vgroove-root.yaml",
           "  plane_angle_deg: 0\n", "  plane_angle_deg: 0\n  dwell_left_ms: 100\n",
           "weave.dwell_left_ms", "given, but weave triangle has no dwell: use trapezoid",
           anchor="dwell_left_ms: 100"),
    Broken("weave-trapezoid-without-dwell", "procedures/mag-vgroove-root.yaml",
           "pattern: triangle", "pattern: trapezoid", "weave.pattern",
           "pattern trapezoid needs dwell_left_ms and/or dwell_right_ms above 0"),
    Broken("weave-dwells-fill-the-period", "procedures/mag-vgroove-root.yaml",
           "pattern: triangle\n", "pattern: trapezoid\n  dwell_left_ms: 250\n"
           "  dwell_right_ms: 250\n", "weave.dwell_left_ms",
           "leave too little of the 500 ms weave period", anchor="dwell_left_ms: 250"),
    Broken("weave-amplitude-twice", "procedures/mag-vgroove-root.yaml",
           "  amplitude_mm: 1.5\n", "  amplitude_mm: 1.5\n  amplitude_left_mm: 2\n",
           "weave.amplitude_mm", "give one or the other, not both", anchor="amplitude_mm: 1.5"),
    Broken("weave-amplitude-huge", "procedures/mag-vgroove-root.yaml", "amplitude_mm: 1.5",
           "amplitude_mm: 15", "weave.amplitude_mm", "must be at most 10, got 15"),
    Broken("weave-none-with-settings", "procedures/mag-fillet-a4.yaml", "  pattern: none\n",
           "  pattern: none\n  amplitude_mm: 2\n", "weave.amplitude_mm",
           "set, yet pattern none makes no weave", anchor="amplitude_mm: 2"),
    Broken("weave-wider-than-the-robot", "cell.yaml", "max_weave_amplitude_mm: 8",
           "max_weave_amplitude_mm: 1", "weave.amplitude_mm",
           "1.5 mm is above the robot's max_weave_amplitude_mm 1", anchor="amplitude_mm: 1.5"),
    Broken("weave-faster-than-the-robot", "cell.yaml", "max_weave_speed_mm_per_s: 100",
           "max_weave_speed_mm_per_s: 5", "weave.frequency_hz",
           "swing across the seam at 12 mm/s, above the robot's max_weave_speed_mm_per_s 5",
           anchor="frequency_hz: 2.0"),
    # Hostile input (issue 14): what YAML itself cannot construct, and what would make the
    # loader run out of stack, time or memory, is a problem with its line, never a traceback.
    Broken("impossible-date", "cell.yaml", "  name: cell-01", "  name: 2026-13-45",
           "cell.name", "cannot read '2026-13-45': month must be in 1..12"),
    Broken("int-tag-on-text", "cell.yaml", "port: 5020", "port: !!int fifty",
           "plc.link.port", "cannot read 'fifty': invalid literal for int()"),
    Broken("python-tag", "cell.yaml", "  name: cell-01", "  name: !!python/object:os.system x",
           "cell.name", "could not determine a constructor for the tag"),
    Broken("huge-integer", "cell.yaml", "port: 5020", "port: " + "9" * 5000,
           "plc.link.port", "an integer of 5,000 characters; a config's integers have at most 40"),
    Broken("base-60-integer-huge", "cell.yaml", "port: 5020", "port: 1" + ":59" * 5000,
           "plc.link.port", "an integer of 15,001 characters"),
    Broken("deep-nesting", "parts/plate-v60.yaml", "planned_cycle_time_s: 55",
           "planned_cycle_time_s: " + "[" * 10_000 + "]" * 10_000, "",
           "nested deeper than 32 levels", anchor="planned_cycle_time_s: [[["),
    Broken("alias-loop", "cell.yaml", "  name: cell-01", "  name: &me [*me]", "",
           "alias *me is inside the value it names (a loop)"),
    Broken("part-file-outside-config", "cell.yaml", "  - parts/plate-v60.yaml",
           "  - ../config/parts/plate-v60.yaml", "parts[1]",
           "must be a path inside the config folder"),
    Broken("part-file-absolute", "cell.yaml", "  - parts/plate-v60.yaml", "  - /etc/hostname",
           "parts[1]", 'part program "/etc/hostname" must be a path inside the config folder'),
    Broken("preheat-above-interpass", "procedures/mag-fillet-a4.yaml", "preheat_min_c: 5",
           "preheat_min_c: 300", "temperature.preheat_min_c",
           "preheat_min_c 300 must lie below interpass_max_c 250"),
    Broken("no-pyrometer-for-interpass-limits", "cell.yaml",
           "      part_temperature_c:  {address: 7,", "      other_analogue:  {address: 7,",
           "temperature", "the PLC's register map has no input 'part_temperature_c'",
           anchor="temperature:"),
    # A multi-pass seam's pass table (issue 17), each problem at its pass's line.
    Broken("pass-unknown-procedure", BOOM, "procedure: mag-boom-hot,",
           "procedure: mag-boom-hott,", "seams[0].passes[1].procedure",
           'procedure "mag-boom-hott" not found'),
    Broken("pass-unknown-kind", BOOM, "kind: hot,", "kind: warm,",
           "seams[0].passes[1].kind", 'expected one of "root", "hot", "fill" or "cap", got "warm"'),
    Broken("first-pass-not-the-root", BOOM, "{kind: root, layer: 1}",
           "{kind: hot, layer: 1}", "seams[0].passes[0].kind",
           "the first pass must be the root, not a hot pass"),
    Broken("root-pass-with-an-offset", BOOM, "{kind: root, layer: 1}",
           "{kind: root, layer: 1, vertical_offset_mm: 2}", "seams[0].passes[0].vertical_offset_mm",
           "the root pass must be layer 1, without offsets"),
    Broken("second-root-pass", BOOM, "{kind: hot, layer: 2,", "{kind: root, layer: 2,",
           "seams[0].passes[1].kind", "a second root pass"),
    Broken("pass-layer-goes-down", BOOM,
           "{kind: fill, layer: 4, procedure: mag-boom-fill, lateral_offset_mm: 3.3",
           "{kind: fill, layer: 2, procedure: mag-boom-fill, lateral_offset_mm: 3.3",
           "seams[0].passes[4].layer", "layer 2 is below the pass before it (layer 4)"),
    Broken("pass-torch-beyond-its-angles", BOOM, "travel_angle_change_deg: 5, reversed: true}",
           "travel_angle_change_deg: 30, reversed: true}",
           "seams[0].passes[7].travel_angle_change_deg",
           "the torch at 35° (the seam's angle plus this change) is outside -30..30°"),
    Broken("reversed-pass-weave-without-a-mirror", "procedures/mag-boom-hot.yaml",
           "  pattern: triangle\n  amplitude_mm: 2.0\n",
           "  pattern: l\n  amplitude_mm: 2.0\n  plane_angle_deg: -10\n",
           "seams[0].passes[1].reversed",
           "mirrored it cannot run: plane angle 100° is not in -90..90°",
           anchor="{kind: hot, layer: 2"),
    # The WPS against its qualification (cellctl.config.qualification).
    Broken("setpoint-outside-qualified-range", "procedures/mag-fillet-a4.yaml",
           "  current_a: {min: 190, max: 250}", "  current_a: {min: 190, max: 215}",
           "current_a", "220 lies outside the range qualified by WPQR-0398",
           anchor="current_a: 220"),
    Broken("band-outside-qualified-range", "procedures/mag-boom-root.yaml",
           "  voltage_v: {min: 17.0, max: 20.5}", "  voltage_v: {min: 18.0, max: 20.5}",
           "bands.voltage_v", "band 17.5..19.5 reaches outside the range qualified",
           anchor="voltage_v: {min: 17.5"),
    Broken("heat-input-outside-qualified-range", "procedures/mag-boom-fill.yaml",
           "  heat_input_kj_per_mm: {min: 0.7, max: 1.2}",
           "  heat_input_kj_per_mm: {min: 0.70, max: 0.90}", "qualified.heat_input_kj_per_mm",
           "the setpoints give a heat input of 0.943 kJ/mm"),
    Broken("plate-thicker-than-qualified", "parts/plate-v60.yaml",
           "plate_thickness_mm: 10", "plate_thickness_mm: 25", "seams[0].plate_thickness_mm",
           "plate 25 mm lies outside the thickness range 5..20 mm that procedure "
           "'mag-vgroove-root' is qualified for"),
    Broken("plc-serials-without-registers", "cell.yaml", "    sources: [operator]",
           "    sources: [plc, operator]", "traceability.serial.sources",
           "serials from the plc need its register map to have serial_strobe"),
    Broken("order-for-an-unknown-program", "cell.yaml", "  lots_required: false",
           "  lots_required: false\n  work_orders:\n    part_numbers: {X-1: no-such-part}",
           "traceability.work_orders.part_numbers.X-1",
           '"no-such-part" is not one of the part programs', anchor="part_numbers:"),
    Broken("welder-expiry-not-a-date", "cell.yaml", "expires: 2028-06-30",
           "expires: next year", "traceability.welders[0].qualification.expires",
           "Input should be a valid date or datetime"),
    Broken("qualified-without-wpqr", "procedures/mag-fillet-a4.yaml",
           "wpqr: WPQR-0398 (ISO 15614-1, t=10 mm FW)\n", "", "qualified",
           "qualified ranges given without the revision and the wpqr", anchor="qualified:"),
    Broken("rescan-skips-more-than-the-fills", BOOM,
           BOOM_RESCAN + "    passes:\n      - {kind: root, layer: 1}\n      - {kind: hot, "
           "layer: 2, procedure: mag-boom-hot, vertical_offset_mm: 3.5, reversed: true}\n"
           "      - {kind: fill",
           "    rescan: {max_skipped_passes: 5, max_extra_passes: 0}\n    passes:\n      - {kind: "
           "root, layer: 1}\n      - {kind: hot, layer: 2, procedure: mag-boom-hot, "
           "vertical_offset_mm: 3.5, reversed: true}\n      - {kind: hot",
           "seams[0].rescan.max_skipped_passes",
           "5 passes may be left out, but the table has 4 fill passes",
           anchor="rescan:"),
    Broken("rescan-without-the-sensor", BOOM, "tracking: true}\n",
           "tracking: false}\n",
           "seams[0].rescan", "a re-scan needs the sensor: sensing.tracking is off",
           anchor="rescan:"),
    Broken("rescan-limit-out-of-range", BOOM, BOOM_RESCAN,
           "    rescan: {max_offset_change_mm: 0}\n",
           "seams[0].rescan.max_offset_change_mm", "greater than 0", anchor="rescan:"),
]  # fmt: skip


@pytest.fixture
def config_copy(repo: Path, tmp_path: Path) -> Path:
    target = tmp_path / "config"
    shutil.copytree(repo / "config", target)
    return target


def _break(config: Path, case: Broken) -> Path:
    path = config / case.file
    text = path.read_text()
    assert case.old in text, f"case {case.id}: {case.old!r} not in {case.file}"
    path.write_text(text.replace(case.old, case.new, 1))
    return path


# Where the error shows when it is not in the edited file (a limit in cell.yaml that a part
# program or procedure breaks).
ERROR_FILE = {
    "current-above-machine": "procedures/mag-fillet-a4.yaml",
    "speed-above-robot": "parts/bracket-a12.yaml",
    "no-pyrometer-for-interpass-limits": "procedures/mag-fillet-a4.yaml",
    "weave-wider-than-the-robot": "procedures/mag-vgroove-root.yaml",
    "weave-faster-than-the-robot": "procedures/mag-vgroove-root.yaml",
    "reversed-pass-weave-without-a-mirror": BOOM,
}


def _expected_line(case: Broken, config: Path) -> int:
    anchor = case.anchor or case.new.splitlines()[0]
    anchor_file = config / ERROR_FILE.get(case.id, case.file)
    for number, line in enumerate(anchor_file.read_text().splitlines(), start=1):
        if anchor.strip() in line:
            return number
    raise AssertionError(f"anchor {anchor!r} not found in {anchor_file}")


def test_the_shipped_config_is_valid(repo: Path):
    loaded = load_cell_config(repo / "config" / "cell.yaml")
    assert set(loaded.parts) == {
        "bracket-a12",
        "coupon-fillet-80",
        "coupon-fillet-touch",
        "plate-v60",
        "loader-boom-side-plate",
        "boom-hinge-boss",
    }
    assert len(loaded.parts["bracket-a12"].seams) == 2
    assert loaded.parts["plate-v60"].seams[0].joint == "v_groove_butt"
    assert set(loaded.files) == {
        "cell.yaml",
        "parts/bracket-a12.yaml",
        "parts/coupon-fillet-80.yaml",
        "parts/coupon-fillet-touch.yaml",
        "parts/plate-v60.yaml",
        "parts/boom-hinge-boss.yaml",
        BOOM,
        "procedures/mag-boom-cap.yaml",
        "procedures/mag-boom-fill.yaml",
        "procedures/mag-boom-hot.yaml",
        "procedures/mag-boom-root.yaml",
        "procedures/mag-fillet-a4.yaml",
        "procedures/mag-vgroove-root.yaml",
    }
    boom = loaded.parts["loader-boom-side-plate"].seams[0]
    assert len(boom.passes) >= 6
    assert len({p.layer for p in boom.passes}) >= 4
    assert len(loaded.digest) == 64


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_a_broken_config_names_file_line_and_field(case: Broken, config_copy: Path):
    broken_file = _break(config_copy, case)
    with pytest.raises(ConfigInvalid) as invalid:
        load_cell_config(config_copy / "cell.yaml")
    line = _expected_line(case, config_copy)
    where = config_copy / ERROR_FILE.get(case.id, case.file)
    field = f" {case.field}:" if case.field else ""
    prefix = f"{where}:{line}:{field} "
    messages = [str(e) for e in invalid.value.errors]
    matching = [m for m in messages if m.startswith(prefix) and case.message in m]
    assert matching, f"expected '{prefix}...{case.message}...' among:\n" + "\n".join(messages)
    assert broken_file.exists()  # nothing is ever deleted or rewritten


def test_every_error_is_listed_not_just_the_first(config_copy: Path):
    for case in CASES:
        if case.id in ("port-not-a-number", "odd-baud", "point-outside-workspace",
                       "unknown-procedure", "missing-travel-speed"):  # fmt: skip
            _break(config_copy, case)
    with pytest.raises(ConfigInvalid) as invalid:
        load_cell_config(config_copy / "cell.yaml")
    fields = [e.location for e in invalid.value.errors]
    assert ("plc", "link", "port") in fields
    assert ("power_source", "link", "baud") in fields
    assert ("seams", 0, "path_mm", 1) in fields
    assert ("seams", 0, "procedure") in fields
    assert ("travel_speed_mm_per_s",) in fields


def test_config_check_command_exits_0_when_good_and_2_with_every_error(
    repo: Path, config_copy: Path
):
    cellctl = [sys.executable, "-m", "cellctl.cli.main", "config", "check"]
    good = subprocess.run([*cellctl, "config/cell.yaml"], cwd=repo, capture_output=True, text=True)
    assert good.returncode == 0, good.stderr
    assert "config/cell.yaml: OK: cell cell-01, 6 part program(s) with 8 seam(s)" in good.stdout
    for case in CASES[:3]:
        _break(config_copy, case)
    bad = subprocess.run(
        [*cellctl, str(config_copy / "cell.yaml")], cwd=repo, capture_output=True, text=True
    )
    assert bad.returncode == 2
    lines = bad.stderr.strip().splitlines()
    assert lines[-1] == f"3 errors in {config_copy / 'cell.yaml'}"
    assert any('plc.link.port: expected an integer, got "5o2"' in line for line in lines)
    missing = subprocess.run(
        [*cellctl, str(config_copy / "nope.yaml")], cwd=repo, capture_output=True, text=True
    )
    assert missing.returncode == 2
    assert "nope.yaml:1: cannot read" in missing.stderr


def test_a_document_that_is_not_a_mapping_is_refused(tmp_path: Path):
    path = tmp_path / "cell.yaml"
    path.write_text("- just\n- a list\n")
    with pytest.raises(ConfigInvalid, match=r"cell.yaml:1: expected a mapping of key: value"):
        load_cell_config(path)


def billion_laughs(levels: int = 9) -> str:
    """The classic: each level lists the one below nine times (9**9 strings in all)."""
    lines = ['lol: &l0 "lol"']
    for level in range(1, levels + 1):
        lines.append(f"l{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def _check_in_a_small_process(config: Path, memory_bytes: int = 512 * 1024 * 1024):
    """``cellctl config check`` in a process whose address space is capped: a loader that
    expanded the file would die of MemoryError (a traceback, exit 1) instead of answering."""
    import resource

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))

    return subprocess.run(
        [sys.executable, "-m", "cellctl.cli.main", "config", "check", str(config)],
        capture_output=True, text=True, timeout=60, preexec_fn=cap, check=False,
    )  # fmt: skip


def test_an_alias_bomb_is_refused_at_its_line_within_bounded_memory(config_copy: Path):
    cell = config_copy / "cell.yaml"
    shipped = cell.read_text()
    cell.write_text(shipped + billion_laughs())
    bomb_line = len(shipped.splitlines()) + 6  # l5's first alias: l0..l4 add 8,298 values
    # Only in a capped process: a loader that expanded it would take this machine's memory.
    checked = _check_in_a_small_process(cell)
    assert checked.returncode == 2, checked.stderr
    assert checked.stderr.splitlines() == [
        f"{cell}:{bomb_line}: aliases expand to more than 10,000 values here (*l4 alone to "
        "7,381); a config may share a block by alias, not multiply it",
        f"1 error in {cell}",
    ]


def test_aliases_that_share_a_block_still_load(config_copy: Path):
    part = config_copy / "parts" / "bracket-a12.yaml"
    torch = "    torch: {work_angle_deg: 45, travel_angle_deg: 10}\n"
    sensing = "    sensing: {seam_finding: true, search_range_mm: 8, tracking: true}\n"
    text = part.read_text()
    assert text.count(torch) == 2
    assert text.count(sensing) == 2
    # The first seam names its blocks; the second shares them by alias and by merge key.
    text = text.replace(torch, torch.replace("torch: ", "torch: &torch "), 1)
    text = text.replace(sensing, sensing.replace("sensing: ", "sensing: &sensing "), 1)
    text = text.replace(torch, "    torch: *torch\n", 1)
    text = text.replace(sensing, "    sensing: {<<: *sensing, search_range_mm: 6}\n", 1)
    part.write_text(text)
    right = load_cell_config(config_copy / "cell.yaml").parts["bracket-a12"].seams[1]
    assert (right.torch.work_angle_deg, right.torch.travel_angle_deg) == (45, 10)
    assert (right.sensing.tracking, right.sensing.search_range_mm) == (True, 6)


def test_an_oversized_config_file_is_refused_without_being_read(config_copy: Path):
    from cellctl.config.yaml_lines import CONFIG_FILE_MAX_BYTES

    part = config_copy / "parts" / "plate-v60.yaml"
    text = part.read_text()
    # Valid YAML all through (a comment): only its size can refuse it.
    padding = CONFIG_FILE_MAX_BYTES + 1 - len(text.encode()) - 3
    part.write_text(text + "# " + "x" * padding + "\n")
    assert part.stat().st_size == CONFIG_FILE_MAX_BYTES + 1
    with pytest.raises(ConfigInvalid) as invalid:
        load_cell_config(config_copy / "cell.yaml")
    assert [str(e) for e in invalid.value.errors] == [
        f"{part}:1: file is 1.0 MiB (1,048,577 bytes); a config file may be at most 1 MiB "
        "(is it the right file?)"
    ]
    part.write_text(text + "# " + "x" * (padding - 1) + "\n")  # at the limit: loads
    load_cell_config(config_copy / "cell.yaml")


def test_a_config_that_is_not_a_regular_file_is_refused_without_waiting(tmp_path: Path):
    fifo = tmp_path / "cell.yaml"
    os.mkfifo(fifo)  # opening it for reading would wait for a writer forever
    with pytest.raises(ConfigInvalid, match=r"cell.yaml:1: not a regular file"):
        load_cell_config(fifo)


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("deep", "a: " + "[" * 10_000 + "]" * 10_000 + "\n", ":1: nested deeper than 32 levels"),
        ("huge-int", "plc: {link: {port: " + "7" * 5000 + "}}\n",
         ":1: plc.link.port: an integer of 5,000 characters"),
        ("oversized", "# " + "x" * (1024 * 1024) + "\n", ":1: file is 1.0 MiB (1,048,579 bytes)"),
    ],
    # Named, not the parameters' text: a test's id goes into PYTEST_CURRENT_TEST, which the
    # check's child process inherits, and a megabyte there is too long for exec (E2BIG).
    ids=["deep", "huge-int", "oversized"],
)  # fmt: skip
def test_config_check_answers_hostile_files_with_file_and_line(tmp_path, name, text, expected):
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    checked = _check_in_a_small_process(path)
    assert checked.returncode == 2, checked.stderr
    assert checked.stderr.startswith(f"{path}{expected}"), checked.stderr
    assert "Traceback" not in checked.stderr


def test_the_opcua_certificate_and_key_are_checked(tmp_path, repo):
    """Issue 19: a certificate and key named in config must be there, readable and one pair;
    each error names the file, the line and the field."""
    from cellctl.plant.opcua.certs import make_certificate

    shutil.copytree(repo / "config", tmp_path / "config")
    cell = tmp_path / "config" / "cell.yaml"
    text = cell.read_text()
    keys = tmp_path / "keys"
    make_certificate(keys / "cell.der", keys / "cell.pem", "urn:cellctl:cell-01", ["localhost"])
    make_certificate(keys / "other.der", keys / "other.pem", "urn:cellctl:x", ["localhost"])

    def errors(*lines: str) -> list[str]:
        cell.write_text(text.replace("  none_endpoint: false\n", "".join(lines)))
        try:
            load_cell_config(cell)
        except ConfigInvalid as invalid:
            return [str(e) for e in invalid.errors]
        return []

    def line_of(fragment: str) -> int:
        return cell.read_text().splitlines().index(fragment) + 1

    certificate = f"  certificate: {keys / 'cell.der'}\n"
    assert errors(certificate, f"  private_key: {keys / 'cell.pem'}\n") == []
    assert load_cell_config(cell).cell.opcua.certificate == str(keys / "cell.der")
    # Relative to the config's folder, as every path of the config.
    assert errors("  certificate: ../keys/cell.der\n", "  private_key: ../keys/cell.pem\n") == []

    missing = errors("  certificate: nowhere.der\n", f"  private_key: {keys / 'cell.pem'}\n")
    assert len(missing) == 1
    assert missing[0].endswith(
        f"cell.yaml:{line_of('  certificate: nowhere.der')}: opcua.certificate: file not found: "
        f"{cell.parent / 'nowhere.der'}"
    )
    (wrong,) = errors(certificate, f"  private_key: {keys / 'other.pem'}\n")
    assert f"cell.yaml:{line_of(certificate.rstrip())}: opcua.certificate:" in wrong
    assert "is not the key of" in wrong
    (not_a_certificate,) = errors(
        f"  certificate: {keys / 'cell.pem'}\n", f"  private_key: {keys / 'cell.pem'}\n"
    )
    assert "is not a certificate" in not_a_certificate
    (no_folder,) = errors("  trusted_clients: clients\n")
    assert no_folder.endswith(
        f"cell.yaml:{line_of('  trusted_clients: clients')}: opcua.trusted_clients: no such "
        f"folder: {cell.parent / 'clients'}"
    )
    (alone,) = errors(certificate)
    assert "certificate and private_key are given together, or neither" in alone
    assert errors("  none_endpoint: true\n") == []
    cell.write_text(
        text.replace("allow_anonymous: true", "allow_anonymous: false").replace(
            "none_endpoint: false", "none_endpoint: true"
        )
    )
    with pytest.raises(ConfigInvalid, match="none_endpoint is for anonymous reading only"):
        load_cell_config(cell)


def test_the_sparkplug_tls_files_are_checked(tmp_path, repo):
    shutil.copytree(repo / "config", tmp_path / "config")
    cell = tmp_path / "config" / "cell.yaml"
    text = cell.read_text()
    (tmp_path / "config" / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    cell.write_text(
        text.replace("  enabled: false\n  broker_host", "  enabled: true\n  broker_host").replace(
            "  keepalive_s: 10\n",
            "  keepalive_s: 10\n  tls_ca_file: ca.pem\n"
            "  tls_certificate: nowhere.pem\n  tls_private_key: ca.pem\n",
        )
    )
    with pytest.raises(ConfigInvalid) as raised:
        load_cell_config(cell)
    line = cell.read_text().splitlines().index("  tls_certificate: nowhere.pem") + 1
    (error,) = [str(e) for e in raised.value.errors]
    assert error.endswith(
        f"cell.yaml:{line}: sparkplug.tls_certificate: file not found: "
        f"{tmp_path / 'config' / 'nowhere.pem'}"
    )


@pytest.mark.parametrize(
    ("centre", "lookahead", "message"),
    [
        ("[600.0, -25.0, 20.0]", 30, "does not cross the seam at all (the path turns away"),
        ("[600.0, -15.0, 20.0]", 30, "crosses the seam up to 17.0 mm off its centre, where"),
    ],
)
def test_an_arc_the_sensor_s_look_ahead_leaves_names_its_segment(
    config_copy: Path, centre: str, lookahead: int, message: str
):
    """The hinge boss's circle (radius 50 mm) with the sensor on and 30 mm of look-ahead is
    tracked; at 25 mm the laser line never crosses it, at 35 mm it crosses it off the view."""
    cell = config_copy / "cell.yaml"
    text = cell.read_text()
    sensor_at = text.index("\nsensor:")
    text = text[:sensor_at] + text[sensor_at:].replace("enabled: false", "enabled: true", 1)
    cell.write_text(text)
    load_cell_config(cell)  # the shipped boss: in view all round
    boss = config_copy / "parts" / "boom-hinge-boss.yaml"
    boss.write_text(boss.read_text().replace("centre: [600.0, 0.0, 20.0]", f"centre: {centre}"))
    with pytest.raises(ConfigInvalid) as invalid:
        load_cell_config(cell)
    line = next(i for i, t in enumerate(boss.read_text().splitlines(), 1) if "- arc:" in t)
    prefix = f"{boss}:{line}: seams[0].path.segments[0]: from 0 to "
    messages = [str(e) for e in invalid.value.errors]
    matching = [m for m in messages if m.startswith(prefix) and message in m]
    assert matching, "\n".join(messages)
    assert "sensor.lookahead_mm" in matching[0]
    assert "sensor.tracking.coast_mm 8" in matching[0]
