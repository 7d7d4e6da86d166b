"""The PLC's side of a simulated robot that runs its own taught jobs (KUKA RSI, ABB EGM).

Both simulated robots step a job through the same states and meet the PLC through the same
signals (``drivers.codecs.robot_job``): ``JobStep`` and ``JobPlcSide`` are that shared part.
"""

from __future__ import annotations

import enum
from typing import Any


class JobStep(enum.StrEnum):
    """Where the job is."""

    IDLE = "idle"  # no job (or the last one stopped): ready for one
    APPROACH = "approach"  # moving above the seam's start and down onto it
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

    def signals(self) -> dict[str, bool]:
        """The job's outputs (``ROBOT_JOB_INPUTS`` names); this only reads where it stands."""
        step, drives_enabled, _ = self._job_state()
        return {
            "robot_ready": drives_enabled and step in (JobStep.IDLE, JobStep.DONE),
            "robot_at_seam_start": step is JobStep.AT_SEAM_START,
            "robot_at_seam_end": step is JobStep.AT_SEAM_END,
            "robot_job_done": step is JobStep.DONE,
            "robot_job_fault": step is JobStep.FAULT,
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
