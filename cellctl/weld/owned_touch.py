"""Touch sensing with a robot that owns its motion: the job's searches, the controller's contact.

On KUKA RSI and ABB EGM the robot runs its own job (``cellctl.weld.owned_cycle``); the
controller cannot send it a search move as it does on the serial link
(``cellctl.sensing.touch``). So the job carries its searches, taught as the part program
teaches them, numbered: in every job of a part, the part's ``touch_frame`` searches first
(1..k, in the program's order), then the seam's own ``sensing.touch`` searches (k+1..). The
power source stays on the controller's link. One search (``OwnedTouchSensing.touch``), with
the job standing at its search position (``robot_at_search``):

1. the controller writes ``robot_touch_search_number`` with ``robot_touch_go``; the job drops
   ``robot_at_search`` as it takes it, moves above the search's start and down onto it, and
   runs the search move (``robot_touch_moving``) towards the plate, at the search's speed, up
   to its distance;
2. the controller switches the power source's ``touch_sense_on`` and polls ``wire_touching``
   while it records the robot's stream (RSI telegrams, EGM feedback). The first poll that
   reads contact brackets the contact between it and the poll before: its time is taken at
   the middle, and the pose there is interpolated between the two stream samples around it
   (``pose_at``: the samples' robot clock, mapped onto ours, so that the event loop's delay in
   taking a sample does not move it). The controller then raises ``robot_touch_stop``: the
   job stops the search move where it is (the wire pushes a little further into the plate
   meanwhile: the pose was latched already);
3. a search move that ends at its distance without contact (``robot_touch_moving`` drops) is
   ``TouchNotFound`` (F152, naming the search);
4. the sensing voltage comes off, ``robot_touch_go`` drops, and the job returns to its search
   position and raises ``robot_at_search`` again.

The contact against the taught one is a ``Touch`` (``cellctl.sensing.touch_fit``), the frame
fit and the seam's shift are the serial backend's (``TouchSensing.find_frame`` /
``find_seam``). The job runs its searches as taught, not in the part's found frame: a seam's
search after the frame is found still meets its plate (a plane), and its ``Touch`` is taken
against the plate as the found frame moved it (taught contact and direction through the frame).

``TouchCorrector`` is the ``PathCorrector`` of a seam found by touch: ``find`` runs the
searches at the job's search position (``cellctl.weld.owned_search`` asks it there) and the
correction along the seam is the found path's (lateral, vertical) offset from the taught one:
a turned part's correction changes along the seam, streamed as the tracking's would be (RSI:
RKorr; EGM: the path correction).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from cellctl.cell.faults import FaultCode
from cellctl.config.models import PartProgram, Seam
from cellctl.config.touch_models import TouchSearch, TouchSearches
from cellctl.sensing.touch import (
    FoundFrame,
    TouchFigures,
    TouchFitInconsistent,
    TouchNotFound,
    TouchSensing,
)
from cellctl.sensing.touch_fit import PartFrame, Touch
from cellctl.weld.robot_job import RobotJobFaulted, RobotJobTimeout
from drivers.codecs.robot_job import RobotJobSignals
from drivers.codecs.robot_protocol import Pose, SearchOutcome, SearchResult
from drivers.codecs.seam_path import SeamPath
from drivers.errors import DeviceError
from drivers.power_source import PowerSourceDriver
from drivers.robot.owned import RobotOwnedMotion

log = logging.getLogger(__name__)

Point = tuple[float, float, float]

STREAM_POLL_S = 0.004  # an RSI cycle: a sample missed is no loss (the search moves straight)
JOB_MARGIN_S = 10.0  # a search's approach, return and signals take at most this beyond its move
AFTER_CONTACT_S = 0.05  # samples recorded past the contact: the one after it must be there
TABLE_STEP_MM = 1.0
# The robot's travel between the two polls around a contact: the contact lies within it, at
# its middle give or take half of it. Wider (a poll answered late), the search runs again.
MAX_BRACKET_MM = 0.25
BRACKET_RETRIES = 3  # the found path's offsets from the taught one, this far apart


class TouchJobIo(Protocol):
    """The job's touch signals through the PLC (``cellctl.weld.robot_job.PlcRobotJobIo``)."""

    def signals(self) -> RobotJobSignals: ...

    async def set_touch(self, go: bool, number: int | None = None, stop: bool = False) -> None: ...

    async def wait_for(
        self, condition: Callable[[RobotJobSignals], bool], what: str, timeout_s: float
    ) -> RobotJobSignals: ...


class OwnedTouchAborted(Exception):
    """The job's search did not run to its end: the job faulted, or its signals were late."""


@dataclass(frozen=True, slots=True)
class StreamSample:
    """One sample of the robot's stream: its robot clock, when we took it, where the tool was."""

    robot_time_s: float
    received_at_s: float
    position_mm: Point


def sample_times(samples: Sequence[StreamSample]) -> list[float]:
    """Each sample's time on our clock (``time.monotonic``), from the robot's clock: its rate
    against ours fitted over the samples (a simulated robot's clock may run faster than ours),
    its offset from the sample taken soonest after it was sent (the least delayed: the event
    loop takes the others late by however busy it was)."""
    if len(samples) < 2:
        return [s.received_at_s for s in samples]
    robot = np.array([s.robot_time_s for s in samples])
    ours = np.array([s.received_at_s for s in samples])
    if np.ptp(robot) <= 0:
        return list(ours)
    # The rate from a line through all of them (their delays average out), the offset from
    # the least delayed one.
    rate = float(np.polyfit(robot - robot[0], ours, 1)[0])
    offset = float(np.min(ours - rate * (robot - robot[0])))
    return list(offset + rate * (robot - robot[0]))


def pose_at(samples: Sequence[StreamSample], at_s: float) -> Point:
    """Where the tool was at ``at_s`` (our clock): interpolated between the two samples around
    it (``sample_times``); the nearest end sample outside them. ``ValueError`` without any."""
    if not samples:
        raise ValueError("no stream samples")
    times = sample_times(samples)
    i = bisect.bisect_right(times, at_s)
    if i == 0:
        return samples[0].position_mm
    if i == len(samples):
        return samples[-1].position_mm
    t0, t1 = times[i - 1], times[i]
    a, b = samples[i - 1].position_mm, samples[i].position_mm
    f = (at_s - t0) / (t1 - t0) if t1 > t0 else 0.0
    return (a[0] + f * (b[0] - a[0]), a[1] + f * (b[1] - a[1]), a[2] + f * (b[2] - a[2]))


class StreamRecorder:
    """Records the robot's streamed samples while a search runs (a task on the event loop,
    which owns ``samples``)."""

    def __init__(self, robot: RobotOwnedMotion) -> None:
        self.robot = robot
        self.samples: list[StreamSample] = []
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> StreamRecorder:
        self._task = asyncio.create_task(self._record(), name="touch stream recorder")
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _record(self) -> None:
        last = None
        while True:
            feedback = self.robot.latest_feedback()
            if feedback is not None and feedback.sequence != last:
                last = feedback.sequence
                self.samples.append(
                    StreamSample(
                        feedback.robot_time_s, feedback.received_at_s, feedback.position_mm
                    )
                )
            await asyncio.sleep(STREAM_POLL_S)


@dataclass(frozen=True, slots=True)
class ContactBracket:
    """The two polls of the power source around a contact, each (asked, answered) on our
    clock: the power source sampled its input somewhere in each (taken at the middle)."""

    open_poll: tuple[float, float]  # the last that read no contact
    touch_poll: tuple[float, float]  # the first that read contact

    @property
    def after_s(self) -> float:
        """The contact came after this (the open poll was asked)."""
        return self.open_poll[0]

    @property
    def before_s(self) -> float:
        """... and before this (the touching poll was answered)."""
        return self.touch_poll[1]

    @property
    def contact_s(self) -> float:
        """The estimate: between the middles of the two polls."""
        return (sum(self.open_poll) + sum(self.touch_poll)) / 4


class OwnedTouchSensing(TouchSensing):
    """``TouchSensing`` whose searches are the robot job's (see the module): ``find_frame``
    and ``find_seam`` as on the serial link, ``touch`` through the job's signals.
    ``numbers``: each search's number in the job (by search name)."""

    def __init__(
        self,
        job: TouchJobIo,
        robot: RobotOwnedMotion,
        power_source: PowerSourceDriver,
        numbers: dict[str, int],
    ) -> None:
        # (No serial Motion: the robot runs the searches itself.)
        self.job = job
        self.robot_link = robot
        self.power_source = power_source
        self.numbers = numbers
        self.figures = TouchFigures()
        self.brackets_mm: list[float] = []  # each touch's bracket of travel (the bench's)
        self.touches: list[Touch] = []  # every touch made, in order (the bench's)

    async def touch(
        self, search: TouchSearch, group: TouchSearches, frame: PartFrame | None = None
    ) -> Touch:
        """The job's search ``search`` (see the module); its ``Touch`` against the taught
        contact moved by ``frame``. A contact the polls bracket wider than
        ``MAX_BRACKET_MM`` of the robot's travel (a poll answered late: the loop was busy) is
        searched again, up to ``BRACKET_RETRIES`` times, then ``OwnedTouchAborted`` (F157).
        ``TouchNotFound``; ``OwnedTouchAborted``; DeviceError."""
        number = self.numbers[search.name]
        frame = frame or PartFrame()
        for attempt in range(BRACKET_RETRIES + 1):
            found, bracket_mm = await self._search_once(search, group, number)
            if bracket_mm <= MAX_BRACKET_MM:
                break
            log.warning(
                "touch %s: contact bracketed within %.3f mm of travel (limit %g): %s",
                search.name,
                bracket_mm,
                MAX_BRACKET_MM,
                "searched again" if attempt < BRACKET_RETRIES else "given up",
            )
        else:
            # Welding on a contact known only to a millimetre would be welding off the
            # joint: the search is aborted (F157), the operator sees why.
            raise OwnedTouchAborted(
                f"touch search {search.name!r}: the power source's polls around the contact "
                f"were {bracket_mm:.2f} mm of the robot's travel apart (limit {MAX_BRACKET_MM} "
                f"mm) in {BRACKET_RETRIES + 1} runs: the controller is too busy to latch it"
            )
        self.brackets_mm.append(bracket_mm)
        expected = frame.apply(search.expected_contact_mm)
        log.info(
            "touch %s (job search %d): contact at (%.3f, %.3f, %.3f) mm, within %.3f mm",
            search.name,
            number,
            *found,
            bracket_mm,
        )
        touch = Touch(search.name, expected, found, frame.turn(search.unit_direction))
        self.touches.append(touch)
        return touch

    async def _search_once(
        self, search: TouchSearch, group: TouchSearches, number: int
    ) -> tuple[Point, float]:
        """One run of the job's search: the contact's pose and how much of the robot's travel
        the polls around it bracket."""
        speed = search.speed_mm_per_s or group.speed_mm_per_s
        move_s = search.distance_mm / speed
        await self.job.set_touch(True, number)
        try:
            await self._wait(lambda s: not s.at_search, f"job to take touch search {number}")
            started = time.monotonic()
            await self.power_source.touch_sense(True)
            try:
                async with StreamRecorder(self.robot_link) as stream:
                    bracket = await self._until_contact(search, move_s + JOB_MARGIN_S)
                    if bracket is not None:
                        await self.job.set_touch(True, number, stop=True)
                        await asyncio.sleep(AFTER_CONTACT_S)
                    await self._wait(lambda s: not s.touch_moving, f"search {number} to stop")
            finally:
                await self.power_source.touch_sense(False)
            self.figures.count(search.name, time.monotonic() - started)
            if bracket is None:
                end = Pose(*search.end_mm)
                raise TouchNotFound(
                    search, SearchResult(number, SearchOutcome.NOT_FOUND, end, search.distance_mm)
                )
        finally:
            await self.job.set_touch(False)
        await self._wait(lambda s: s.at_search, f"job back from touch search {number}")
        samples = stream.samples
        found = pose_at(samples, bracket.contact_s)
        width_mm = math.dist(pose_at(samples, bracket.after_s), pose_at(samples, bracket.before_s))
        return found, width_mm

    async def _until_contact(self, search: TouchSearch, timeout_s: float) -> ContactBracket | None:
        """Poll the wire's contact until it touches (``ContactBracket``) or the search move
        has run its distance (None)."""
        deadline = time.monotonic() + timeout_s
        moving_seen = False
        last_open: tuple[float, float] | None = None  # (asked, answered) of the last open poll
        while True:
            asked = time.monotonic()
            status = await self.power_source.read_status()
            answered = time.monotonic()
            if status.wire_touching is None:
                raise OwnedTouchAborted("the power source's map has no wire_touching input")
            if status.wire_touching:
                return ContactBracket(last_open or (asked, asked), (asked, answered))
            last_open = (asked, answered)
            signals = self.job.signals()
            if signals.job_fault:
                raise OwnedTouchAborted(f"the robot's job faulted in search {search.name!r}")
            if signals.touch_moving:
                moving_seen = True
            elif moving_seen:
                return None  # the move ran its whole distance
            if answered > deadline:
                raise OwnedTouchAborted(
                    f"touch search {search.name!r}: no end of the job's search move within "
                    f"{timeout_s:.0f} s"
                )

    async def _wait(self, condition: Callable[[RobotJobSignals], bool], what: str) -> None:
        try:
            await self.job.wait_for(condition, what, JOB_MARGIN_S)
        except (RobotJobFaulted, RobotJobTimeout) as error:
            raise OwnedTouchAborted(str(error)) from error


def search_numbers(part: PartProgram, seam: Seam) -> dict[str, int]:
    """The job's number of each search a seam's job carries (see the module)."""
    names = [s.name for s in part.touch_frame.searches] if part.touch_frame else []
    if seam.sensing.touch is not None:
        names += [s.name for s in seam.sensing.touch.searches]
    return {name: number for number, name in enumerate(names, start=1)}


class TouchCorrector:
    """A seam found by touch through its job (see the module): the ``PathCorrector`` the
    owned cycle holds and streams. ``found`` is the part's frame, kept by the part in
    progress; ``fault`` reports and raises (the cycle's ``CycleInterrupted``)."""

    def __init__(
        self,
        *,
        job: TouchJobIo,
        robot: RobotOwnedMotion,
        power_source: PowerSourceDriver,
        part: PartProgram,
        seam: Seam,
        found: FoundFrame,
        fault: Callable[[FaultCode, str], None],  # raises
        tell: Callable[[str], None] = lambda text: None,
    ) -> None:
        self.sensing = OwnedTouchSensing(job, robot, power_source, search_numbers(part, seam))
        self.part = part
        self.found = found
        self.fault = fault
        self.tell = tell
        self._table: list[tuple[float, float, float]] = [(0.0, 0.0, 0.0)]
        self._positions = [0.0]

    async def find(self, seam: Seam, taught: SeamPath) -> tuple[float, float]:
        """Run the part's frame searches (once per part) and the seam's; the found path's
        offset at the seam's start (and along it: ``correction_at``)."""
        path = taught
        try:
            touch_frame = self.part.touch_frame
            if touch_frame is not None and self.found.frame is None:
                frame = await self.sensing.find_frame(touch_frame, self.found)
                self.tell(
                    f"part frame found by touch: shift "
                    f"({', '.join(f'{c:.2f}' for c in frame.shift_mm)}) mm, "
                    f"turn {frame.turn_deg:.3f}°"
                )
            if self.found.frame is not None:
                path = self.found.frame.moved_path(taught)
            if seam.sensing.touch is not None:
                path, shift = await self.sensing.find_seam(
                    seam.sensing.touch, path, self.found.frame
                )
                self.tell(
                    f"seam {seam.name} found by touch: shift "
                    f"({', '.join(f'{c:.2f}' for c in shift)}) mm"
                )
        except TouchNotFound as error:
            self.fault(FaultCode.TOUCH_NOT_FOUND, f"seam {seam.name}: {error}")
        except TouchFitInconsistent as error:
            self.fault(FaultCode.TOUCH_FIT_INCONSISTENT, f"seam {seam.name}: {error}")
        except OwnedTouchAborted as error:
            self.fault(FaultCode.TOUCH_SEARCH_ABORTED, f"seam {seam.name}: {error}")
        except DeviceError as error:
            self.fault(FaultCode.POWER_SOURCE_LINK, f"seam {seam.name}: {error}")
        self._table = offsets_along(taught, path)
        self._positions = [row[0] for row in self._table]
        return self.correction_at(0.0)

    def correction_at(self, position_mm: float) -> tuple[float, float]:
        """The found path's (lateral, vertical) offset from the taught at ``position_mm``."""
        table, positions = self._table, self._positions
        i = bisect.bisect_right(positions, position_mm)
        if i == 0:
            return table[0][1], table[0][2]
        if i == len(table):
            return table[-1][1], table[-1][2]
        (s0, l0, v0), (s1, l1, v1) = table[i - 1], table[i]
        f = (position_mm - s0) / (s1 - s0) if s1 > s0 else 0.0
        return (l0 + f * (l1 - l0), v0 + f * (v1 - v0))


def offsets_along(taught: SeamPath, found: SeamPath) -> list[tuple[float, float, float]]:
    """[(s, lateral, vertical)]: the found path's points located on the taught one (its
    offset in the taught seam frame at path position s), sorted by s."""
    rows = []
    hint = None
    for point in found.sampled(TABLE_STEP_MM):
        s, lateral, vertical = taught.locate(tuple(float(c) for c in point), hint)
        hint = s
        rows.append((s, lateral, vertical))
    return sorted(rows)
