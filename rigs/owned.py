"""Cell configs for rigs with a robot that owns its motion (KUKA RSI, ABB EGM): the edits a
test or a benchmark hands ``rigs.cell.running_cell`` / ``rigs.cell.write_config``, one per
backend, so that every rig of a backend runs the same robot (the bracket's jobs, timing
lenient enough for a test machine shared by many)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import yaml

from cellctl.testing import free_port
from rigs.cell import REPO

OWNED_PART = "parts/bracket-a12.yaml"  # its seams name their robot jobs


def kuka_rsi(cell: dict) -> None:
    """A KUKA on RSI. Lenient on the stream's timing: the tests that need the robot's stop
    make every answer late on purpose."""
    cell["robot"]["interface"] = "kuka_rsi"
    cell["robot"]["kuka_rsi"] = {
        "sensor_port": free_port(),
        "stream_timeout_ms": 200,
        "late_answer_limit": 25,
    }
    cell["parts"] = [OWNED_PART]
    _room_for_the_robot_thread(cell)


def abb_egm(cell: dict) -> None:
    """An ABB on EGM. Lenient on the stream's timing: the test that needs the robot's stop
    loses every sensor message on purpose."""
    cell["robot"]["interface"] = "abb_egm"
    cell["robot"]["abb_egm"] = {
        "sensor_port": free_port(),
        "stream_timeout_ms": 200,
        "comm_timeout_ms": 400,
    }
    cell["parts"] = [OWNED_PART]
    _room_for_the_robot_thread(cell)


def _room_for_the_robot_thread(cell: dict) -> None:
    """The simulated robot's 4 ms thread (its GIL switch interval lowered to keep its beat)
    shares a rig's process with the controller and the power source's pty: the power
    source's answers get the room a busy shared machine needs (the shipped 100 ms holds
    with own processes)."""
    cell["power_source"]["link"]["timeout_ms"] = 300
    cell["power_source"]["interface_watchdog_ms"] = 1500


BACKENDS: dict[str, Callable[[dict], None]] = {"kuka_rsi": kuka_rsi, "abb_egm": abb_egm}


def with_laser(backend: Callable[[dict], None]) -> Callable[[dict], None]:
    """``backend`` with the laser sensor on (the simulated one, on a free port)."""

    def edit(cell: dict) -> None:
        backend(cell)
        cell["sensor"]["enabled"] = True
        cell["sensor"]["source"] = f"127.0.0.1:{free_port()}"
        cell["sensor"]["calibration_file"] = str(REPO / "config" / "sensor-calibration.yaml")
        # The simulated camera's frames wait for this process's event loop (sim.devices.sensor):
        # on a loaded machine a run of them dropped is not a lost sensor (the rigs score
        # tracking; the sensor's loss has tests of its own).
        cell["sensor"]["frame_timeout_ms"] = 1500

    return edit


# The bracket off its taught line by an offset and a bend, which the laser must find (from the
# seam start) and follow through the robot's interface.
BENT_BRACKET = {
    "name": "bent",
    "deviations": [
        {"kind": "offset", "lateral_mm": 1.5},
        {"kind": "sine", "lateral_amplitude_mm": 1.0, "wavelength_mm": 300},
    ],
}


TOUCH_PART = "coupon-fillet-touch"  # the touch coupon: its searches and its seam
TOUCH_JOB = "COUPON_FILLET_80"  # the robot job that welds it


def touch_job(folder: Path, backend: Callable[[dict], None]) -> Callable[[dict], None]:
    """``backend``'s cell welding the touch coupon by ``TOUCH_JOB``, the job running the
    coupon's touch searches: the part program copied into ``folder``'s config with its job.
    The simulator's robot thread shares the rig's process (and its GIL) with the controller:
    the power source's and the PLC's answers get the room a busy shared machine needs."""

    def edit(cell: dict) -> None:
        backend(cell)
        program = yaml.safe_load((REPO / "config" / "parts" / f"{TOUCH_PART}.yaml").read_text())
        program["seams"][0]["robot_job"] = TOUCH_JOB
        (folder / "config" / "parts" / f"{TOUCH_PART}.yaml").write_text(yaml.safe_dump(program))
        cell["parts"] = [f"parts/{TOUCH_PART}.yaml"]
        cell["controller"]["cycle"]["active_part"] = TOUCH_PART
        cell["power_source"]["link"]["timeout_ms"] = 1000
        cell["power_source"]["interface_watchdog_ms"] = 3000
        cell["plc"]["link"]["timeout_ms"] = 1000

    return edit
