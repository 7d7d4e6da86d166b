"""The robot's job through the cell PLC: select, start, seam go, hold, stop; wait for signals.

A robot that owns its motion (``drivers.robot.owned``) is commanded through I/O the integrator
wires to the cell PLC (``drivers.codecs.robot_job`` names the signals). ``PlcRobotJobIo`` meets
``drivers.robot.owned.RobotJobIo`` over the PLC driver; it reads the job's inputs from the
panel's last scanned input image (the PLC scan keeps it fresh: no extra Modbus request) and
writes the job's outputs as named outputs of the PLC's map.

- ``start_job(number)`` writes the job number with the start low, then raises
  ``robot_job_start`` and holds it until the robot shows the job runs (it leaves
  ``robot_ready``), then drops it: a pulse as long as the robot needs to see it, however slow
  its I/O scan. ``RobotJobTimeout`` if the job does not start within ``start_timeout_s``.
- ``wait_for(signal)`` waits for one of the job's inputs; ``RobotJobTimeout`` (the cycle raises
  F143) when it does not come in time, ``RobotJobFaulted`` (F135) as soon as ``robot_job_fault``
  is seen instead.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Any

from drivers.codecs.robot_job import RobotJobSignals
from drivers.errors import LinkDown, WriteRefused
from drivers.plc import PlcDriver


class RobotJobTimeout(Exception):
    """A robot job signal did not come in time (F143)."""


class RobotJobFaulted(Exception):
    """The robot's job reports a fault (F135): it stopped, e.g. on its sensor interface."""


class PlcRobotJobIo:
    """``RobotJobIo`` over the cell PLC (see the module)."""

    def __init__(
        self,
        plc: PlcDriver,
        inputs: Callable[[], Mapping[str, Any] | None],
        scan_period_s: float,
        start_timeout_s: float = 5.0,
    ) -> None:
        self.plc = plc
        self._inputs = inputs
        self._poll_s = scan_period_s
        self.start_timeout_s = start_timeout_s

    def signals(self) -> RobotJobSignals:
        image = self._inputs()
        if not image or not self.plc.link.connected:
            raise LinkDown(self.plc.device, self.plc.link.address, "no PLC input image")
        return RobotJobSignals(
            ready=bool(image.get("robot_ready")),
            at_seam_start=bool(image.get("robot_at_seam_start")),
            at_seam_end=bool(image.get("robot_at_seam_end")),
            job_done=bool(image.get("robot_job_done")),
            job_fault=bool(image.get("robot_job_fault")),
            at_search=bool(image.get("robot_at_search")),
            touch_moving=bool(image.get("robot_touch_moving")),
        )

    async def start_job(self, number: int) -> None:
        if not (isinstance(number, int) and 1 <= number <= 65535):
            raise WriteRefused(
                self.plc.device, "robot_job_number", f"job number {number!r} is not in 1..65535"
            )
        await self.plc.write_outputs(
            {
                "robot_job_number": number,
                "robot_job_start": False,
                "robot_stop": False,
                "robot_hold": False,
                "robot_seam_go": False,
                "robot_search_done": False,
            }
        )
        await self.plc.write_output("robot_job_start", True)
        try:
            await self.wait_for(
                lambda s: not s.ready or s.at_seam_start,
                f"job {number} to start (robot_ready to drop)",
                self.start_timeout_s,
            )
        finally:
            await self.plc.write_output("robot_job_start", False)

    async def set_seam_go(self, go: bool) -> None:
        await self.plc.write_output("robot_seam_go", go)

    async def set_search_done(
        self, done: bool, offset_mm: tuple[float, float, float] | None = None
    ) -> None:
        """``robot_search_done``, with the frame offset (base frame, mm) in the same write
        when given: the job reads it on the done's rising edge."""
        values: dict[str, bool | float] = {"robot_search_done": done}
        if offset_mm is not None:
            for axis, value in zip("xyz", offset_mm, strict=True):
                values[f"robot_offset_{axis}_mm"] = round(value, 2)
        await self.plc.write_outputs(values)

    async def set_touch(self, go: bool, number: int | None = None, stop: bool = False) -> None:
        """``robot_touch_go`` (with the search's number in the same write when given) and
        ``robot_touch_stop``: the job's touch search (``cellctl.weld.owned_touch``)."""
        values: dict[str, bool | int] = {"robot_touch_go": go, "robot_touch_stop": stop}
        if number is not None:
            values["robot_touch_search_number"] = number
        await self.plc.write_outputs(values)

    async def set_hold(self, held: bool) -> None:
        await self.plc.write_output("robot_hold", held)

    async def stop_job(self) -> None:
        await self.plc.write_outputs({"robot_stop": True, "robot_seam_go": False})

    async def wait_for(
        self, condition: Callable[[RobotJobSignals], bool], what: str, timeout_s: float
    ) -> RobotJobSignals:
        """Wait until ``condition(signals)``; ``RobotJobFaulted`` if the job faults first,
        ``RobotJobTimeout`` after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while True:
            signals = self.signals()
            if signals.job_fault:
                raise RobotJobFaulted(f"the robot's job reports a fault while waiting for {what}")
            if condition(signals):
                return signals
            if time.monotonic() > deadline:
                raise RobotJobTimeout(f"no {what} within {timeout_s:g} s")
            await asyncio.sleep(self._poll_s)
