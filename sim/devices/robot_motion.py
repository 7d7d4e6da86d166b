"""The simulated robot's motion: a Cartesian tool point on a queue of paths, and its physics.

Pure: no I/O, no asyncio, no wall clock. Everything happens in simulated time, advanced by
``advance_to``; the wire peer (``sim.devices.robot``) turns requests into these calls and
reports ``status()``.

- A queue of straight segments run with the robot's speed and acceleration limits; segments
  of one ``path_id`` blend into one continuous path, and a new path starts where the tool is.
- HOLD (decelerate on the path, keep the queue), RESUME, STOP (decelerate, clear the queue and
  a fault), and drive power taken away by the PLC (the brakes hold the arm where it is).
- Path corrections: a lateral / vertical offset in the seam frame, clamped to
  ``max_path_correction_mm`` and rate-limited to ``max_correction_rate_mm_per_s`` by the robot
  itself, whatever the controller sends.
- The weave (``drivers.codecs.weave``): a path told to weave (``set_weave``) carries the torch
  across the seam on top of path and correction, laid out along the path position; the robot
  makes it, the controller only names it.
- The ground truth: where the tool point actually went (``trajectory``), for scoring, with the
  weave's part of it beside it.

- MOVE_CIRCULAR: an arc through a via point (``drivers.codecs.seam_path.arc_through``); on it
  the seam frame, hence the direction of a correction and of the weave, follows the tangent.
  A part program's blended corner reaches the robot as such an arc between two lines, so the
  robot runs it at the path speed without stopping.

Simplifications, on purpose: MOVE_JOINT is run as a straight tool-point move (joint space is not
modelled); a sharp path corner at a vertex is passed exactly (the robot adds no blend radius of
its own), and the seam frame (hence the direction of a correction) turns at once there;
orientation is interpolated linearly per angle along each segment.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Callable
from dataclasses import dataclass, field

from drivers.codecs.robot_protocol import (
    MAX_SEARCH_SPEED_MM_PER_S,
    FaultCode,
    Pose,
    ResultCode,
    RobotState,
    RobotStatus,
    Search,
    SearchOutcome,
    SearchResult,
)
from drivers.codecs.seam_path import Arc, arc_through, frame_of
from drivers.codecs.settings import RobotLimits
from drivers.codecs.weave import NO_WEAVE, WeaveShape
from sim.devices.pose_history import PoseHistory

PHYSICS_STEP_S = 0.002  # simulated seconds per integration step
MAX_QUEUE_SEGMENTS = 64  # more queued segments than this: NAK BUSY
ARRIVED_MM = 1e-6  # this close to the end of the queued path, the tool is there
MAX_POSE_LOOKBACK_S = 0.05  # simulated: tool_pose_at looks back no further
WEAVES_KEPT = 8  # weaves told for paths not yet run (or the last ones run)
GROUND_TRUTH_SAMPLES = 200_000  # about 400 s of motion at one sample per physics step
SEARCH_START_TOLERANCE_MM = 0.1  # a SEARCH starts where the tool stands, this near
SEARCHES_KEPT = 16  # results of the last searches, for SEARCH_RESULT_REQ
CONTACT_BISECTIONS = 24  # halvings of a step to find where contact began (< 1 nm at 50 mm/s)

# What a search's touch probe reports at a pose: "" nothing, "contact" the touch-sense input
# (the wire's electrical contact), "collision" the torch's breakaway switch (the nozzle hit).
TouchProbe = Callable[[Pose], str]
# How far the tool may move from a pose before the probe can fire (a lower bound, mm): lets the
# search skip the probe's work far from anything.
ProbeClearance = Callable[[Pose], float]
# Whether the nozzle meets a plate with the tool at a pose on a weld path, given that path's
# seam frame there (travel, lateral, vertical): the breakaway switch, outside searches.
NozzleGuard = Callable[[Pose, tuple[tuple[float, float, float], ...]], bool]

Vector = tuple[float, float, float]


@dataclass(frozen=True, slots=True)
class TrajectorySample:
    """Where the tool point was at one instant: the ground truth for scoring."""

    sim_time_s: float
    path_id: int
    path_position_mm: float
    pose: Pose  # the actual tool pose: the path point plus the applied correction
    tool_speed_mm_per_s: float  # speed along the path
    lateral_correction_mm: float  # the correction applied at that instant
    vertical_correction_mm: float
    # The weave's offset in the pose (lateral, vertical, along; seam frame) and the running
    # weave's amplitudes (left, right): zeros without a weave.
    weave_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)
    weave_span_mm: tuple[float, float] = (0.0, 0.0)
    travel: Vector | None = None  # the weld path's tangent at the tool (tool_travel)
    # The same offset in the base frame (x, y, z): a path run against the true seam's
    # direction (a reversed pass) weaves to the other side of it in the truth's frame.
    weave_base_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)


def _reachable_speed(
    distance_mm: float, speed_there_mm_per_s: float, accel_mm_per_s2: float, dt_s: float
) -> float:
    """The highest speed for the next step that still gets down to ``speed_there`` in time.

    Either the speed is no more than ``speed_there`` already, or after a step of ``v·dt`` the
    braking distance ``(v² - v_there²) / 2a`` must still fit in what is left of ``distance``:
    v·dt + (v² - v_there²) / 2a <= distance, solved for v. Looking one step ahead (rather than
    v² <= v_there² + 2·a·distance now) keeps every braking step within a·dt.
    """
    a_dt = accel_mm_per_s2 * dt_s
    reach = a_dt * a_dt + speed_there_mm_per_s**2 + 2 * accel_mm_per_s2 * max(0.0, distance_mm)
    return max(speed_there_mm_per_s, math.sqrt(reach) - a_dt)


def _sub(a: Vector, b: Vector) -> Vector:
    return (a[0] - b[0], a[1] - b[1], a[2] - b[2])


def _cross(a: Vector, b: Vector) -> Vector:
    return (a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0])


def _norm(a: Vector) -> float:
    return math.sqrt(a[0] * a[0] + a[1] * a[1] + a[2] * a[2])


def _scaled(a: Vector, factor: float) -> Vector:
    return (a[0] * factor, a[1] * factor, a[2] * factor)


@dataclass
class _Segment:
    """One piece of a path, from ``start`` to ``end`` at ``speed_mm_per_s``: straight, or an
    arc through ``via`` (MOVE_CIRCULAR)."""

    start: Pose
    end: Pose
    speed_mm_per_s: float
    start_mm: float  # path position at the start of this segment
    via: Vector | None = None
    arc: Arc | None = field(init=False, default=None)
    length_mm: float = field(init=False)
    travel_unit: Vector = field(init=False)  # seam frame: along the path
    lateral_unit: Vector = field(init=False)  # seam frame: horizontal, left of travel
    vertical_unit: Vector = field(init=False)  # seam frame: up, perpendicular to travel

    def __post_init__(self) -> None:
        chord = _sub(self.end.position_mm, self.start.position_mm)
        self.length_mm = _norm(chord)
        travel = _scaled(chord, 1 / self.length_mm) if self.length_mm > 0 else (1.0, 0.0, 0.0)
        self.travel_unit = travel
        # Lateral is horizontal and perpendicular to travel: up × travel. When the travel is
        # (nearly) vertical every horizontal direction qualifies; take the base frame's +y.
        lateral = _cross((0.0, 0.0, 1.0), travel)
        size = _norm(lateral)
        self.lateral_unit = _scaled(lateral, 1 / size) if size > 1e-9 else (0.0, 1.0, 0.0)
        # Vertical completes the right-handed frame: perpendicular to travel, pointing up.
        self.vertical_unit = _cross(travel, self.lateral_unit)
        if self.via is not None:  # check_arc made sure it is one
            self.arc = arc_through(self.start.position_mm, self.via, self.end.position_mm)
            self.length_mm = self.arc.length_mm

    def frame_at(self, path_position_mm: float) -> tuple[Vector, Vector, Vector]:
        """(travel, lateral, vertical) at ``path_position_mm``: an arc's follows its tangent."""
        if self.arc is None:
            return self.travel_unit, self.lateral_unit, self.vertical_unit
        u = min(self.length_mm, max(0.0, path_position_mm - self.start_mm))
        return frame_of(self.arc.tangent_at(u))

    @property
    def end_mm(self) -> float:
        return self.start_mm + self.length_mm

    def pose_at(self, path_position_mm: float) -> Pose:
        """The path point at ``path_position_mm`` (which lies on this segment)."""
        if self.length_mm <= 0:
            return self.end
        fraction = min(1.0, max(0.0, (path_position_mm - self.start_mm) / self.length_mm))
        start, end = self.start.values(), self.end.values()
        pose = [a + (b - a) * fraction for a, b in zip(start, end, strict=True)]
        if self.arc is not None:
            pose[:3] = self.arc.point_at(fraction * self.length_mm)
        return Pose(*pose)


@dataclass
class _Path:
    """Queued segments run as one continuous motion (one nonzero path_id, or a single move)."""

    path_id: int
    segments: list[_Segment] = field(default_factory=list)

    @property
    def length_mm(self) -> float:
        return self.segments[-1].end_mm if self.segments else 0.0

    @property
    def end_pose(self) -> Pose:
        return self.segments[-1].end

    def append(
        self, end: Pose, speed_mm_per_s: float, start: Pose, via: Vector | None = None
    ) -> None:
        self.segments.append(_Segment(start, end, speed_mm_per_s, self.length_mm, via))

    def restart_from(self, pose: Pose) -> None:
        """Rebuild the segments so that the path begins at ``pose`` (where the tool is)."""
        old = self.segments
        self.segments = []
        for segment in old:
            via = segment.via
            if via is not None and _arc_problem(pose.position_mm, via, segment.end.position_mm):
                via = None  # the tool stands where no arc leads through via: go straight
            self.append(segment.end, segment.speed_mm_per_s, pose, via)
            pose = segment.end


def _arc_problem(start: Vector, via: Vector, end: Vector) -> str:
    try:
        arc_through(start, via, end)
    except ValueError as error:
        return str(error)
    return ""


@dataclass
class _SearchRun:
    """One SEARCH: its path (the single move), and how and where it ended."""

    request: Search
    path: _Path | None = None  # the move being run; None once it ended
    outcome: SearchOutcome = SearchOutcome.RUNNING
    pose: Pose | None = None
    travelled_mm: float = 0.0


def _arc_radius(start: Pose, via: Vector, end: Pose) -> float:
    return arc_through(start.position_mm, via, end.position_mm).radius_mm


class RobotMotion:
    """The robot's motion, in simulated time (see the module). ``trajectory`` holds the last
    ``GROUND_TRUTH_SAMPLES`` samples of the actual tool point; ``on_trajectory_sample``, if
    set, is called with each one as it is made."""

    def __init__(self, limits: RobotLimits, home_pose_mm: Vector, sim_time_s: float) -> None:
        self.limits = limits
        self.trajectory: collections.deque[TrajectorySample] = collections.deque(
            maxlen=GROUND_TRUTH_SAMPLES
        )
        self.on_trajectory_sample: Callable[[TrajectorySample], None] | None = None
        # The same steps' tool points for the sensor's camera thread (a lock of its own).
        self.poses = PoseHistory()
        self.drives_enabled = True
        self._hold_requested = False  # HOLD latch: cleared by RESUME, STOP, drives off
        self._stopping = False  # STOP received, braking on the path
        self._stopped = False  # STOP completed; reported until the next move
        self.fault = FaultCode.NONE
        self._path: _Path | None = None  # the path being run (or the last one, finished)
        self._pending: collections.deque[_Path] = collections.deque()  # paths after it
        self._path_position_mm = 0.0
        self._speed_mm_per_s = 0.0  # tool speed along the path
        self._segment_index = 0
        self._path_pose = Pose(*home_pose_mm)  # the path point, without correction
        self._target_correction_mm = (0.0, 0.0)  # (lateral, vertical) as commanded, clamped
        self._applied_correction_mm = (0.0, 0.0)  # what the rate limiter has reached so far
        self.corrections_started = False  # on the path being run (arms the stream's watchdog)
        self._weaves: dict[int, WeaveShape] = {}  # path_id -> its weave (WEAVE)
        self.sim_time_s = sim_time_s
        # Touch sensing: the probe the cell wires in (None: no touch-sense input), the search
        # running (or last run) and the results kept by id.
        self.touch_probe: TouchProbe | None = None
        self.probe_clearance: ProbeClearance | None = None
        self._probe_silent_to_mm = -math.inf  # the search's probe cannot fire before this
        # Told where the nozzle hit and the search's direction (the torch bends against it).
        self.on_collision: Callable[[Pose, Vector], None] | None = None
        # The nozzle on weld paths (None: not modelled): a hit stops the robot (step 7a).
        self.nozzle_guard: NozzleGuard | None = None
        self._search: _SearchRun | None = None
        self._searches: dict[int, _SearchRun] = {}

    # -- what it reports ----------------------------------------------------------------------

    @property
    def state(self) -> RobotState:
        if not self.drives_enabled:
            return RobotState.DRIVES_OFF
        if self.fault is not FaultCode.NONE:
            return RobotState.HOLDING if self._speed_mm_per_s > 0 else RobotState.FAULT
        if self._stopping or self._stopped:
            return RobotState.STOPPED
        if self._hold_requested:
            return RobotState.HOLDING if self._speed_mm_per_s > 0 else RobotState.HELD
        if self._speed_mm_per_s > 0 or self.motion_left():
            return RobotState.MOVING
        return RobotState.IDLE

    def status(self, last_correction_seq: int) -> RobotStatus:
        """The status the robot would answer now (at ``sim_time_s``)."""
        path = self._path
        lateral_mm, vertical_mm = self._applied_correction_mm
        return RobotStatus(
            state=self.state,
            pose=self.tool_pose(),
            path_id=path.path_id if path else 0,
            path_position_mm=self._path_position_mm if path else 0.0,
            path_length_mm=path.length_mm if path else 0.0,
            tool_speed_mm_per_s=self._speed_mm_per_s,
            queue_depth=self.queue_depth(),
            lateral_correction_mm=lateral_mm,
            vertical_correction_mm=vertical_mm,
            last_correction_seq=last_correction_seq,
            fault_code=self.fault,
        )

    @property
    def path_pose(self) -> Pose:
        """The programmed path point now, without correction or weave (EGM's planned pose)."""
        return self._path_pose

    def tool_pose_at(self, at_sim_s: float) -> Pose:
        """Where the tool point was at simulated time ``at_sim_s`` (a moment before
        ``sim_time_s``), interpolated between the physics' steps; now, if it was standing or
        that is before the steps kept."""
        now_sim_s = self.sim_time_s
        later = None
        for sample in reversed(self.trajectory):
            if sample.sim_time_s <= at_sim_s:
                break
            later = sample
            if now_sim_s - sample.sim_time_s > MAX_POSE_LOOKBACK_S:
                return self.tool_pose()
        else:
            return self.tool_pose()
        if later is None:  # no step since: standing where the last one left it
            return self.tool_pose()
        f = (at_sim_s - sample.sim_time_s) / (later.sim_time_s - sample.sim_time_s)
        a, b = sample.pose, later.pose
        return Pose(
            a.x_mm + f * (b.x_mm - a.x_mm),
            a.y_mm + f * (b.y_mm - a.y_mm),
            a.z_mm + f * (b.z_mm - a.z_mm),
            a.rx_deg,
            a.ry_deg,
            a.rz_deg,
        )

    def tool_travel_at(self, at_sim_s: float) -> Vector | None:
        """``tool_travel`` at simulated time ``at_sim_s`` (a moment ago): the sample's then."""
        for sample in reversed(self.trajectory):
            if sample.sim_time_s <= at_sim_s or self.sim_time_s - sample.sim_time_s > (
                MAX_POSE_LOOKBACK_S
            ):
                return sample.travel if self._path is not None else None
        return self.tool_travel()

    # -- what it is told --------------------------------------------------------------------

    def check_move(self, pose: Pose, speed_mm_per_s: float) -> ResultCode:
        """Why a move would be refused now (OK if it would not)."""
        if not (pose.is_finite() and math.isfinite(speed_mm_per_s)):
            return ResultCode.BAD_MESSAGE
        if not 0 < speed_mm_per_s <= self.limits.max_speed_mm_per_s:
            return ResultCode.SPEED_OVER_LIMIT
        if not self.limits.workspace_mm.contains(pose.position_mm):
            return ResultCode.OUT_OF_WORKSPACE
        if not self.drives_enabled:
            return ResultCode.DRIVES_OFF
        if self.fault is not FaultCode.NONE:
            return ResultCode.NOT_ALLOWED
        if self.queue_depth() >= MAX_QUEUE_SEGMENTS:
            return ResultCode.BUSY
        return ResultCode.OK

    def check_arc(self, via_mm: Vector, end: Pose, path_id: int) -> ResultCode:
        """Why an arc through ``via_mm`` to ``end`` would be refused (after ``check_move``)."""
        if not all(math.isfinite(v) for v in via_mm):
            return ResultCode.BAD_MESSAGE
        if not self.limits.workspace_mm.contains(via_mm):
            return ResultCode.OUT_OF_WORKSPACE
        problem = _arc_problem(self._queue_end(path_id).position_mm, via_mm, end.position_mm)
        if problem or _arc_radius(self._queue_end(path_id), via_mm, end) < (
            self.limits.min_arc_radius_mm
        ):
            return ResultCode.BAD_ARC
        return ResultCode.OK

    def _queue_end(self, path_id: int) -> Pose:
        """Where a move queued now with ``path_id`` would start from."""
        last = self._pending[-1] if self._pending else self._path
        if self._stopping and last is self._path:
            last = None
        return last.end_pose if last is not None else self.tool_pose()

    def queue(
        self, end: Pose, speed_mm_per_s: float, path_id: int, via_mm: Vector | None = None
    ) -> None:
        """A move taken (``check_move`` said OK; for an arc through ``via_mm``, ``check_arc``
        too): on the current path when it has this nonzero ``path_id``, else a new path after
        the queued ones."""
        self._queue_segment(end, speed_mm_per_s, path_id, via_mm)

    def set_weave(self, path_id: int, shape: WeaveShape) -> ResultCode:
        """Path ``path_id`` weaves so (at once, if it is the path being run)."""
        if path_id == 0:
            return ResultCode.BAD_MESSAGE  # a single move is no path to weave along
        if shape.problems(self.limits.max_weave_amplitude_mm):
            return ResultCode.WEAVE_OVER_LIMIT
        self._weaves.pop(path_id, None)
        self._weaves[path_id] = shape
        while len(self._weaves) > WEAVES_KEPT:
            del self._weaves[next(iter(self._weaves))]
        return ResultCode.OK

    def weave(self) -> WeaveShape:
        """The weave of the path being run (NO_WEAVE when it has none)."""
        path = self._path
        if path is None or path.path_id == 0:
            return NO_WEAVE
        return self._weaves.get(path.path_id, NO_WEAVE)

    def weave_offset_mm(self) -> tuple[float, float, float]:
        """Where the weave puts the torch now: (lateral, vertical, along), seam frame."""
        path = self._path
        shape = self.weave()
        if path is None or not shape.weaving:
            return (0.0, 0.0, 0.0)
        return shape.offset_mm(self._path_position_mm, path.length_mm)

    def running_path_id(self) -> int:
        """The id of the path being run (0: none, or a single move)."""
        return self._path.path_id if self._path is not None else 0

    def weave_sync(self) -> int:
        """The weave sync signals to the power source: +1 in the weave's left extreme, -1 in
        its right, 0 between or without a weave (``WeaveShape.extreme_side``)."""
        path = self._path
        shape = self.weave()
        if path is None or not shape.weaving:
            return 0
        return shape.extreme_side(self._path_position_mm)

    def hold(self) -> None:
        if self.drives_enabled:  # without drive power the arm is standing anyway
            self._hold_requested = True

    def resume(self) -> ResultCode:
        if not self.drives_enabled:
            return ResultCode.DRIVES_OFF
        if self.fault is not FaultCode.NONE:
            return ResultCode.NOT_ALLOWED
        # Idempotent: not held means nothing to do, and the answer is still "ok".
        self._hold_requested = False
        return ResultCode.OK

    def stop(self) -> None:
        if self.drives_enabled:
            self._hold_requested = False
            self.fault = FaultCode.NONE
            self._pending.clear()
            if self._speed_mm_per_s > 0:
                self._stopping = True  # brake on the path; _step forgets it at standstill
            else:
                self._finish_stop()

    def correct(self, lateral_mm: float, vertical_mm: float) -> bool:
        """A path correction; False when there is no path to correct (it is ignored)."""
        if self.state not in (RobotState.MOVING, RobotState.HOLDING, RobotState.HELD):
            return False  # a late correction after the path ended
        # The robot's own clamp, whatever the controller believes the limit is.
        limit_mm = self.limits.max_path_correction_mm
        self._target_correction_mm = (
            min(limit_mm, max(-limit_mm, lateral_mm)),
            min(limit_mm, max(-limit_mm, vertical_mm)),
        )
        self.corrections_started = True
        return True

    def set_drives_enabled(self, enabled: bool) -> None:
        """Drive power from the PLC. Off: the tool stops where it is, the queue is cleared.
        Re-enabled drives stay idle until a new command arrives."""
        if not enabled and self.drives_enabled:
            # Power gone: the brakes hold the arm where it is, no deceleration ramp.
            self._speed_mm_per_s = 0.0
            self._forget_motion()
            self.fault = FaultCode.NONE
            self._stopped = False
        self.drives_enabled = enabled

    def trip(self, fault: FaultCode) -> None:
        """A fault of the robot's own: it brakes like a HOLD (see _step); STOP clears it."""
        self.fault = fault

    # -- touch sensing -----------------------------------------------------------------------

    def check_search(self, search: Search) -> ResultCode:
        """Why a SEARCH would be refused now (OK if it would not)."""
        if search.problem():
            return ResultCode.BAD_MESSAGE
        if not 0 < search.speed_mm_per_s <= MAX_SEARCH_SPEED_MM_PER_S:
            return ResultCode.SPEED_OVER_LIMIT
        workspace = self.limits.workspace_mm
        if not (
            workspace.contains(search.start.position_mm) and workspace.contains(search.end_mm())
        ):
            return ResultCode.OUT_OF_WORKSPACE
        if not self.drives_enabled:
            return ResultCode.DRIVES_OFF
        if self.fault is not FaultCode.NONE:
            return ResultCode.NOT_ALLOWED
        if self.state is not RobotState.IDLE and not (
            self.state is RobotState.STOPPED and self._speed_mm_per_s == 0
        ):
            return ResultCode.NOT_ALLOWED
        here = self.tool_pose().position_mm
        if math.dist(here, search.start.position_mm) > SEARCH_START_TOLERANCE_MM:
            return ResultCode.NOT_ALLOWED
        return ResultCode.OK

    def start_search(self, search: Search) -> None:
        """Run ``search`` (``check_search`` said OK): a single move along its direction that
        stops at the first contact (see ``drivers.codecs.robot_protocol``)."""
        # The tool stands at the start (check_search); it takes the search's orientation
        # there (orientation moves are not modelled) and keeps it along the search.
        if self._path is not None:
            self._drop_path()
        angles = search.start.values()[3:]
        self._path_pose = Pose(*self.tool_pose().position_mm, *angles)
        self._queue_segment(Pose(*search.end_mm(), *angles), search.speed_mm_per_s, path_id=0)
        run = _SearchRun(search, path=self._path if self._path and not self._pending else None)
        if run.path is None:  # queued behind something: cannot be, check_search wants idle
            run.path = self._pending[-1]
        self._search = run
        self._probe_silent_to_mm = -math.inf
        self._searches.pop(search.search_id, None)
        self._searches[search.search_id] = run
        while len(self._searches) > SEARCHES_KEPT:
            del self._searches[next(iter(self._searches))]

    def search_result(self, search_id: int) -> SearchResult:
        """How search ``search_id`` ended (RUNNING while it runs; UNKNOWN if forgotten)."""
        run = self._searches.get(search_id)
        if run is None:
            return SearchResult(search_id, SearchOutcome.UNKNOWN, self.tool_pose(), 0.0)
        if run.outcome is SearchOutcome.RUNNING:
            self._check_search_ended(run)
        pose = run.pose if run.pose is not None else self.tool_pose()
        travelled = run.travelled_mm
        if run.outcome is SearchOutcome.RUNNING:
            travelled = self._search_travel(run, pose)
        return SearchResult(search_id, run.outcome, pose, travelled)

    def _search_travel(self, run: _SearchRun, pose: Pose) -> float:
        start, d = run.request.start.position_mm, run.request.direction
        return sum((pose.position_mm[i] - start[i]) * d[i] for i in range(3))

    def _check_search_ended(self, run: _SearchRun) -> None:
        """A running search whose move is over without contact: NOT_FOUND at its end, else
        (stopped, held, faulted, drives off) ABORTED."""
        path = run.path
        current = path is not None and self._path is path
        if current and self.fault is not FaultCode.NONE and self._speed_mm_per_s == 0:
            self._end_search(run, SearchOutcome.ABORTED)
        elif current and self._path_position_mm >= path.length_mm and self._speed_mm_per_s == 0:
            self._end_search(run, SearchOutcome.NOT_FOUND)
        elif not current and (path is None or path not in self._pending):
            self._end_search(run, SearchOutcome.ABORTED)

    def _end_search(self, run: _SearchRun, outcome: SearchOutcome) -> None:
        run.outcome = outcome
        run.pose = self.tool_pose()
        run.travelled_mm = self._search_travel(run, run.pose)
        run.path = None
        if self._search is run:
            self._search = None

    def _probe_step(self, path: _Path, before_mm: float) -> bool:
        """After a step of a search from ``before_mm`` to the path position now: if the probe
        fired on the way, put the tool where it first fired, stop it there and end the search
        (CONTACT, or ABORTED with a collision fault). True if it fired."""
        run = self._search
        probe = self.touch_probe
        if run is None or run.path is not path or probe is None:
            return False
        segment = path.segments[0]
        after_mm = self._path_position_mm
        if after_mm < self._probe_silent_to_mm:
            return False
        if not probe(segment.pose_at(after_mm)):
            if self.probe_clearance is not None:
                self._probe_silent_to_mm = after_mm + self.probe_clearance(
                    segment.pose_at(after_mm)
                )
            return False
        # Bisect for the first position where the probe fires: the input's latch.
        low, high = before_mm, after_mm
        for _ in range(CONTACT_BISECTIONS):
            middle = (low + high) / 2
            if probe(segment.pose_at(middle)):
                high = middle
            else:
                low = middle
        what = probe(segment.pose_at(high))
        # A collision stops the torch where the nozzle meets the plate. A contact is seen when
        # the robot next samples its touch-sense input, once per physics step (its input
        # cycle): the tool latches and stops where it is then, the wire bending by the
        # distance run since it touched (speed x at most one step: 0.02 mm at 10 mm/s).
        stop_mm = high if what == "collision" else after_mm
        self._path_position_mm = stop_mm
        self._path_pose = segment.pose_at(stop_mm)
        self._speed_mm_per_s = 0.0
        if what == "collision":
            self._end_search(run, SearchOutcome.ABORTED)
            self.fault = FaultCode.TORCH_COLLISION
            if self.on_collision is not None:
                self.on_collision(self._path_pose, run.request.direction)
        else:
            self._end_search(run, SearchOutcome.CONTACT)
            # The robot stops at contact: the rest of the move is forgotten, the tool stands.
            self._drop_path()
        return True

    # -- the queue -----------------------------------------------------------------------------

    def _queue_segment(
        self, end: Pose, speed_mm_per_s: float, path_id: int, via: Vector | None = None
    ) -> None:
        self._stopped = False
        last = self._pending[-1] if self._pending else self._path
        if self._stopping and last is self._path:
            last = None  # the path being stopped takes no more segments; a new one begins
        if last is not None and path_id != 0 and last.path_id == path_id:
            # Same path: blend on from its last vertex (even if the tool already stopped there).
            last.append(end, speed_mm_per_s, start=last.end_pose, via=via)
            return
        path = _Path(path_id)
        # The start is provisional: _start_next_path moves it to where the tool then is.
        start = last.end_pose if last else self._path_pose
        if via is not None and _arc_problem(start.position_mm, via, end.position_mm):
            via = None
        path.append(end, speed_mm_per_s, start=start, via=via)
        self._pending.append(path)
        self._start_next_path()

    def _start_next_path(self) -> bool:
        """Make the next queued path current if the one before is done and we may move."""
        current = self._path
        if not self._pending or self._speed_mm_per_s > 0:
            return False
        if current is not None and self._path_position_mm < current.length_mm:
            return False
        if self._hold_requested or self.fault is not FaultCode.NONE or self._stopping:
            return False
        path = self._pending.popleft()
        # A new path starts where the tool actually is: the old path's correction is folded
        # into the start point, so the tool does not jump when the correction resets to zero.
        path.restart_from(self.tool_pose())
        self._path = path
        self._path_position_mm = 0.0
        self._segment_index = 0
        self._path_pose = path.segments[0].start
        self._target_correction_mm = self._applied_correction_mm = (0.0, 0.0)
        self.corrections_started = False
        self._stopped = False
        return True

    def _forget_motion(self) -> None:
        """Clear every path and latch; the tool stays where it is."""
        self._pending.clear()
        self._hold_requested = False
        self._drop_path()
        self._stopping = False

    def _finish_stop(self) -> None:
        """A STOP's braking is over: the path is gone; moves sent meanwhile start from here."""
        self._drop_path()
        self._stopping = False
        self._stopped = not self._pending

    def _drop_path(self) -> None:
        """Forget the current path; its correction becomes part of the tool's resting pose."""
        self._path_pose = self.tool_pose()
        self._path = None
        self._path_position_mm = 0.0
        self._segment_index = 0
        self._target_correction_mm = self._applied_correction_mm = (0.0, 0.0)
        self.corrections_started = False

    def queue_depth(self) -> int:
        depth = sum(len(path.segments) for path in self._pending)
        path = self._path
        if path is not None and not self._stopping:  # a path being stopped is no longer queued
            depth += sum(1 for s in path.segments if s.end_mm > self._path_position_mm)
        return depth

    def motion_left(self) -> bool:
        path = self._path
        return bool(self._pending) or (path is not None and self._path_position_mm < path.length_mm)

    # -- physics ------------------------------------------------------------------------------

    def advance_to(self, sim_time_s: float) -> None:
        """Integrate the motion from the last instant computed up to ``sim_time_s``."""
        while self.sim_time_s < sim_time_s:
            step_s = min(PHYSICS_STEP_S, sim_time_s - self.sim_time_s)
            self.sim_time_s += step_s
            self._step(step_s)

    def _step(self, dt_s: float) -> None:
        """Advance the tool point by ``dt_s`` simulated seconds."""
        if not self.drives_enabled:
            return
        self._start_next_path()
        path = self._path
        if path is None:
            return
        accel = self.limits.max_acceleration_mm_per_s2
        position = self._path_position_mm
        speed = self._speed_mm_per_s
        braking = self._hold_requested or self._stopping or self.fault is not FaultCode.NONE
        if speed <= 0 and (braking or position >= path.length_mm):
            # Standing still and meant to. A STOP that found the tool standing ends here.
            if self._stopping:
                self._finish_stop()
            return
        segments = path.segments
        segment = segments[self._seek_segment(path, position)]

        # 1. The speed the robot aims for: the segment's programmed speed, or zero to brake.
        aim = 0.0 if braking else segment.speed_mm_per_s
        # 2. Never so fast that, after this step, it could not stop by the end of the queued
        #    path at full deceleration: this is what makes it stop exactly at the last vertex,
        #    and what lets it blend through a vertex only while the next segment is queued.
        aim = min(aim, _reachable_speed(path.length_mm - position, 0.0, accel, dt_s))
        # 3. Nor so fast that it would enter a later, slower segment above that one's speed.
        #    A segment too far ahead to brake for from this step's top speed limits nothing,
        #    nor do those after it: a long path of short segments costs no more per step.
        top_speed = speed + accel * dt_s
        for later in segments[self._segment_index + 1 :]:
            distance_mm = later.start_mm - position
            if _reachable_speed(distance_mm, 0.0, accel, dt_s) >= top_speed:
                break
            aim = min(aim, _reachable_speed(distance_mm, later.speed_mm_per_s, accel, dt_s))
        # 4. Speed changes towards the aim by at most a·dt: the acceleration limit. (2 and 3
        #    look one step ahead, so braking never needs more than a·dt per step.)
        max_change = accel * dt_s
        speed += min(max_change, max(-max_change, aim - speed))
        # 5. Advance along the path (semi-implicit Euler: the new speed over the whole step).
        before_mm = position
        position += speed * dt_s
        if path.length_mm - position < ARRIVED_MM:
            # By 2 the approach only converges on the end vertex (each step covers a little
            # less than what is left); within ARRIVED_MM it is there and at rest.
            position = path.length_mm
            speed = 0.0
        self._path_position_mm = position
        self._speed_mm_per_s = speed
        # 6. The path point, interpolated on the segment the new position lies on.
        self._path_pose = segments[self._seek_segment(path, position)].pose_at(position)
        # 6a. A touch-sensing search stops where its probe first fires (contact, collision).
        if self._search is not None and self._probe_step(path, before_mm):
            return
        # 7. The correction moves towards its target no faster than the robot allows.
        self._slew_correction(dt_s)
        # 7a. On a weld path a correction, or a path taught into the part, can drive the
        #     nozzle into a plate: the breakaway switch stops the robot where it is.
        if path.path_id != 0 and self.nozzle_guard is not None and self.fault is FaultCode.NONE:
            self._guard_nozzle(segments[self._segment_index].frame_at(position))
        # 8. Record where the tool point really is.
        self._record()
        # 9. A STOP is complete at standstill: the rest of the path is forgotten.
        if self._stopping and speed <= 0:
            self._finish_stop()

    def _guard_nozzle(self, frame: tuple[Vector, Vector, Vector]) -> None:
        assert self.nozzle_guard is not None
        pose = self.tool_pose()
        if not self.nozzle_guard(pose, frame):
            return
        self._speed_mm_per_s = 0.0
        self.fault = FaultCode.TORCH_COLLISION  # stands (a fault brakes; it is at rest)
        if self.on_collision is not None:
            self.on_collision(pose, frame[0])

    def _seek_segment(self, path: _Path, position_mm: float) -> int:
        """Index of the segment ``position_mm`` lies on (at a vertex: the one that follows)."""
        segments = path.segments
        while (
            self._segment_index < len(segments) - 1
            and position_mm >= segments[self._segment_index].end_mm
        ):
            self._segment_index += 1
        return self._segment_index

    def _slew_correction(self, dt_s: float) -> None:
        max_change_mm = self.limits.max_correction_rate_mm_per_s * dt_s
        self._applied_correction_mm = tuple(  # type: ignore[assignment]
            applied + min(max_change_mm, max(-max_change_mm, target - applied))
            for applied, target in zip(
                self._applied_correction_mm, self._target_correction_mm, strict=True
            )
        )

    def tool_travel(self) -> Vector | None:
        """The direction the tool travels along its weld path now (the path's tangent: the
        robot turns the torch, and the sensor on it, with the path); None off a weld path."""
        path = self._path
        if path is None or path.path_id == 0 or self._path_position_mm >= path.length_mm:
            return None
        return path.segments[self._segment_index].frame_at(self._path_position_mm)[0]

    def tool_pose(self) -> Pose:
        """The actual tool point: the path point shifted by the correction and the weave in
        the seam frame."""
        path_pose = self._path_pose
        lateral_mm, vertical_mm = self._applied_correction_mm
        weave_lateral, weave_vertical, along_mm = self.weave_offset_mm()
        lateral_mm += weave_lateral
        vertical_mm += weave_vertical
        if self._path is None or (lateral_mm == 0 and vertical_mm == 0 and along_mm == 0):
            return path_pose
        segment = self._path.segments[self._segment_index]
        travel, lateral, vertical = segment.frame_at(self._path_position_mm)
        return Pose(
            path_pose.x_mm
            + lateral_mm * lateral[0]
            + vertical_mm * vertical[0]
            + along_mm * travel[0],
            path_pose.y_mm
            + lateral_mm * lateral[1]
            + vertical_mm * vertical[1]
            + along_mm * travel[1],
            path_pose.z_mm
            + lateral_mm * lateral[2]
            + vertical_mm * vertical[2]
            + along_mm * travel[2],
            path_pose.rx_deg,
            path_pose.ry_deg,
            path_pose.rz_deg,
        )

    def _in_base_frame(self, offset: tuple[float, float, float]) -> tuple[float, float, float]:
        """(lateral, vertical, along) in the running segment's seam frame, as (x, y, z)."""
        if self._path is None or offset == (0.0, 0.0, 0.0):
            return (0.0, 0.0, 0.0)
        segment = self._path.segments[self._segment_index]
        axes = (segment.lateral_unit, segment.vertical_unit, segment.travel_unit)
        return tuple(
            sum(c * axis[i] for c, axis in zip(offset, axes, strict=True)) for i in range(3)
        )  # type: ignore[return-value]

    def _record(self) -> None:
        assert self._path is not None
        lateral_mm, vertical_mm = self._applied_correction_mm
        shape = self.weave()
        weave = self.weave_offset_mm()
        sample = TrajectorySample(
            sim_time_s=self.sim_time_s,
            path_id=self._path.path_id,
            path_position_mm=self._path_position_mm,
            pose=self.tool_pose(),
            tool_speed_mm_per_s=self._speed_mm_per_s,
            lateral_correction_mm=lateral_mm,
            vertical_correction_mm=vertical_mm,
            weave_mm=weave,
            weave_span_mm=(shape.amplitude_left_mm, shape.amplitude_right_mm),
            travel=self.tool_travel(),
            weave_base_mm=self._in_base_frame(weave),
        )
        self.trajectory.append(sample)
        self.poses.add(self.sim_time_s, sample.pose.position_mm, sample.travel)
        if self.on_trajectory_sample is not None:
            self.on_trajectory_sample(sample)
