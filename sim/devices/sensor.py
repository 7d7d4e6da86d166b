"""The simulated laser seam sensor: frames of the true part, streamed over TCP, and the truth.

Owns:

- where the sensor is: ``lookahead_mm`` ahead of the robot's actual tool point (corrections
  included: the sensor is bolted to the torch), looking along the nearest seam of the true part
  (the robot's tool orientation would point it there; the simulated robot does not model
  orientation). On a curved seam the torch turns with the path: the sensor lies
  ``lookahead_mm`` along the robot path's tangent at the tool (the seam's, off a weld path),
  its laser plane across that tangent, and it sees the true joint where the joint crosses
  that plane (a chord ahead, not the arc);
- what it sees there: the true joint (``sim.truth.part``) rendered by ``sim.devices.sensor_render``;
- the stream: a TCP server (``drivers.codecs.sensor_protocol`` framing) that exposes one frame every
  ``1 / frame_rate_hz`` real seconds and sends it to every connected client; a client that has
  not taken the previous frame yet is skipped (it gets the next one: a sensor never queues
  stale frames). A camera exposes on its own clock (a hardware trigger), not when software
  gets round to it: each frame is stamped with its scheduled instant and shows where the
  robot was then (``tool_pose_at``), though it is rendered a little later. The trigger, the
  rendering and the sending run in the camera head's thread (``sim.devices.sensor_camera``),
  off the event loop; the loop only says, per trigger, where the line lies on the true joint
  (``observe``): the robot, the part and the bead are the loop's;
- the truth for scoring: every frame's true joint (``frames``), and, from every physics step
  of the robot on a weld path, the torch's lateral and vertical error against the true seam
  (``TrackingScore``).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from drivers.codecs.robot_protocol import Pose
from drivers.codecs.seam_path import frame_of
from sim.devices.pose_history import Vector
from sim.devices.robot import TrajectorySample
from sim.devices.sensor_camera import (
    ASK_THE_LOOP,
    MAX_EXPOSURE_LAG_S,
    AskTheLoop,
    CameraStream,
    FrameOrder,
    next_trigger_s,
)
from sim.devices.sensor_render import (
    CameraModel,
    Disturbances,
    GrooveLayer,
    JointView,
    StripeRenderer,
    seam_to_sensor,
)
from sim.truth.bead import BeadRecord, BeadShape
from sim.truth.part import TruePart, TrueSeam
from sim.truth.v_groove import groove_layers

log = logging.getLogger(__name__)

# The camera's clock lives with the camera head; said here too, where the sensor is.
__all__ = ["MAX_EXPOSURE_LAG_S", "SimulatedSensor", "TrackingScore", "next_trigger_s"]

FRAME_TRUTH_KEPT = 100_000
TRIGGER_SWITCH_INTERVAL_S = 0.0002


@dataclass(frozen=True, slots=True)
class FrameTruth:
    frame_number: int
    exposure_ns: int
    seam: str | None
    seam_position_mm: float  # where along the taught seam the laser line lay
    view: JointView | None


@dataclass
class SeamScore:
    """Torch error against the true seam over one weld path (seam frame, mm), and beside it
    the taught path's: how far the true joint lay from the taught seam at the same places,
    which is the torch's error had the robot welded the taught path without the sensor."""

    seam: str
    path_id: int
    # The torch's centre: where it is, less the weave the robot reports making (seam frame).
    lateral_mm: list[float] = field(default_factory=list)
    vertical_mm: list[float] = field(default_factory=list)
    position_mm: list[float] = field(default_factory=list)
    taught_mm: list[float] = field(default_factory=list)  # |true joint - taught seam|
    # Where the torch really was against the true joint, weave and all, and when (simulated).
    torch_lateral_mm: list[float] = field(default_factory=list)
    torch_vertical_mm: list[float] = field(default_factory=list)
    sim_time_s: list[float] = field(default_factory=list)

    def figures(self) -> dict[str, float]:
        """``rms_mm``/``max_mm``: the torch (the centre of its weave) against the true joint;
        ``taught_rms_mm``/``taught_max_mm``: the taught path against it; both over the same
        samples. ``weave_lateral_max_mm``/``_min_mm``: how far the torch really went to either
        side of the joint (its weave; the centre's error included)."""
        lateral = np.array(self.lateral_mm)
        vertical = np.array(self.vertical_mm)
        if len(lateral) == 0:
            return {"samples": 0}
        total = np.hypot(lateral, vertical)
        taught = np.array(self.taught_mm)
        return {
            "samples": len(lateral),
            # The means with the RMS give the RMS about any planned offset (a later pass's).
            "lateral_mean_mm": float(np.mean(lateral)),
            "vertical_mean_mm": float(np.mean(vertical)),
            "lateral_rms_mm": float(np.sqrt(np.mean(lateral**2))),
            "lateral_max_mm": float(np.max(np.abs(lateral))),
            "vertical_rms_mm": float(np.sqrt(np.mean(vertical**2))),
            "vertical_max_mm": float(np.max(np.abs(vertical))),
            "rms_mm": float(np.sqrt(np.mean(total**2))),
            "max_mm": float(np.max(total)),
            "taught_rms_mm": float(np.sqrt(np.mean(taught**2))),
            "taught_max_mm": float(np.max(taught)),
            "weave_lateral_max_mm": float(np.max(self.torch_lateral_mm)),
            "weave_lateral_min_mm": float(np.min(self.torch_lateral_mm)),
        }


class TrackingScore:
    """Scores every robot trajectory sample on a weld path (nonzero path id) against the truth.

    Only samples inside the seam's length, from ``skip_start_mm`` on, count: the arc is struck
    at the start, and the scores measure how well the torch follows, not the approach.
    """

    def __init__(
        self,
        part: TruePart,
        skip_start_mm: float = 0.0,
        arc_burning: Callable[[], bool] | None = None,
        beads: BeadRecord | None = None,
        deposit_mm2: Callable[[float], float] | None = None,
    ) -> None:
        self.part = part
        self.skip_start_mm = skip_start_mm
        self._last_s: dict[tuple[str, int], float] = {}  # where the torch last was
        self.seams: list[SeamScore] = []
        # Where the arc burns, the torch lays a bead (rendered for the post-weld check).
        self.arc_burning = arc_burning
        self.beads = beads
        # The metal laid per mm of seam at a travel speed (mm/s) with the wire feeding now.
        self.deposit_mm2 = deposit_mm2

    def add(self, sample: TrajectorySample) -> None:
        if sample.path_id == 0:
            return
        point = sample.pose.position_mm
        seam = self.part.nearest(point)
        if seam is None:
            return
        # Where it was on this weld path a moment ago; a new path starts afresh.
        hint = self._last_s.get((seam.name, sample.path_id))
        s_torch, torch_lateral, torch_vertical = seam.locate(point, hint)
        self._last_s = {(seam.name, sample.path_id): s_torch}
        # The weave's centre: the robot's weave, taken into the true seam's frame where the
        # torch is (a curved seam's frame follows its tangent; a path may run either way along
        # it: a reversed pass weaves to the other side).
        weave = sample.weave_base_mm
        weave_along, weave_lateral, weave_vertical = (
            sum(w * a for w, a in zip(weave, axis, strict=True))
            for axis in seam.path.frame_at(s_torch)
        )
        s = s_torch - weave_along
        lateral = torch_lateral - weave_lateral
        vertical = torch_vertical - weave_vertical
        if self.beads is not None and self.arc_burning is not None and self.arc_burning():
            area_mm2 = (
                self.deposit_mm2(sample.tool_speed_mm_per_s)
                if self.deposit_mm2 is not None
                else 0.0
            )
            self.beads.lay(
                seam.name, s, lateral, vertical, sample.weave_span_mm, sample.path_id, area_mm2
            )
        if not (self.skip_start_mm <= s <= seam.length_mm):
            return
        truth = seam.joint_at(s)
        score = self.seams[-1] if self.seams else None
        if score is None or score.seam != seam.name or score.path_id != sample.path_id:
            score = SeamScore(seam.name, sample.path_id)
            self.seams.append(score)
        score.lateral_mm.append(lateral - truth.lateral_mm)
        score.vertical_mm.append(vertical - truth.vertical_mm - seam.aim_mm)
        score.position_mm.append(s)
        score.taught_mm.append(math.hypot(truth.lateral_mm, truth.vertical_mm))
        torch_truth = seam.joint_at(min(max(s_torch, 0.0), seam.length_mm))
        score.torch_lateral_mm.append(torch_lateral - torch_truth.lateral_mm)
        score.torch_vertical_mm.append(torch_vertical - torch_truth.vertical_mm - seam.aim_mm)
        score.sim_time_s.append(sample.sim_time_s)

    def figures(self) -> list[dict[str, float | str]]:
        return [{"seam": s.seam, "path_id": s.path_id, **s.figures()} for s in self.seams]


def _crossing(
    seam: TrueSeam,
    tool: tuple[float, float, float],
    travel: tuple[float, float, float],
    lookahead_mm: float,
    s_guess: float,
) -> tuple[float, float, float]:
    """Where the true joint of a curved seam crosses the laser plane of a sensor
    ``lookahead_mm`` along ``travel`` from ``tool``: (s along the seam, and the joint's lateral
    and vertical offset from the sensor's origin in the sensor's frame)."""
    assert seam.path is not None
    path = seam.path
    t, lat, up = frame_of(travel)
    origin = tuple(p + lookahead_mm * d for p, d in zip(tool, t, strict=True))
    s = s_guess
    joint = origin
    for _ in range(8):  # Newton on (J(s) - origin)·t = 0; J's tangent is close to t
        round_s = s - path.length_mm if path.closed and s > path.length_mm else s
        truth = seam.joint_at(min(max(round_s, 0.0), seam.length_mm))
        _, j_lat, j_up = path.frame_at(s)
        base = path.extended_point(s)
        joint = tuple(
            b + truth.lateral_mm * a + truth.vertical_mm * c
            for b, a, c in zip(base, j_lat, j_up, strict=True)
        )
        f = sum((j - o) * d for j, o, d in zip(joint, origin, t, strict=True))
        slope = sum(a * b for a, b in zip(path.tangent_at(s), t, strict=True))
        step = f / max(slope, 0.2)
        s -= step
        if abs(step) < 1e-6:
            break
    d = tuple(j - o for j, o in zip(joint, origin, strict=True))
    return (
        s,
        sum(a * b for a, b in zip(d, lat, strict=True)),
        sum(a * b for a, b in zip(d, up, strict=True)),
    )


class SimulatedSensor:
    """The laser sensor: renders what it sees from the robot's actual pose and streams it."""

    def __init__(
        self,
        part: TruePart,
        tool_pose: Callable[[], Pose],
        *,
        lookahead_mm: float,
        frame_rate_hz: float,
        camera: CameraModel | None = None,
        disturbances: Disturbances | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 1,
        tool_pose_at: Callable[[float], Pose] | None = None,
        tool_travel_at: Callable[[float | None], tuple[float, float, float] | None] | None = None,
        tool_seen_at: Callable[[float], tuple[Vector, Vector | None] | None] | None = None,
    ) -> None:
        self.part = part
        self.tool_pose = tool_pose
        # Where the tool was at a monotonic instant (a moment ago); without it, where it is.
        self.tool_pose_at = tool_pose_at
        self.tool_travel_at = tool_travel_at
        # The same from any thread, without the loop (the physics' recent steps: the robot's
        # ``tool_seen_at``); None when it does not know. Without it, every frame asks the loop.
        self.tool_seen_at = tool_seen_at
        self.lookahead_mm = lookahead_mm
        # Where along its seam the tool was last seen. This, ``frames`` and ``frames_exposed``
        # are written by whoever observes a trigger: the camera's thread (``observe_here``),
        # or the event loop on its behalf while the thread waits (``observe``): one at a time.
        self._last_s: dict[str, float] = {}
        self.frame_period_s = 1.0 / frame_rate_hz
        self.camera = camera or CameraModel()
        self.renderer = StripeRenderer(self.camera, disturbances or Disturbances(), seed)
        self.host = host
        self.port = port
        self.beads: BeadRecord | None = None  # the bead laid so far (sim.bead)
        self.bead_shape = BeadShape()
        self.frames: collections.deque[FrameTruth] = collections.deque(maxlen=FRAME_TRUTH_KEPT)
        self.frames_exposed = 0
        self.frames_dropped_late = 0  # not rendered: the event loop got to them too late
        # The camera head (its thread renders and sends); made by ``start``.
        self.camera_stream: CameraStream | None = None

    # -- life cycle --------------------------------------------------------------------------

    async def start(self) -> None:
        # The camera's thread must get the GIL at once when it wakes, not after CPython's
        # default 5 ms switch interval behind the event loop's physics.
        sys.setswitchinterval(min(sys.getswitchinterval(), TRIGGER_SWITCH_INTERVAL_S))
        stream = CameraStream(
            self.renderer,
            self.frame_period_s,
            self.observe,
            self.host,
            self.port,
            observe_here=self.observe_here,
        )
        self.port = stream.port
        self.camera_stream = stream
        stream.start(asyncio.get_running_loop())

    async def close(self) -> None:
        if self.camera_stream is not None:
            self.camera_stream.stop()  # it wakes at once
            self.camera_stream = None

    def describe(self) -> str:
        return (
            f"laser frames TCP {self.host}:{self.port} {self.camera.width_px}x"
            f"{self.camera.height_px} at {1 / self.frame_period_s:g} frames/s"
        )

    def unplug(self) -> None:
        """Pull the sensor's cable: every client connection drops (new ones are accepted)."""
        if self.camera_stream is not None:
            self.camera_stream.unplug()

    @property
    def clients(self) -> int:
        return self.camera_stream.clients if self.camera_stream is not None else 0

    @property
    def frames_sent(self) -> int:
        return self.camera_stream.frames_sent if self.camera_stream is not None else 0

    @property
    def frames_skipped(self) -> int:
        """Frames a client had not taken the one before of (it got the next)."""
        return self.camera_stream.frames_skipped if self.camera_stream is not None else 0

    # -- what the sensor sees ----------------------------------------------------------------

    def look(self, at_s: float | None = None) -> tuple[TrueSeam | None, float, JointView | None]:
        """The seam the laser line crosses at monotonic ``at_s`` (None: now), where along it,
        and the joint as seen."""
        if at_s is not None and self.tool_pose_at is not None:
            tool = self.tool_pose_at(at_s).position_mm
        else:
            tool = self.tool_pose().position_mm
        travel = self.tool_travel_at(at_s) if self.tool_travel_at is not None else None
        return self._look_from(tool, travel)

    def _look_from(
        self, tool: Vector, travel: Vector | None
    ) -> tuple[TrueSeam | None, float, JointView | None]:
        """``look`` with the tool point at the exposure and its travel direction on a weld
        path (None off one). Reads the part (never changed) and the beads (locked inside)."""
        seam = self.part.nearest(tool, max_distance_mm=40.0)
        if seam is None:
            return None, math.nan, None
        s_tool, lateral, vertical = seam.locate(tool, self._last_s.get(seam.name))
        self._last_s = {seam.name: s_tool}
        s = s_tool + self.lookahead_mm
        assert seam.path is not None
        if seam.path.curved:
            if travel is None:  # off a weld path: pointed along the seam where the tool is
                travel = seam.path.tangent_at(s_tool)
            s, lateral, vertical = _crossing(seam, tool, travel, self.lookahead_mm, s)
        if seam.path.closed and seam.length_mm < s < 2 * seam.length_mm:
            s -= seam.length_mm  # round again: the joint welded first
        if not (0 <= s <= seam.length_mm):
            return seam, s, None  # the line is off the end of the seam: a plain plate
        truth = seam.joint_at(s)
        if seam.path.curved:  # the offsets already are the joint's against the sensor
            lateral, vertical = truth.lateral_mm - lateral, truth.vertical_mm - vertical
        bead = self.beads.at(seam.name, s) if self.beads is not None else None
        # The true root relative to the sensor's origin, in the seam frame, then tilted.
        x, z = seam_to_sensor(
            truth.lateral_mm - lateral, truth.vertical_mm - vertical, seam.work_angle_deg
        )
        view = JointView(seam.joint, x, z, truth.gap_mm, truth.mismatch_mm, seam.work_angle_deg)
        view.groove = seam.groove
        if seam.joint == "v_groove_butt" and self.beads is not None:
            # Every pass laid here fills the groove (sim.truth.v_groove.filled_groove).
            # Rounded: the next frames, a few hundredths of a millimetre on, see the same.
            view.gap_mm, view.mismatch_mm = round(view.gap_mm, 2), round(view.mismatch_mm, 2)
            view.layers = self._layers(seam.name, s, truth.lateral_mm)
        elif bead is not None:
            # A woven bead is wider and flatter (sim.truth.bead).
            left_mm, right_mm = self.beads.weave_at(seam.name, s) if self.beads else (0.0, 0.0)
            width_mm, height_mm, shift_mm = self.bead_shape.weaved(left_mm, right_mm)
            view.bead_width_mm = width_mm
            view.bead_height_mm = height_mm
            view.bead_offset_mm = (
                bead[0] + shift_mm - truth.lateral_mm,
                bead[1] - truth.vertical_mm,
            )
        return seam, s, view

    def _layers(self, seam: str, s_mm: float, root_lateral_mm: float) -> tuple[GrooveLayer, ...]:
        """The passes laid ``s_mm`` along ``seam``, first to last, as a V-groove's layers (the
        arc meets the same: ``sim.truth.groove``)."""
        assert self.beads is not None
        return groove_layers(self.beads, self.bead_shape, seam, s_mm, root_lateral_mm)

    def observe(self, trigger_s: float) -> FrameOrder | None:
        """On the event loop (the owner of the robot, the part and the bead), for the camera's
        trigger at monotonic ``trigger_s``: the frame's number, exposure and the joint as seen
        then, or None if the loop got to it more than a period late (dropped)."""
        # The trigger fired at trigger_s; the loop got to it a little after (other callbacks).
        late = time.monotonic() - trigger_s
        if late > self.frame_period_s:
            # The next trigger is already due: the machine is too busy for every frame. A
            # frame grabber whose host cannot keep up drops frames; rendering this one anyway
            # would queue every later frame behind it (and the loop's own work behind the
            # truth of each: the PLC, the power source and the robot answer on this loop, and
            # their controller's link timeouts fault the cell then).
            self.frames_dropped_late += 1
            return None
        at_s = trigger_s if 0 <= late <= MAX_EXPOSURE_LAG_S else None
        exposure_ns = time.monotonic_ns() if at_s is None else round(at_s * 1e9)
        return self._order(exposure_ns, *self.look(at_s))

    def observe_here(self, trigger_s: float) -> FrameOrder | AskTheLoop | None:
        """``observe`` in the camera's own thread, without waiting for the event loop: the
        tool point at the exposure from the robot's recent physics steps (``tool_seen_at``).
        ``ASK_THE_LOOP`` when those do not say (the robot standing, no steps yet, a trigger
        too far past the newest step): the camera then asks ``observe`` on the loop."""
        if self.tool_seen_at is None:
            return ASK_THE_LOOP
        now_s = time.monotonic()
        late = now_s - trigger_s
        at_s = trigger_s if 0 <= late <= MAX_EXPOSURE_LAG_S else now_s
        seen = self.tool_seen_at(at_s)
        if seen is None:
            return ASK_THE_LOOP
        if late > self.frame_period_s:  # as on the loop (``observe``): the next is due
            self.frames_dropped_late += 1
            return None
        return self._order(round(at_s * 1e9), *self._look_from(*seen))

    def _order(
        self, exposure_ns: int, seam: TrueSeam | None, s: float, view: JointView | None
    ) -> FrameOrder:
        """The next frame's number, its truth kept for scoring."""
        self.frames_exposed += 1
        number = self.frames_exposed
        self.frames.append(FrameTruth(number, exposure_ns, seam.name if seam else None, s, view))
        return FrameOrder(number, exposure_ns, view)

    def snapshot(self) -> dict[str, object]:
        stream = self.camera_stream
        render: list[float] = []
        render_cpu: list[float] = []
        ways: dict[str, list[float]] = {}
        if stream is not None:
            with stream.render_times_lock:
                render, render_cpu = sorted(stream.render_s), sorted(stream.render_cpu_s)
                ways = {
                    "wake_late": sorted(stream.wake_late_s),
                    "truth_wait": sorted(stream.truth_wait_s),
                    "render": render,
                    "trigger_to_sent": sorted(stream.trigger_to_sent_s),
                }
        return {
            "listening": f"{self.host}:{self.port}",
            "clients": self.clients,
            "frames_exposed": self.frames_exposed,
            "frames_sent": self.frames_sent,
            "frames_skipped": self.frames_skipped,
            "frames_dropped_late": self.frames_dropped_late,
            "render_p50_ms": render[len(render) // 2] * 1e3 if render else None,
            "render_cpu_p50_ms": render_cpu[len(render_cpu) // 2] * 1e3 if render_cpu else None,
            # A frame's way through the camera head (ms, p50 and p99 of the frames kept).
            **{
                f"{name}_{label}_ms": times[min(len(times) - 1, int(q * len(times)))] * 1e3
                for name, times in ways.items()
                if times
                for label, q in (("p50", 0.5), ("p99", 0.99))
            },
        }
