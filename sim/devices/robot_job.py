"""The PLC's side of a simulated robot that runs its own taught jobs (KUKA RSI, ABB EGM).

Both simulated robots step a job through the same states and meet the PLC through the same
signals (``drivers.codecs.robot_job``): ``JobStep`` and ``JobPlcSide`` are that shared part.

A job, as the templates of docs/robots/ run it: above its search position (the seam's first
tangent, ``search_back_mm`` before its start: where the laser line lies on the seam's first
millimetres), down onto it, ``robot_at_search``; on ``robot_search_done`` it reads the frame
offset (EGM's template shifts its seam by it; RSI's holds the shift as RKorr and reads zero)
and runs along the seam's line to the start at ``PRESCAN_SPEED_MM_PER_S`` (the laser reads
the first look-ahead meanwhile), ``robot_at_seam_start``; then the seam as before.
"""

from __future__ import annotations

import enum
from typing import Any

from drivers.codecs.seam_path import Point, SeamPath
from sim.events import EventLog

PRESCAN_SPEED_MM_PER_S = 15.0  # search position to seam start (the controller's pre-scan)
SEARCH_BACK_MM = 26.0  # the sensor's look-ahead (30) less where on the seam it looks (4)


def search_position(seam: SeamPath, back_mm: float) -> tuple[float, float, float]:
    """The job's search position: ``back_mm`` before the seam's start along its first
    tangent (the taught seam's line carried on backwards)."""
    travel = seam.frame_at(0.0)[0]
    start = seam[0]
    return (
        float(start[0]) - back_mm * travel[0],
        float(start[1]) - back_mm * travel[1],
        float(start[2]) - back_mm * travel[2],
    )


class JobStep(enum.StrEnum):
    """Where the job is."""

    IDLE = "idle"  # no job (or the last one stopped): ready for one
    APPROACH = "approach"  # moving above the search position and down onto it
    AT_SEARCH = "at_search"  # standing at the search position, waiting for the search done
    TO_SEAM_START = "to_seam_start"  # from the search position along the seam to its start
    AT_SEAM_START = "at_seam_start"  # standing there, waiting for the seam go
    BACK_TO_RESTART = "back_to_restart"  # held mid-seam: backing up along it to the restart
    WELDING = "welding"  # the seam's move: corrections apply
    AT_SEAM_END = "at_seam_end"  # standing there, waiting for the go to drop
    RETRACT = "retract"  # lifting clear
    DONE = "done"  # the job ended well: ready for the next one
    FAULT = "fault"  # the job stopped on an error


def restart_from_mm(here_mm: float, overlap_mm: float) -> float:
    """Where a seam held at ``here_mm`` (along it) restarts: ``overlap_mm`` back over its
    bead, never before its start."""
    return max(0.0, here_mm - overlap_mm)


def back_along(path: SeamPath, from_mm: float, to_mm: float, step_mm: float) -> list[Point]:
    """Points along ``path`` from ``from_mm`` back to ``to_mm`` (chords of ``step_mm``; the
    first after ``from_mm``, the last at ``to_mm``): the backtrack of a restart."""
    points = []
    s_mm = from_mm - step_mm
    while s_mm > to_mm:
        points.append(path.point_at(s_mm))
        s_mm -= step_mm
    points.append(path.point_at(to_mm))
    return points


class JobPlcSide:
    """The job's signals as the PLC reads them, and the PLC's outputs as the robot takes them.

    A held seam restarts as a robot's arc package restarts one: with ``robot_seam_go``
    dropped, the hold released moves the torch back ``restart_overlap_mm`` along the seam,
    over its bead, where it raises ``robot_at_seam_start`` again and waits for the go (the
    arc established) to weld the rest. Released with the go still up, the job just goes on.

    A robot using it gives ``_job_state`` (read under its own lock) and the four commands;
    ``_start_seen`` and ``_heard`` are the PLC scan's thread's own (the outputs' edges).

    What the robot hears through its I/O goes into ``events`` (the simulated cell's ground
    truth, ``sim.events``) as a robot's commands, named as the serial robot's are where they
    mean the same: ``JOB_START <number>``, ``SEAM_GO``, ``HOLD``, ``RESUME``, ``STOP`` (each on
    its edge), so that a rig judges a hold through I/O as a hold.
    """

    _start_seen: bool = False
    _heard: dict[str, bool] | None = None  # the last levels of hold, stop and seam go
    events: EventLog | None = None
    # How far back along the seam a held seam restarts (``restart_from_mm``).
    restart_overlap_mm: float = 10.0

    def _job_state(self) -> tuple[JobStep, bool, bool]:
        """(step, drives enabled, held) now."""
        raise NotImplementedError

    def start_job(self, number: int) -> bool:
        raise NotImplementedError

    def set_hold(self, held: bool) -> None:
        raise NotImplementedError

    def set_stop(self, stop: bool) -> None:
        raise NotImplementedError

    def set_seam_go(self, go: bool) -> None:
        raise NotImplementedError

    def set_search_done(self, done: bool, offset_mm: tuple[float, float, float]) -> None:
        """robot_search_done's level, and the frame offset the PLC holds (base frame, mm)."""
        raise NotImplementedError

    def signals(self) -> dict[str, bool]:
        """The job's outputs (``ROBOT_JOB_INPUTS`` names); this only reads where it stands."""
        step, drives_enabled, _ = self._job_state()
        return {
            "robot_ready": drives_enabled and step in (JobStep.IDLE, JobStep.DONE),
            "robot_at_seam_start": step is JobStep.AT_SEAM_START,
            "robot_at_seam_end": step is JobStep.AT_SEAM_END,
            "robot_job_done": step is JobStep.DONE,
            "robot_job_fault": step is JobStep.FAULT,
            "robot_at_search": step is JobStep.AT_SEARCH,
        }

    def on_plc_outputs(self, outputs: dict[str, Any]) -> None:
        """The PLC's robot job outputs, every PLC scan: levels and the start's rising edge."""
        start = bool(outputs.get("robot_job_start"))
        if start and not self._start_seen and not outputs.get("robot_stop"):
            number = int(outputs.get("robot_job_number") or 0)
            self._record(f"JOB_START {number}")
            self.start_job(number)
        self._start_seen = start
        held = bool(outputs.get("robot_hold"))
        stop = bool(outputs.get("robot_stop"))
        go = bool(outputs.get("robot_seam_go"))
        heard = self._heard or {}
        if held != heard.get("hold", False):
            self._record("HOLD" if held else "RESUME")
        if stop and not heard.get("stop", False):
            self._record("STOP")
        if go and not heard.get("go", False):
            self._record("SEAM_GO")
        self._heard = {"hold": held, "stop": stop, "go": go}
        if held != self._job_state()[2]:
            self.set_hold(held)
        self.set_stop(stop)
        self.set_seam_go(go)
        offset = tuple(float(outputs.get(f"robot_offset_{axis}_mm") or 0.0) for axis in "xyz")
        self.set_search_done(bool(outputs.get("robot_search_done")), offset)  # type: ignore[arg-type]

    def _record(self, what: str) -> None:
        if self.events is not None:
            self.events.record("robot", "command", what)
