"""The true part on the fixture: the taught seams plus what fixturing and heat did to them.

A part is never where its program says. A vision scenario file (``config/vision/*.yaml``)
lists deviations that add up, each a function of the distance ``s`` along the taught seam,
in the seam frame (lateral: horizontal, left of travel; vertical: up)::

    name: sine-5mm
    deviations:
      - {kind: offset, lateral_mm: 1.5, vertical_mm: 0.3}
      - {kind: rotation, angle_deg: 0.8}              # about the seam start, in the horizontal
      - {kind: sine, lateral_amplitude_mm: 5, wavelength_mm: 150}
      - {kind: step, at_mm: 40, lateral_mm: 1.0, ramp_mm: 2}
      - {kind: gap, start_mm: 0.5, end_mm: 2.5}        # root gap, varying linearly
      - {kind: mismatch, mm: 0.8}                      # the far plate stands this much higher
    placement: {x_mm: 2.0, y_mm: -1.5, z_mm: 0.4, rz_deg: 1.0, about_mm: [300, 0, 0]}
    disturbances: {...}                                # see sim.sensor.Disturbances
    camera: {...}                                      # see sim.sensor.CameraModel

The simulator reads the part program's YAML itself (it may not use the controller's loader):
the taught path, the joint type and the torch's work angle of every seam.

``placement`` moves the whole part as one rigid body (a part clamped off its taught place on
the fixture): a rotation ``rz_deg`` about the vertical through ``about_mm``, then the shift.
Every seam's true joint (and every plate: ``sim.truth.plates``) moves with it; the
deviations above are laid on top, in the placed seam's frame. A seam's path may
bend and circle (``drivers.codecs.seam_path``: a polyline ``path_mm``, or ``path`` of lines and
arcs with blended corners); the deviations are laid along it, in the seam frame that follows
its tangent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import Field

from drivers.codecs.model import StrictModel
from drivers.codecs.seam_path import PathError, SeamPath, build_path
from sim.model_file import read_model
from sim.truth.v_groove import DEFAULT_GAP_MM, DEFAULT_SHAPE, GrooveShape

Vector = tuple[float, float, float]


class VisionScenarioError(Exception):
    pass


class Offset(StrictModel):
    kind: Literal["offset"]
    lateral_mm: float = 0.0
    vertical_mm: float = 0.0


class Rotation(StrictModel):
    kind: Literal["rotation"]
    angle_deg: Annotated[float, Field(ge=-10, le=10)]


class Sine(StrictModel):
    kind: Literal["sine"]
    lateral_amplitude_mm: Annotated[float, Field(ge=-10, le=10)] = 0.0
    vertical_amplitude_mm: Annotated[float, Field(ge=-10, le=10)] = 0.0
    wavelength_mm: Annotated[float, Field(gt=0)] = 150.0
    phase_deg: float = 0.0


class Step(StrictModel):
    kind: Literal["step"]
    at_mm: float
    lateral_mm: float = 0.0
    vertical_mm: float = 0.0
    ramp_mm: Annotated[float, Field(ge=0)] = 0.0  # 0: a sharp step


class Gap(StrictModel):
    kind: Literal["gap"]
    start_mm: Annotated[float, Field(ge=0, le=10)]
    end_mm: Annotated[float, Field(ge=0, le=10)]
    wave_amplitude_mm: Annotated[float, Field(ge=0, le=5)] = 0.0
    wave_length_mm: Annotated[float, Field(gt=0)] = 60.0


class Mismatch(StrictModel):
    kind: Literal["mismatch"]
    mm: Annotated[float, Field(ge=-5, le=5)]


Deviation = Annotated[Offset | Rotation | Sine | Step | Gap | Mismatch, Field(discriminator="kind")]


class Placement(StrictModel):
    """Where the part really lies on the fixture against its program (see the module)."""

    x_mm: Annotated[float, Field(ge=-50, le=50)] = 0.0
    y_mm: Annotated[float, Field(ge=-50, le=50)] = 0.0
    z_mm: Annotated[float, Field(ge=-20, le=20)] = 0.0
    rz_deg: Annotated[float, Field(ge=-10, le=10)] = 0.0
    about_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def apply(self, point: Vector) -> Vector:
        """A point of the taught part where the placed part has it."""
        a = math.radians(self.rz_deg)
        px, py = point[0] - self.about_mm[0], point[1] - self.about_mm[1]
        return (
            self.about_mm[0] + math.cos(a) * px - math.sin(a) * py + self.x_mm,
            self.about_mm[1] + math.sin(a) * px + math.cos(a) * py + self.y_mm,
            point[2] + self.z_mm,
        )

    def undo(self, point: Vector) -> Vector:
        """A point in the cell where the taught part would have it (``apply`` undone)."""
        a = -math.radians(self.rz_deg)
        px = point[0] - self.x_mm - self.about_mm[0]
        py = point[1] - self.y_mm - self.about_mm[1]
        return (
            self.about_mm[0] + math.cos(a) * px - math.sin(a) * py,
            self.about_mm[1] + math.sin(a) * px + math.cos(a) * py,
            point[2] - self.z_mm,
        )


class VisionScenario(StrictModel):
    name: str
    description: str = ""
    deviations: list[Deviation] = Field(default_factory=list)
    disturbances: dict[str, Any] = Field(default_factory=dict)
    camera: dict[str, Any] = Field(default_factory=dict)
    bead: dict[str, Any] = Field(default_factory=dict)  # sim.bead.BeadShape
    placement: Placement = Field(default_factory=Placement)
    # The wire beyond its nominal stick-out when the scenario starts (sim.truth.torch): the
    # wire cutter of the service station cuts it back.
    stick_out_error_mm: Annotated[float, Field(ge=-5, le=10)] = 0.0
    seed: int = 1


def load_vision_scenario(path: str | Path | None) -> VisionScenario:
    """The scenario in ``path``; the ideal part (no deviations, no disturbances) for None."""
    if path is None:
        return VisionScenario(name="ideal")
    return read_model(Path(path), VisionScenario, VisionScenarioError)


@dataclass(frozen=True)
class JointState:
    """The true joint at one place along a seam, in the seam frame of the taught seam."""

    lateral_mm: float
    vertical_mm: float
    gap_mm: float
    mismatch_mm: float


@dataclass
class TrueSeam:
    name: str
    joint: str  # fillet | v_groove_butt | square_butt | lap
    work_angle_deg: float
    start: Vector
    end: Vector
    deviations: list[Any]
    path: SeamPath | None = None  # None: the straight line from start to end
    placement: Placement | None = None  # None: the part lies where its program says
    # A V-groove's preparation and its root gap as drawn (the part program's; a scenario's
    # ``gap`` deviation says what the gap really is).
    groove: GrooveShape = DEFAULT_SHAPE
    nominal_gap_mm: float = DEFAULT_GAP_MM

    @property
    def aim_mm(self) -> float:
        """How far above the true root the joint is aimed at (and found by a laser): a
        V-groove's root faces' top, where its bevels end and the root opening begins; the
        root itself elsewhere. The truth scores a torch against it."""
        return self.groove.root_face_mm if self.joint == "v_groove_butt" else 0.0

    def __post_init__(self) -> None:
        if self.path is None:
            self.path = SeamPath.polyline([self.start, self.end])
        self.length_mm = self.path.length_mm
        # The frame at the start (the whole seam's, when it is straight).
        self.travel, self.lateral, self.up = self.path.frame_at(0.0)

    def locate(self, point: Vector, hint_s_mm: float | None = None) -> tuple[float, float, float]:
        """``point`` against this taught seam: (s along, lateral, vertical) in mm, in the
        seam frame where it is nearest (``SeamPath.locate``; ``hint_s_mm`` picks between two
        places about as near: a full circle's start and end)."""
        assert self.path is not None
        if self.placement is not None:
            point = self.placement.undo(point)
        return self.path.locate(point, hint_s_mm)

    def true_point(self, s_mm: float) -> Vector:
        """Where the true root is, ``s_mm`` along the seam, in the cell (base frame)."""
        assert self.path is not None
        joint = self.joint_at(min(max(s_mm, 0.0), self.length_mm))
        point = self.path.point_at(s_mm)
        _travel, lateral, up = self.path.frame_at(s_mm)
        taught = tuple(
            point[i] + joint.lateral_mm * lateral[i] + joint.vertical_mm * up[i] for i in range(3)
        )
        if self.placement is None:
            return taught  # type: ignore[return-value]
        return self.placement.apply(taught)  # type: ignore[arg-type]

    def joint_at(self, s_mm: float) -> JointState:
        """The true joint ``s_mm`` along the taught seam. A closed seam (a full circle) closes
        on itself: what the deviations would leave open between its end and its start is
        spread along it, so the joint is continuous where the weld comes round again."""
        joint = self._deviated(s_mm)
        assert self.path is not None
        if not self.path.closed:
            return joint
        start, end = self._deviated(0.0), self._deviated(self.length_mm)
        f = min(1.0, max(0.0, s_mm / self.length_mm))
        return JointState(
            joint.lateral_mm - f * (end.lateral_mm - start.lateral_mm),
            joint.vertical_mm - f * (end.vertical_mm - start.vertical_mm),
            joint.gap_mm,
            joint.mismatch_mm,
        )

    def _deviated(self, s_mm: float) -> JointState:
        lateral = vertical = 0.0
        gap = (
            1.0
            if self.joint == "square_butt"
            else (self.nominal_gap_mm if self.joint == "v_groove_butt" else 0)
        )
        mismatch = 0.0
        for d in self.deviations:
            if isinstance(d, Offset):
                lateral += d.lateral_mm
                vertical += d.vertical_mm
            elif isinstance(d, Rotation):
                lateral += s_mm * math.tan(math.radians(d.angle_deg))
            elif isinstance(d, Sine):
                phase = 2 * math.pi * s_mm / d.wavelength_mm + math.radians(d.phase_deg)
                lateral += d.lateral_amplitude_mm * math.sin(phase)
                vertical += d.vertical_amplitude_mm * math.sin(phase)
            elif isinstance(d, Step):
                if d.ramp_mm > 0:
                    f = min(1.0, max(0.0, (s_mm - d.at_mm) / d.ramp_mm))
                else:
                    f = 1.0 if s_mm >= d.at_mm else 0.0
                lateral += f * d.lateral_mm
                vertical += f * d.vertical_mm
            elif isinstance(d, Gap):
                f = min(1.0, max(0.0, s_mm / self.length_mm))
                gap = d.start_mm + f * (d.end_mm - d.start_mm)
                gap += d.wave_amplitude_mm * math.sin(2 * math.pi * s_mm / d.wave_length_mm)
                gap = max(0.0, gap)
            elif isinstance(d, Mismatch):
                mismatch = d.mm
        return JointState(lateral, vertical, gap, mismatch)


@dataclass
class TruePart:
    seams: list[TrueSeam]

    def nearest(self, point: Vector, max_distance_mm: float = 25.0) -> TrueSeam | None:
        """The seam whose taught line passes nearest ``point`` (None if none within reach)."""
        best, best_d = None, max_distance_mm
        for seam in self.seams:
            assert seam.path is not None
            # Past its ends as far as 60 mm on (below), the box's chords sagging under 2 mm.
            if seam.path.distance_to_box(point) > max_distance_mm + 62.0:
                continue
            s, lateral, vertical = seam.locate(point)
            if -60 <= s <= seam.length_mm + 60:
                d = math.hypot(lateral, vertical)
                if d < best_d:
                    best, best_d = seam, d
        return best


def load_true_part(part_file: Path, scenario: VisionScenario) -> TruePart:
    """The part program in ``part_file`` with the scenario's deviations on every seam."""
    try:
        data = yaml.safe_load(part_file.read_text(encoding="utf-8"))
        seams = []
        for seam in data["seams"]:
            if "path" in seam:
                path = build_path(seam["path"]["start"], seam["path"]["segments"])
            else:
                path = SeamPath.polyline(seam["path_mm"])
            torch = seam.get("torch") or {}
            groove = seam.get("groove") or {}
            shape = (
                GrooveShape(
                    plate_thickness_mm=float(seam.get("plate_thickness_mm") or 10.0),
                    groove_angle_deg=float(groove.get("angle_deg", 60.0)),
                    root_face_mm=float(groove.get("root_face_mm", 0.0)),
                )
                if seam["joint"] == "v_groove_butt"
                else DEFAULT_SHAPE
            )
            seams.append(
                TrueSeam(
                    name=seam["name"],
                    joint=seam["joint"],
                    work_angle_deg=float(torch.get("work_angle_deg", 45.0)),
                    start=path[0],
                    end=path[-1],
                    deviations=list(scenario.deviations),
                    path=path,
                    placement=scenario.placement,
                    groove=shape,
                    nominal_gap_mm=float(groove.get("root_gap_mm", DEFAULT_GAP_MM)),
                )
            )
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError, PathError) as error:
        raise VisionScenarioError(f"{part_file}: {error}") from error
    return TruePart(seams)


def _dot(a: Any, b: Any) -> float:
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
