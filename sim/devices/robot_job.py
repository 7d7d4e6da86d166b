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
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from drivers.codecs.robot_protocol import Pose
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


@dataclass(frozen=True)
class JobSearch:
    """One touch search a job carries, as taught (``cellctl.weld.owned_touch``): numbered in
    every job of a part as the part's ``touch_frame`` searches (1..k) then the seam's own
    ``sensing.touch`` searches (k+1..). ``torch_deg``: the part program's convention (0, 0, 0
    is the torch upright, pointing down)."""

    number: int
    name: str
    start_mm: tuple[float, float, float]
    direction: tuple[float, float, float]  # unit
    distance_mm: float
    speed_mm_per_s: float
    torch_deg: tuple[float, float, float]
    clearance_mm: float

    @property
    def end_mm(self) -> tuple[float, float, float]:
        return tuple(  # type: ignore[return-value]
            s + self.distance_mm * d for s, d in zip(self.start_mm, self.direction, strict=True)
        )


def job_searches(part: dict[str, Any], seam: dict[str, Any]) -> tuple[JobSearch, ...]:
    """The touch searches of ``seam``'s job from the part program's data (see ``JobSearch``)."""
    groups = [part.get("touch_frame"), (seam.get("sensing") or {}).get("touch")]
    searches: list[JobSearch] = []
    for group in groups:
        if not group:
            continue
        for search in group["searches"]:
            direction = [float(c) for c in search["direction"]]
            size = math.sqrt(sum(c * c for c in direction))
            searches.append(
                JobSearch(
                    len(searches) + 1,
                    str(search["name"]),
                    tuple(float(c) for c in search["start_mm"]),  # type: ignore[arg-type]
                    tuple(c / size for c in direction),  # type: ignore[arg-type]
                    float(search["distance_mm"]),
                    float(search.get("speed_mm_per_s") or group.get("speed_mm_per_s", 10.0)),
                    tuple(float(c) for c in search.get("torch_deg", (0, 0, 0))),  # type: ignore[arg-type]
                    float(group.get("clearance_mm", 20.0)),
                )
            )
    return tuple(searches)


class TouchPhase(enum.StrEnum):
    """Where a job's touch search is (``JobTouches``)."""

    IDLE = "idle"  # none: the job stands at its search position (robot_at_search)
    APPROACH = "approach"  # above the search's start, down onto it
    SEARCHING = "searching"  # the search move (robot_touch_moving)
    RETURN = "return"  # back to the start, up clear, back to the search position
    DONE = "done"  # back, waiting for robot_touch_go to drop


class JobTouches:
    """A job's touch searches at its search position, as the templates' search routines run
    them: on ``robot_touch_go`` (search ``robot_touch_search_number``) above the start, down
    onto it, the search move towards the plate at its speed up to its distance, stopped where
    it is by ``robot_touch_stop`` (the controller saw the wire's contact); then back to the
    start, up, back onto the search position; ``DONE`` until the go drops. The robot itself
    does not stop at contact: the power source is the controller's.

    Called under the robot's lock (its motion and this are the lock's); ``queue(point,
    angles, speed)`` queues a move of the robot's tool in the part program's torch angles.
    """

    def __init__(self) -> None:
        self.phase = TouchPhase.IDLE
        self.go = False
        self.stop = False
        self.number = 0
        self.search: JobSearch | None = None
        self.runs = 0  # searches run (for the tests)
        self.stops = 0  # search moves stopped by robot_touch_stop

    def set_outputs(self, go: bool, number: int, stop: bool, motion: Any) -> None:
        self.go, self.number = go, number
        if stop and not self.stop and self.phase is TouchPhase.SEARCHING:
            motion.stop()  # brakes on the path; the rest of the search move is dropped
            self.stops += 1
        self.stop = stop

    @property
    def idle(self) -> bool:
        return self.phase is TouchPhase.IDLE

    def advance(
        self,
        searches: tuple[JobSearch, ...],
        search_position: tuple[float, float, float],
        queue: Callable[[tuple[float, float, float], tuple[float, float, float], float], None],
        air_speed_mm_per_s: float,
    ) -> bool:
        """The motion is idle: the next step of the touch search; False when none runs."""
        up = (0.0, 0.0, 0.0)  # the search position's torch: upright
        if self.phase is TouchPhase.IDLE:
            if not self.go:
                return False
            search = next((s for s in searches if s.number == self.number), None)
            if search is None:
                return False  # no such search: the controller's go times out (F157)
            self.search = search
            above = _above(search.start_mm, search.clearance_mm)
            queue(_above(search_position, search.clearance_mm), up, air_speed_mm_per_s)
            queue(above, search.torch_deg, air_speed_mm_per_s)
            queue(search.start_mm, search.torch_deg, air_speed_mm_per_s / 2)
            self.phase = TouchPhase.APPROACH
            self.runs += 1
            return True
        search = self.search
        assert search is not None
        if self.phase is TouchPhase.APPROACH:
            queue(search.end_mm, search.torch_deg, search.speed_mm_per_s)
            self.phase = TouchPhase.SEARCHING
        elif self.phase is TouchPhase.SEARCHING:
            queue(search.start_mm, search.torch_deg, air_speed_mm_per_s / 2)
            queue(
                _above(search.start_mm, search.clearance_mm), search.torch_deg, air_speed_mm_per_s
            )
            queue(_above(search_position, search.clearance_mm), up, air_speed_mm_per_s)
            queue(search_position, up, air_speed_mm_per_s / 2)
            self.phase = TouchPhase.RETURN
        elif self.phase is TouchPhase.RETURN:
            self.phase = TouchPhase.DONE
        elif self.phase is TouchPhase.DONE and not self.go:
            self.phase = TouchPhase.IDLE
            self.search = None
            return False
        return True


def _above(point: tuple[float, float, float], clearance_mm: float) -> tuple[float, float, float]:
    return (point[0], point[1], point[2] + clearance_mm)


def touch_pose(pose: Pose, torch_down_rx_deg: float) -> Pose:
    """A robot pose in the part program's torch angles (``sim.truth.torch``: (0, 0, 0) is the
    torch upright, pointing down), from a robot whose own "down" is ``torch_down_rx_deg``
    about X (KUKA's C = 180: R_robot = R_program · Rx(180), so only rx differs)."""
    return Pose(
        pose.x_mm, pose.y_mm, pose.z_mm, pose.rx_deg - torch_down_rx_deg, pose.ry_deg, pose.rz_deg
    )


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
    touches: JobTouches  # the robot's own, under its lock
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

    def set_touch(self, go: bool, number: int, stop: bool) -> None:
        """robot_touch_go, robot_touch_search_number, robot_touch_stop (``JobTouches``)."""
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
            "robot_at_search": step is JobStep.AT_SEARCH and self.touches.idle,
            "robot_touch_moving": self.touches.phase is TouchPhase.SEARCHING,
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
        self.set_touch(
            bool(outputs.get("robot_touch_go")),
            int(outputs.get("robot_touch_search_number") or 0),
            bool(outputs.get("robot_touch_stop")),
        )

    def _record(self, what: str) -> None:
        if self.events is not None:
            self.events.record("robot", "command", what)
