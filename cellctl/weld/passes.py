"""Multi-pass welding: the passes of a seam, and the root path the later passes follow.

A seam with a pass table (``Seam.passes``: root, hot, fill and cap passes) is welded one pass
after another. Only the root pass is found and tracked by the sensor: once the groove fills,
the root can no longer be seen. While the root pass runs, the cycle keeps what the robot
reports at every status: its path position and the correction it applies there (lateral,
vertical; clamped and rate-limited as the robot really moved, the weave not included). The
root path is the welded path with those corrections, sampled along it (``RootPathMemory``),
and every later pass runs it shifted by its offsets (``pass_path``).

**Offsets** are in the seam frame of the welded path's segment there (``seam_frame``, the
frame the robot corrects in): lateral across the groove, vertical up out of it. They keep
their meaning for a reversed pass: a positive lateral offset is the same side of the plate
whichever way the torch travels.

The root path is kept with the root pass's record (``as_record``), so that it outlives the
controller: a seam's later passes need nothing but it and the taught path.
"""

from __future__ import annotations

import bisect
import dataclasses
from dataclasses import dataclass

from cellctl.cell.geometry import Point, distance, from_frame
from cellctl.cell.records import SeamSummary
from cellctl.config.models import PassKind, Seam, WeldPass
from cellctl.motion.moves import TorchLean
from drivers.codecs.seam_path import SeamPath
from drivers.codecs.weave import WeaveShape

# The root path is kept every ROOT_STEP_MM (more finely than the corrections change: the
# tracking law filters them over several mm), in at most MAX_ROOT_POINTS points (a robot's
# queue is finite: the simulated one takes 64 segments).
ROOT_STEP_MM = 5.0
MAX_ROOT_POINTS = 48
# Points the path runs through within this of the chord between their neighbours are left
# out: fewer moves to queue (with the arc burning) for the same path.
ROOT_TOLERANCE_MM = 0.02


@dataclass(frozen=True)
class PassTorch:
    """A later pass's torch lean (``cellctl.motion.moves.TorchLean``): the seam's angles and
    the pass's changes, the work angle mirrored on a reversed pass (negative: towards the
    right of travel), which a part program's ``TorchAngles`` never is."""

    work_angle_deg: float
    travel_angle_deg: float


@dataclass(frozen=True)
class PassPlan:
    """One pass of a seam, as the cycle welds it."""

    number: int  # 1-based
    count: int
    procedure: str
    weld_pass: WeldPass | None  # None: a seam without a pass table

    @property
    def kind(self) -> str:
        return str(self.weld_pass.kind) if self.weld_pass else str(PassKind.ROOT)

    @property
    def is_root(self) -> bool:
        return self.number == 1

    @property
    def label(self) -> str:
        """What the operator reads: "pass 3 of 7, fill" (None-like "" for one pass)."""
        if self.weld_pass is None:
            return ""
        return f"pass {self.number} of {self.count}, {self.kind}"

    def torch(self, seam: Seam) -> TorchLean:
        """The pass's torch angles, as the robot turns them in the frame of the path it runs.
        The work angle leans towards that frame's lateral (left of travel): a reversed pass
        runs the other way, so its lateral is the other side of the joint, and the angle is
        mirrored to keep the torch on its side, as the offsets keep theirs. Unmirrored, a
        reversed fill on a fillet leaned the nozzle into the wall (the simulator's nozzle
        guard: F153 at the bent stiffener's first corner, ``python -m bench passes``)."""
        if self.weld_pass is None:
            return seam.torch
        work_deg = seam.torch.work_angle_deg + self.weld_pass.work_angle_change_deg
        return PassTorch(
            work_angle_deg=-work_deg if self.weld_pass.reversed else work_deg,
            travel_angle_deg=seam.torch.travel_angle_deg + self.weld_pass.travel_angle_change_deg,
        )

    def weave(self, shape: WeaveShape) -> WeaveShape:
        """The pass's weave (``shape``: its procedure's, at its travel speed) as the robot
        runs it in the frame of the path it runs: mirrored on a reversed pass, for the same
        reason as ``torch``, so that a weave wider on one plate stays wider on that plate."""
        reversed_pass = self.weld_pass is not None and self.weld_pass.reversed
        return shape.mirrored() if reversed_pass else shape

    def as_record(self, root_path: list[Point] | None, rescan: dict | None = None) -> dict | None:
        """What the pass's record keeps of it (None for a seam without a pass table); the
        root pass's record keeps the root path too, a re-scanned pass what the re-scan
        measured and changed."""
        weld_pass = self.weld_pass
        if weld_pass is None:
            return None
        record: dict = {
            "number": self.number,
            "of": self.count,
            "kind": self.kind,
            "layer": weld_pass.layer,
            "lateral_offset_mm": weld_pass.lateral_offset_mm,
            "vertical_offset_mm": weld_pass.vertical_offset_mm,
            "reversed": weld_pass.reversed,
        }
        if self.is_root and root_path is not None:
            record["root_path_mm"] = [[round(c, 3) for c in p] for p in root_path]
        if rescan is not None:
            record["rescan"] = rescan
        return record


def plan_passes(seam: Seam, table: list[WeldPass] | None = None) -> list[PassPlan]:
    """The seam's passes in order (one pass with the seam's procedure if it has no table);
    ``table``: its passes as a re-scan left them (``cellctl.weld.rescan``), numbered anew."""
    table = seam.passes if table is None else table
    if not table:
        return [PassPlan(1, 1, seam.procedure, None)]
    count = len(table)
    return [
        PassPlan(i + 1, count, weld_pass.procedure or seam.procedure, weld_pass)
        for i, weld_pass in enumerate(table)
    ]


class RootPathMemory:
    """What the robot reported while it welded the root: (position along the welded path mm,
    lateral mm, vertical mm) of the correction it applied there."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, float, float]] = []

    def add(self, position_mm: float, lateral_mm: float, vertical_mm: float) -> None:
        self.samples.append((position_mm, lateral_mm, vertical_mm))

    def correction_at(self, position_mm: float) -> tuple[float, float]:
        """The correction at ``position_mm``, interpolated between the samples around it
        (the nearest one's beyond them; (0, 0) with none)."""
        return _interpolated(sorted(self.samples), position_mm)

    def root_path(self, welded: list[Point] | SeamPath) -> list[Point]:
        """The path the root really took: ``welded`` (the path the robot was given, after
        seam finding) with the corrections it applied, sampled along it."""
        samples = sorted(self.samples)  # once, not at every point
        along = _as_seam_path(welded)
        total = along.length_mm
        steps = max(1, min(MAX_ROOT_POINTS - 1, round(total / ROOT_STEP_MM)))
        path = []
        for k in range(steps + 1):
            s = total * k / steps
            lateral, vertical = _interpolated(samples, s)
            path.append(from_frame(along.point_at(s), along.frame_at(s), (0.0, lateral, vertical)))
        return simplified(path, ROOT_TOLERANCE_MM)


def _interpolated(
    samples: list[tuple[float, float, float]], position_mm: float
) -> tuple[float, float]:
    """``RootPathMemory.correction_at`` over ``samples`` sorted by position."""
    if not samples:
        return 0.0, 0.0
    positions = [s[0] for s in samples]
    i = bisect.bisect_left(positions, position_mm)
    if i == 0:
        return samples[0][1], samples[0][2]
    if i == len(samples):
        return samples[-1][1], samples[-1][2]
    (s0, l0, v0), (s1, l1, v1) = samples[i - 1], samples[i]
    f = 0.0 if s1 - s0 < 1e-9 else (position_mm - s0) / (s1 - s0)
    return l0 + f * (l1 - l0), v0 + f * (v1 - v0)


def _as_seam_path(path: list[Point] | SeamPath) -> SeamPath:
    """The path with its seam frame at each position (``SeamPath.frame_at``: a polyline's
    segment there, the later one at a corner, as the robot turns its correction frame; an
    arc's tangent, where the welded path was curved)."""
    return path if isinstance(path, SeamPath) else SeamPath.polyline(path)


def simplified(path: list[Point], tolerance_mm: float) -> list[Point]:
    """``path`` without the points that lie within ``tolerance_mm`` of the chord between the
    points kept around them (Douglas-Peucker); its ends always kept."""
    keep = [False] * len(path)
    keep[0] = keep[-1] = True
    spans = [(0, len(path) - 1)]
    while spans:
        first, last = spans.pop()
        far, far_mm = None, tolerance_mm
        for i in range(first + 1, last):
            off = _off_chord_mm(path[i], path[first], path[last])
            if off > far_mm:
                far, far_mm = i, off
        if far is not None:
            keep[far] = True
            spans += [(first, far), (far, last)]
    return [p for p, kept in zip(path, keep, strict=True) if kept]


def _off_chord_mm(point: Point, a: Point, b: Point) -> float:
    ab = tuple(q - p for p, q in zip(a, b, strict=True))
    ap = tuple(q - p for p, q in zip(a, point, strict=True))
    size2 = sum(c * c for c in ab)
    f = (
        0.0
        if size2 < 1e-12
        else max(0.0, min(1.0, sum(x * y for x, y in zip(ap, ab, strict=True)) / size2))
    )
    return distance(point, tuple(p + f * c for p, c in zip(a, ab, strict=True)))  # type: ignore[arg-type]


def pass_path(root_path: list[Point], weld_pass: WeldPass) -> list[Point]:
    """The path of a later pass: the root path shifted by the pass's offsets (each point in
    the seam frame of the root path's segment there), run backwards if the pass is reversed."""
    offset = (0.0, weld_pass.lateral_offset_mm, weld_pass.vertical_offset_mm)
    along = _as_seam_path(root_path)
    points = [
        from_frame(point, along.frame_at(s), offset)
        for point, s in zip(root_path, (*along.starts_mm, along.length_mm), strict=True)
    ]
    return points[::-1] if weld_pass.reversed else points


def seam_of_passes(passes: list[SeamSummary], seam: Seam) -> SeamSummary:
    """A multi-pass seam's record from its passes' (each in the store on its own): the arc's
    time, energy and troubles summed, the verdict bad if any pass's is, each reason with its
    pass."""
    last = passes[-1]
    verdicts = [p.verdict for p in passes]
    if "bad" in verdicts:
        verdict = "bad"
    elif all(v == "dry_run" for v in verdicts):
        verdict = "dry_run"
    else:
        verdict = "good"
    return dataclasses.replace(
        last,
        procedure=seam.procedure,
        length_mm=passes[0].length_mm,
        arc_time_s=sum(p.arc_time_s for p in passes),
        samples=sum(p.samples for p in passes),
        out_of_band_s=sum(p.out_of_band_s for p in passes),
        excursions=sum(p.excursions for p in passes),
        arc_energy_kj=sum(p.arc_energy_kj for p in passes),
        heat_input_kj_per_mm=None,  # per pass: on each pass's record
        arc_breaks=sum(p.arc_breaks for p in passes),
        restarts=sum(p.restarts for p in passes),
        verdict=verdict,
        reasons=[f"pass {i}: {r}" for i, p in enumerate(passes, start=1) for r in p.reasons],
        tracking=passes[0].tracking,
        temperature=None,
        weld_pass={"passes": len(passes), "verdicts": verdicts},
    )
