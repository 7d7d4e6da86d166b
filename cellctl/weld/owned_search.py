"""Seam finding with a robot that owns its motion: the job's search position, before the arc.

A robot on KUKA RSI or ABB EGM runs its own job (``cellctl.weld.owned_cycle``); the controller
cannot move it to look for the joint as it does on the serial link (``cellctl.sensing.finder``).
So the job stops at a search position of its own, taught ``lookahead - start_inset`` mm before
the seam's start on the seam's line: there the laser line lies on the seam's first
millimetres. The handshake (PLC signals, ``drivers.codecs.robot_job``):

1. the job raises ``robot_at_search`` and waits;
2. the controller checks the robot stands where the search needs it (F147 if it stands more
   than ``SEARCH_POSITION_TOLERANCE_MM`` away: the job's search position is taught wrong),
   and finds the joint with the laser there (F150 if it does not);
3. it applies the shift, per backend (``RobotOwnedMotion.corrects_before_seam``):

   - **KUKA RSI: the correction, held.** RSI superimposes RKorr from ``RSI_ON`` on, standing
     or moving, so the found offset moves the robot at its search position already and stays
     on through the seam, the tracking's corrections on top. No extra wiring; the offset
     takes part of POSCORR's range (F148 beyond it).
   - **ABB EGM: a frame offset the job reads.** EGM applies a path correction only while an
     EGMMoveL / EGMMoveC runs: the move to the seam's start and the arc's strike would be on
     the taught line, and the robot would slew onto the joint at its correction rate once the
     seam runs. While it slews, the laser's frames are measured as if the robot stood where
     it was told, so the joint the tracking stored for the next 30-40 mm was off by the part
     of the offset not yet slewed: that was EGM's error lasting past the slew (stop 23). So
     the shift goes to the PLC's ``robot_offset_x/y/z_mm`` (base frame, 0.01 mm, int16: F148
     beyond ±327 mm), which the job reads at ``robot_search_done`` and adds to its seam's
     points (RAPID ``Offs``), and the path correction is left with what the pre-scan adds;

4. it raises ``robot_search_done`` (with the offset, in one write): the job runs along the
   seam's line to its start at the pre-scan speed while the laser reads the first look-ahead
   of the joint from the robot's streamed pose (as the serial pre-scan does); that gives the
   tracking its first look-ahead and, from the first millimetres' trend, the offset at the
   start itself (the joint seen from the search position lies ``start_inset`` mm in);
5. once the robot stands at the start, that offset at the start goes to the robot: RSI holds
   it as RKorr; EGM's job gets it as a new frame offset, written as ``robot_search_done``
   drops (one write), which the job reads on that falling edge and moves onto before it
   raises ``robot_at_seam_start`` (EGM's path correction is left holding nothing); RSI's job
   needs no drop and raises ``robot_at_seam_start`` as it arrives.

A seam not found by the laser (none on the cell, ``seam_finding`` not laser) still passes the
search position: the controller answers ``robot_search_done`` at once, with the offset the
cycle's ``PathCorrector`` finds (held as the correction).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import NoReturn, Protocol

import numpy as np

from cellctl.cell.faults import FaultCode
from cellctl.cell.geometry import Point, in_frame, seam_frame, sensed_joint
from cellctl.config.models import Seam
from cellctl.sensing.finder import SeamFinder
from cellctl.sensing.protocol import JointNotFound
from drivers.codecs.robot_job import ROBOT_OFFSET_LIMIT_MM, RobotJobSignals
from drivers.codecs.seam_path import SeamPath
from drivers.errors import DeviceError
from drivers.robot.owned import PathCorrection, RobotFeedback, RobotOwnedMotion
from drivers.robot.serial import MotionRefused

log = logging.getLogger(__name__)

SEARCH_POSITION_TOLERANCE_MM = 2.0  # the robot's search position against the one expected
PRESCAN_POLL_S = 0.002  # half an RSI cycle: every streamed pose and every frame is seen
SETTLED_MM = 0.05  # on the found offset: this close
SETTLE_TIMEOUT_S = 2.0
AT_START_MM = 0.05  # the pre-scan's end: this close to the start along the seam, standing
STANDING_MM_PER_S = 0.5
TREND_MM = 10.0  # the pre-scan's first millimetres whose slope carries the joint to the start


class LaserFinding(Protocol):
    """The laser's seam finding as this search uses it (``cellctl.sensing.laser.LaserSensing``)."""

    finder: SeamFinder

    async def find_ahead(self, seam: Seam) -> tuple[float, float]: ...

    def seed_prescan(self, start: Point, prescan: list[tuple[float, float, float]]) -> None: ...


class FindsOffset(Protocol):
    """A seam's offset found without the laser (``owned_cycle.PathCorrector.find``)."""

    async def find(self, seam: Seam, taught: SeamPath) -> tuple[float, float]: ...


class SearchesJob(Protocol):
    """The job's search signals through the PLC (``cellctl.weld.robot_job.PlcRobotJobIo``)."""

    def signals(self) -> RobotJobSignals: ...

    async def set_search_done(
        self, done: bool, offset_mm: tuple[float, float, float] | None = None
    ) -> None: ...


Wait = Callable[[Callable[[RobotJobSignals], bool], str, float], Awaitable[None]]
Fault = Callable[[FaultCode, str], NoReturn]


@dataclass(frozen=True)
class SeamFound:
    """What the search found, for the seam's run.

    ``path``: the path the job runs (the taught one, shifted by the frame offset);
    ``held_mm``: the (lateral, vertical) correction held through the seam against ``path``;
    ``found_mm``: the joint at the seam's start against the taught path (the record's);
    ``frame_offset_mm``: what the job was told to shift its seam by (base frame);
    ``prescan``: [(s, lateral, vertical)] of the joint against ``path`` plus ``held_mm``
    (the tracking's seeds), empty without the laser.
    """

    path: SeamPath
    held_mm: tuple[float, float]
    found_mm: tuple[float, float]
    frame_offset_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)
    prescan: list[tuple[float, float, float]] = field(default_factory=list)
    by_laser: bool = False


def search_position(taught: SeamPath, back_mm: float) -> Point:
    """Where the job's search position must be: ``back_mm`` before the start on its line."""
    travel = taught.frame_at(0.0)[0]
    start = taught[0]
    return tuple(float(start[i]) - back_mm * travel[i] for i in range(3))  # type: ignore[return-value]


class OwnedSeamSearch:
    """One seam's search at the job's search position (see the module)."""

    def __init__(
        self,
        *,
        job: SearchesJob,
        robot: RobotOwnedMotion,
        sensing: object | None,
        wait: Wait,
        fault: Fault,
    ) -> None:
        """``wait`` waits for a job signal (F143 late, F135 the job faults); ``fault`` reports
        a fault and raises (the cycle's ``CycleInterrupted``)."""
        self.job = job
        self.robot = robot
        laser = sensing if hasattr(sensing, "seed_prescan") else None
        self.laser: LaserFinding | None = laser  # type: ignore[assignment]
        self.wait = wait
        self.fault = fault

    async def search(
        self, seam: Seam, taught: SeamPath, corrector: FindsOffset, timeout_s: float
    ) -> SeamFound:
        """Steps 1-5 of the module, from the job's start to its stand at the seam's start."""
        await self.wait(
            lambda s: s.at_search, f"job at the search position of {seam.name}", timeout_s
        )
        laser = self.laser
        if laser is None or not seam.sensing.seam_finding.by_laser:
            # The corrector's offset is the whole correction along the seam (its
            # ``correction_at`` includes it): it goes through the correction channel, and
            # the frame offset is zero (EGM's job reads it on both edges of the done).
            offset = await corrector.find(seam, taught)
            if self.robot.corrects_before_seam:  # RSI: held as RKorr from here on
                self._correct(taught, offset)
                found = SeamFound(taught, offset, offset)
                await self._set_done(True, (0.0, 0.0, 0.0))
            else:
                # EGM: the offset at the start as the frame offset the job reads on both
                # edges of the done (as the laser's is), so that the arc strikes on the joint;
                # the path correction carries only the rest along the seam (a turned part's):
                # the cycle streams the corrector's offset less this one.
                frame_offset = (
                    self._frame_offset(seam, taught, offset)
                    if math.hypot(*offset) > 0
                    else (0.0, 0.0, 0.0)
                )
                path = taught.shifted(frame_offset)
                self._correct(path, (0.0, 0.0))
                found = SeamFound(path, (0.0, 0.0), offset, frame_offset)
                await self._set_done(True, frame_offset)
                where = f"job {seam.name} off its search position"
                await self.wait(lambda s: not s.at_search, where, timeout_s)
                await self._set_done(False, frame_offset)
        else:
            found = await self._by_laser(seam, taught, laser, timeout_s)
        await self.wait(lambda s: s.at_seam_start, f"job at the start of {seam.name}", timeout_s)
        await self._set_done(False)
        return found

    # -- the laser's search ---------------------------------------------------------------------

    async def _by_laser(
        self, seam: Seam, taught: SeamPath, laser: LaserFinding, timeout_s: float
    ) -> SeamFound:
        finder = laser.finder
        finding = finder.settings.seam_finding
        back_mm = finder.lookahead_mm - finding.start_inset_mm
        expected = search_position(taught, back_mm)
        feedback = self.robot.latest_feedback()
        if feedback is None:
            self.fault(
                FaultCode.SEARCH_POSITION_WRONG,
                f"seam {seam.name}: no pose from {self.robot.device} at the search position",
            )
        away_mm = math.dist(feedback.position_mm, expected)
        if away_mm > SEARCH_POSITION_TOLERANCE_MM:
            self.fault(
                FaultCode.SEARCH_POSITION_WRONG,
                f"seam {seam.name}: the job's search position {_mm(feedback.position_mm)} lies "
                f"{away_mm:.1f} mm from where the laser sees the seam's first millimetres "
                f"({_mm(expected)}: {back_mm:g} mm before the start on its line)",
            )
        # The torch's own offset from the taught line there (the job's position, not ours).
        _, stand_lateral, stand_vertical = taught.locate(feedback.position_mm)
        try:
            lateral, vertical = await laser.find_ahead(seam)
        except JointNotFound as error:
            self.fault(FaultCode.JOINT_NOT_FOUND, f"seam {seam.name}: {error}")
        except DeviceError as error:
            self.fault(FaultCode.SENSOR_LINK, f"seam {seam.name}: {error}")
        seen = (lateral + stand_lateral, vertical + stand_vertical)
        shifts_frame = not self.robot.corrects_before_seam
        frame_offset = (0.0, 0.0, 0.0)
        path = taught
        if not shifts_frame:  # RSI: held as the correction from here on
            self._correct(taught, seen)
            await settle_on(self.robot, taught, seen, PRESCAN_POLL_S)
        else:  # EGM: the job shifts its seam by the frame offset
            frame_offset = self._frame_offset(seam, taught, seen)
            path = taught.shifted(frame_offset)
        prescan = await self._prescan(seam, path, laser, frame_offset, timeout_s)
        # The joint at the start itself (against the taught path): what the search position
        # saw, ``start_inset`` mm in, carried back along the pre-scan's trend.
        at_start = start_from(seen, finding.start_inset_mm, prescan)
        # ... and against the path the pre-scan was measured on (EGM's: shifted by ``seen``).
        delta = (at_start[0] - seen[0], at_start[1] - seen[1]) if shifts_frame else at_start
        if shifts_frame:
            # The start itself, from the pre-scan's trend: the job reads the frame offset
            # again as robot_search_done drops, and moves onto it before the seam start.
            # EGM's path correction then holds nothing: no slew once the seam runs.
            frame_offset = self._frame_offset(seam, taught, at_start)
            path = taught.shifted(frame_offset)
            held = (0.0, 0.0)
            found_mm = at_start
            await self._set_done(False, frame_offset)
        else:
            held = delta
            found_mm = held
        self._correct(path, held)
        seeds = [(s, lat - delta[0], ver - delta[1]) for s, lat, ver in prescan]
        laser.seed_prescan(path[0], seeds)
        log.info(
            "seam %s: joint at the start %+.3f mm lateral, %+.3f mm vertical (seen %+.3f, "
            "%+.3f from the search position; %d pre-scan frames)",
            seam.name,
            *found_mm,
            *seen,
            len(prescan),
        )
        return SeamFound(path, held, found_mm, frame_offset, seeds, by_laser=True)

    def _frame_offset(
        self, seam: Seam, taught: SeamPath, offset: tuple[float, float]
    ) -> tuple[float, float, float]:
        """The (lateral, vertical) shift at the start as a frame offset (base frame); F148
        beyond what the PLC's words carry."""
        _, across, up = taught.frame_at(0.0)
        frame_offset = tuple(offset[0] * a + offset[1] * u for a, u in zip(across, up, strict=True))
        if max(map(abs, frame_offset)) > ROBOT_OFFSET_LIMIT_MM:
            self.fault(
                FaultCode.SEARCH_OFFSET_BEYOND_LIMIT,
                f"seam {seam.name}: frame offset {_mm(frame_offset)} beyond the PLC's "
                f"±{ROBOT_OFFSET_LIMIT_MM} mm",
            )
        return frame_offset  # type: ignore[return-value]

    async def _prescan(
        self,
        seam: Seam,
        path: SeamPath,
        laser: LaserFinding,
        frame_offset: tuple[float, float, float],
        timeout_s: float,
    ) -> list[tuple[float, float, float]]:
        """``robot_search_done`` (with the offset); then, until the job stands at the seam's
        start, every new frame measured where the streamed pose put the sensor at its
        exposure: [(s, lateral, vertical)] of the joint against ``path``, sorted."""
        finder = laser.finder
        joint_finder = finder.joint_finder(seam)
        joint_finder.reset()
        lookahead = finder.lookahead_mm
        frame = seam_frame(path)
        samples: list[tuple[float, float, float]] = []
        await self._set_done(True, frame_offset)
        deadline = time.monotonic() + timeout_s
        last: RobotFeedback | None = None
        velocity = (0.0, 0.0, 0.0)  # mm per second of our clock, from two streamed poses
        after = -1
        while True:
            try:
                signals = self.job.signals()
            except DeviceError as error:
                self.fault(FaultCode.PLC_LINK, f"seam {seam.name}: {error}")
            if signals.at_seam_start:
                break
            if signals.job_fault or time.monotonic() > deadline:
                return sorted(samples)  # the wait that follows reports it
            if last is not None and _standing_at_start(last, velocity, path, frame):
                break  # (a job that takes a frame offset waits here for it again)
            feedback = self.robot.latest_feedback()
            if feedback is not None and (last is None or feedback.sequence != last.sequence):
                if last is not None and feedback.received_at_s > last.received_at_s:
                    dt = feedback.received_at_s - last.received_at_s
                    velocity = tuple(
                        (a - b) / dt
                        for a, b in zip(feedback.position_mm, last.position_mm, strict=True)
                    )  # type: ignore[assignment]
                last = feedback
            image = finder.sensor.latest()
            if last is not None and image is not None and image.frame_number != after:
                after = image.frame_number
                m = joint_finder.measure(image.pixels, image.frame_number, image.exposure_s)
                if m.ok:
                    age = last.received_at_s - image.exposure_s
                    torch = tuple(
                        p - age * v for p, v in zip(last.position_mm, velocity, strict=True)
                    )
                    along, off_l, off_v = in_frame(torch, path[0], frame)  # type: ignore[arg-type]
                    if path.curved:  # the line a chord ahead, onto the curve
                        samples.append(
                            sensed_joint(
                                path,
                                along,
                                (off_l, off_v),
                                lookahead,
                                (m.lateral_mm, m.vertical_mm),
                            )
                        )
                    else:
                        samples.append(
                            (along + lookahead, m.lateral_mm + off_l, m.vertical_mm + off_v)
                        )
            await asyncio.sleep(PRESCAN_POLL_S)
        return sorted(samples)

    # -- the robot ------------------------------------------------------------------------------

    def _correct(self, path: SeamPath, offset: tuple[float, float]) -> None:
        try:
            self.robot.set_path_correction(PathCorrection(offset[0], offset[1], path.frame_at(0.0)))
        except MotionRefused as error:
            self.fault(FaultCode.SEARCH_OFFSET_BEYOND_LIMIT, str(error))

    async def _set_done(
        self, done: bool, offset_mm: tuple[float, float, float] | None = None
    ) -> None:
        try:
            await self.job.set_search_done(done, offset_mm)
        except DeviceError as error:
            self.fault(FaultCode.PLC_LINK, str(error))


def start_from(
    seen: tuple[float, float], seen_at_mm: float, prescan: list[tuple[float, float, float]]
) -> tuple[float, float]:
    """The joint at s = 0: ``seen`` (the median of the frames at the search position, where
    the line lies ``seen_at_mm`` into the seam) carried back along the trend of the pre-scan's
    first ``TREND_MM`` (a line fitted to them: their slope only, so that their noise, which
    the standing median has not, moves the start by ``seen_at_mm`` times the slope's error,
    not by an extrapolation's); ``seen`` itself with too few of them."""
    first = [row for row in prescan if row[0] < seen_at_mm + TREND_MM]
    if len(first) < 3:
        return seen
    data = np.array(first)
    if np.ptp(data[:, 0]) < TREND_MM / 2:
        return seen
    slope_lateral = float(np.polyfit(data[:, 0], data[:, 1], 1)[0])
    slope_vertical = float(np.polyfit(data[:, 0], data[:, 2], 1)[0])
    return (seen[0] - slope_lateral * seen_at_mm, seen[1] - slope_vertical * seen_at_mm)


def _standing_at_start(
    feedback: RobotFeedback,
    velocity: tuple[float, float, float],
    path: SeamPath,
    frame: tuple[Point, Point, Point],
) -> bool:
    """Whether the streamed pose stands at the seam's start (its along-the-seam distance)."""
    along = in_frame(feedback.position_mm, path[0], frame)[0]
    return along > -AT_START_MM and math.hypot(*velocity) < STANDING_MM_PER_S


def _mm(point: tuple[float, ...]) -> str:
    return "(" + ", ".join(f"{v:.1f}" for v in point) + ") mm"


async def settle_on(
    robot: RobotOwnedMotion,
    taught: SeamPath,
    offset: tuple[float, float],
    poll_s: float,
    check: Callable[[], None] = lambda: None,
) -> None:
    """Until the robot stands on ``offset`` (lateral, vertical mm) from the taught line, as its
    stream reports it, looked at every ``poll_s``: it slews there at its own correction rate,
    and the arc must not strike beside the joint. At most SETTLE_TIMEOUT_S, then a warning.
    ``check`` runs at every look (the weld cycle's link check raises there)."""
    if math.hypot(*offset) < SETTLED_MM:
        return
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while time.monotonic() < deadline:
        check()
        feedback = robot.latest_feedback()
        if feedback is not None:
            _, lateral, vertical = taught.locate(feedback.position_mm)
            if math.hypot(lateral - offset[0], vertical - offset[1]) < SETTLED_MM:
                return
        await asyncio.sleep(poll_s)
    log.warning("robot not on the found offset %s mm within %g s", offset, SETTLE_TIMEOUT_S)
