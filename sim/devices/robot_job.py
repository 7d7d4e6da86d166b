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

from drivers.codecs.seam_path import SeamPath

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
    WELDING = "welding"  # the seam's move: corrections apply
    AT_SEAM_END = "at_seam_end"  # standing there, waiting for the go to drop
    RETRACT = "retract"  # lifting clear
    DONE = "done"  # the job ended well: ready for the next one
    FAULT = "fault"  # the job stopped on an error


class JobPlcSide:
    """The job's signals as the PLC reads them, and the PLC's outputs as the robot takes them.

    A robot using it gives ``_job_state`` (read under its own lock) and the four commands;
    ``_start_seen`` is the PLC scan's thread's own (the start's rising edge).
    """

    _start_seen: bool = False

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
            self.start_job(int(outputs.get("robot_job_number") or 0))
        self._start_seen = start
        held = bool(outputs.get("robot_hold"))
        if held != self._job_state()[2]:
            self.set_hold(held)
        self.set_stop(bool(outputs.get("robot_stop")))
        self.set_seam_go(bool(outputs.get("robot_seam_go")))
        offset = tuple(float(outputs.get(f"robot_offset_{axis}_mm") or 0.0) for axis in "xyz")
        self.set_search_done(bool(outputs.get("robot_search_done")), offset)  # type: ignore[arg-type]
