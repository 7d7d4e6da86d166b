"""Joint detection: the root point, gap and mismatch of a joint in one laser profile.

The profile is the stripe triangulated into the sensor frame: points (x, z) in mm, one per
image column that had the line. Each joint type has its own model of plate faces (straight
lines, fitted by total least squares so that steep faces fit as well as flat ones) and
edges (where the line ends at a gap, or jumps at a plate's edge):

- ``fillet`` (T-joint, seen by a sensor tilted with the torch): two faces meeting in a corner;
  the root is their intersection.
- ``v_groove_butt``: on each side of the root gap a top face and a groove wall; the root is the
  midpoint of the walls' bottom edges, the gap their distance, the mismatch the difference of
  the top faces' heights.
- ``square_butt``: one face each side of the gap; root midway between the edges.
- ``lap``: the upper plate's face, its edge, the lower plate's face; the root is the corner at
  the foot of the edge, the mismatch the step's height.

The sensor is tilted with the torch's work angle, so the plates do not lie along the sensor's
x: gaps, mismatches and steps are measured along the plates and square to them, never along
the sensor's axes. Tilted, the sensor also sees a plate's edge as a face of its own (a lap's
upper plate edge, a square butt's plate edge down into the gap): a plate's edge is where the
line leaves its top face, and where such an edge face is seen it is fitted too (a lap's root
is where it meets the lower plate). Looking straight down, an edge lies in one column and the
line jumps there instead.

Every fit is judged (enough points per face, small residual, a plausible angle or gap); the
confidence is the weakest of those judgements, and below ``min_confidence`` the frame says
"no trustworthy joint" with the reason, instead of guessing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cellctl.config.sensor_models import JointSettings

NEAR_EXPECTED_MM = 1.5  # a break this close to the last root is the joint's
WALL_FOOT_TOLERANCE_MM = 0.35  # V-groove: walls' feet vs plates' mismatch
AMBIGUOUS_HOLE_MM = 0.3  # two holes this wide, and no frame before: which is the gap?
EDGE_HOLE_MM = 0.5  # line missing beside a lap edge
MIN_BEVEL_DEG = 15.0  # V-groove: a wall flatter than this to its plate's top is no bevel
MAX_PLATES_DEG = 10.0  # square butt and lap: the two plates' faces are this close to parallel
ON_FACE_MM = 0.06  # a point this close to a face's line (or 4 of its residuals) lies on it
MIN_EDGE_FACE_POINTS = 8  # fewer: the edge is seen edge-on (the line jumps there)
MIN_EDGE_FACE_DEG = 45.0  # a plate's edge face stands at least this steep to its top face


@dataclass(frozen=True)
class Joint:
    """The joint found in one profile (sensor frame, mm), or why none was trusted."""

    ok: bool
    root_x_mm: float = math.nan
    root_z_mm: float = math.nan
    gap_mm: float = math.nan
    mismatch_mm: float = math.nan
    confidence: float = 0.0
    reason: str = ""


@dataclass(frozen=True)
class Line:
    """A face: the line through ``centre`` along unit ``direction``; ``rms`` of its points."""

    centre: tuple[float, float]
    direction: tuple[float, float]
    rms: float
    points: int

    def z_at(self, x: float) -> float:
        dx, dz = self.direction
        if abs(dx) < 1e-9:
            return self.centre[1]
        return self.centre[1] + (x - self.centre[0]) * dz / dx

    def intersect(self, other: Line) -> tuple[float, float] | None:
        (x1, z1), (dx1, dz1) = self.centre, self.direction
        (x2, z2), (dx2, dz2) = other.centre, other.direction
        det = dx1 * (-dz2) - dz1 * (-dx2)
        if abs(det) < 1e-6:
            return None
        t = ((x2 - x1) * (-dz2) - (z2 - z1) * (-dx2)) / det
        return (x1 + t * dx1, z1 + t * dz1)

    def angle_to(self, other: Line) -> float:
        """Angle between the two faces' directions, degrees in [0, 180)."""
        a = math.degrees(math.atan2(self.direction[1], self.direction[0]))
        b = math.degrees(math.atan2(other.direction[1], other.direction[0]))
        return abs(a - b) % 180


def _between(a: Line, b: Line) -> float:
    """The acute angle between two faces, degrees in [0, 90]."""
    angle = a.angle_to(b)
    return min(angle, 180 - angle)


def _plates_frame(a: Line, b: Line) -> tuple[np.ndarray, np.ndarray]:
    """The plates' direction (unit, towards +x) and their normal (unit, towards the sensor)
    from two faces that lie along them: the frame in which a gap is measured along the
    plates and a mismatch or a step square to them, at any tilt of the sensor."""
    along = np.zeros(2)
    for line in (a, b):
        direction = np.array(line.direction)
        along += direction if direction[0] >= 0 else -direction
    along /= np.linalg.norm(along)
    return along, np.array([-along[1], along[0]])


def _residuals(points: np.ndarray, cx: float, cz: float, ux: float, uz: float) -> np.ndarray:
    """Signed distances of the points from the line (positive: left of its direction)."""
    normal = np.array((-uz, ux), dtype=np.float32)
    return points @ normal - np.float32(cz * ux - cx * uz)


def _points(x: np.ndarray, z: np.ndarray) -> np.ndarray:
    """(N, 2) float32, as fitLine takes them (np.stack's Python costs more than the copy)."""
    points = np.empty((len(x), 2), dtype=np.float32)
    points[:, 0] = x
    points[:, 1] = z
    return points


def _median(values: np.ndarray) -> float:
    """np.median without its overhead (this runs several times per frame)."""
    n = len(values)
    half = n // 2
    if n % 2:
        return float(np.partition(values, half)[half])
    low, high = np.partition(values, [half - 1, half])[half - 1 : half + 1]
    return 0.5 * float(low + high)


def fit_line_robust(x: np.ndarray, z: np.ndarray, floor_mm: float = 0.03) -> Line:
    """A line fit that drops stray points (spatter, a reflection caught by the stripe) and
    fits again, twice: points beyond 3 robust sigmas (at least ``floor_mm``) are dropped.
    One compiled call (``_stripe.fit_line``, without the GIL), or the same in numpy."""
    out = np.empty(6)
    fit_line(
        np.ascontiguousarray(x, dtype=np.float64), np.ascontiguousarray(z, dtype=np.float64),
        floor_mm, out,
    )  # fmt: skip
    cx, cz, ux, uz, rms, kept = out.tolist()
    return Line((cx, cz), (ux, uz), rms, int(kept))


def _fit_once(x: np.ndarray, z: np.ndarray) -> tuple[float, float, float, float, np.ndarray]:
    """Total least squares line through the points: centre, unit direction (the scatter
    matrix's principal axis) and the points' distances from it. Every sum in point order
    (cumulative sums: numpy's own sums pair their terms), as ``_stripe.fit_line`` sums."""
    n = len(x)
    cx = float(np.cumsum(x)[-1]) / n
    cz = float(np.cumsum(z)[-1]) / n
    dx, dz = x - cx, z - cz
    a = float(np.cumsum(dx * dx)[-1])
    b = float(np.cumsum(dx * dz)[-1])
    c = float(np.cumsum(dz * dz)[-1])
    angle = 0.5 * math.atan2(2.0 * b, a - c)
    ux, uz = math.cos(angle), math.sin(angle)
    distance = np.abs(x * -uz + z * ux - (cz * ux - cx * uz))
    return cx, cz, ux, uz, distance


def _fit_line_numpy(x: np.ndarray, z: np.ndarray, floor_mm: float, out: np.ndarray) -> None:
    """``_stripe.fit_line`` in numpy, bit for bit (tests/test_vision.py holds them to it):
    ``out`` = centre x, z, direction x, z, rms, points kept."""
    if len(x) < 2:
        raise ValueError("x: a line needs 2 points or more")
    cx, cz, ux, uz, distance = _fit_once(x, z)
    for _ in range(2):
        sigma = 1.4826 * _median(distance)
        keep = distance <= max(3 * sigma, floor_mm)
        kept = int(np.count_nonzero(keep))
        if kept == len(x) or kept < 3:
            break
        x, z = x[keep], z[keep]
        cx, cz, ux, uz, distance = _fit_once(x, z)
    rms = math.sqrt(float(np.cumsum(distance * distance)[-1]) / len(x))
    out[:] = (cx, cz, ux, uz, rms, len(x))


def best_split(x: np.ndarray, z: np.ndarray, min_points: int) -> int | None:
    """Where two straight faces meet: the split k minimising both lines' squared residuals.

    Every split at once from running sums: for a set of points the smallest eigenvalue of
    its scatter matrix is the total least squares residual of its best line. One compiled
    call (``_stripe.split``, without the GIL), or the same in numpy.
    """
    if len(x) < 2 * min_points:
        return None
    x = np.ascontiguousarray(x, dtype=np.float64)
    return split(x, np.ascontiguousarray(z, dtype=np.float64), min_points)


def _split_numpy(x: np.ndarray, z: np.ndarray, min_points: int) -> int:
    """``_stripe.split`` in numpy, bit for bit: ``best_split`` for ``2 * min_points`` points
    or more (tests/test_vision.py holds them to it)."""
    n = len(x)
    if min_points < 1 or n < 2 * min_points:
        raise ValueError("split: needs min_points >= 1 and 2 min_points points")
    # Rows x, z, xx, zz, xz; column i summed over the points up to i.
    sums = np.array((x, z, x * x, z * z, x * z)).cumsum(axis=1)
    splits = n - 2 * min_points + 1  # k = min_points .. n - min_points: left is [0, k)
    left = sums[:, min_points - 1 : n - min_points]
    count = np.arange(min_points, n - min_points + 1, dtype=np.float64)
    # Left and right of every split side by side: one pass of arithmetic for both.
    sx, sz, sxx, szz, sxz = np.concatenate((left, sums[:, -1:] - left), axis=1)
    m = np.concatenate((count, n - count))
    sxx = sxx - sx * sx / m
    szz = szz - sz * sz / m
    sxz = sxz - sx * sz / m
    # Twice the smaller eigenvalue of each side's scatter matrix (the factor 2 changes no
    # minimum): (a + c) - hypot(a - c, 2 b).
    residual = (sxx + szz) - np.hypot(sxx - szz, 2 * sxz)
    return min_points + int((residual[:splits] + residual[splits:]).argmin())


class JointDetector:
    """Finds one joint type's root in profiles (see the module docstring)."""

    def __init__(self, joint: str, settings: JointSettings | None = None) -> None:
        self.joint = joint
        self.settings = settings or JointSettings()
        self._detect = {
            "fillet": self._fillet,
            "v_groove_butt": self._v_groove,
            "square_butt": self._square_butt,
            "lap": self._lap,
        }.get(joint)
        if self._detect is None:
            raise ValueError(f"no joint detector for {joint!r}")

    def detect(self, x: np.ndarray, z: np.ndarray, expected_x_mm: float | None = None) -> Joint:
        """The joint in the profile (x, z in mm, in column order, NaN-free).

        ``expected_x_mm``: where the root was in the frames before; a break in the profile
        near it is the joint's (a hole left by rejected spatter elsewhere is not)."""
        self._expected_x = expected_x_mm
        self._ambiguous = ""
        if len(x) < 2 * self.settings.min_points_per_face:
            return Joint(False, reason=f"only {len(x)} profile points")
        return self._detect(x, z)

    # -- judgements ------------------------------------------------------------------------

    def _face_confidence(self, *lines: Line) -> tuple[float, str]:
        s = self.settings
        worst, why = 1.0, ""
        for line in lines:
            c_points = min(1.0, line.points / (2 * s.min_points_per_face))
            c_rms = max(0.0, 1 - line.rms / (2 * s.max_face_rms_mm))
            if line.points < s.min_points_per_face:
                c_points = 0.0
            c = min(c_points, c_rms)
            if c < worst:
                worst = c
                why = f"face of {line.points} points, residual {line.rms:.3f} mm"
        return worst, why

    def _result(self, root, gap, mismatch, confidence, why) -> Joint:
        ok = confidence >= self.settings.min_confidence and root is not None
        if root is None:
            return Joint(False, reason=why or "faces do not meet")
        return Joint(ok, root[0], root[1], gap, mismatch, confidence, "" if ok else why)

    def _gap_edges(
        self, x: np.ndarray, z: np.ndarray, prefer: str = "widest"
    ) -> tuple[int, float] | None:
        """The joint's break in the profile (missing columns or a jump): (index after, the
        typical column spacing in mm). Which break: ``widest`` (the largest, across or in
        height: a tilted sensor sees into a butt joint's gap, and the line jumps out of it
        rather than leaving a hole); ``lowest`` (a groove's root gap lies at its bottom, where
        spatter holes in the top faces do not)."""
        if len(x) < 3:
            return None
        dx, dz = np.diff(x), np.diff(z)
        step = np.abs(dx)
        typical = _median(step)
        jumps = np.hypot(dx, dz)
        is_break = (step > 2.5 * typical) | (jumps > self.settings.jump_mm)
        m = self.settings.min_points_per_face
        is_break[: m - 1] = False
        is_break[len(is_break) - m + 1 :] = False
        if not is_break.any():
            return None
        expected = getattr(self, "_expected_x", None)
        self._ambiguous = ""
        if expected is not None:
            middle = (x[:-1] + x[1:]) / 2
            near = is_break & (np.abs(middle - expected) < NEAR_EXPECTED_MM)
            if near.any():
                is_break = near
        elif prefer == "widest":
            # No frame before to say where the joint was: two breaks in the line that could
            # each be the gap (one of them a dropout) cannot be told apart in one frame.
            holes = is_break & (jumps > AMBIGUOUS_HOLE_MM)
            if np.count_nonzero(holes) > 1:
                self._ambiguous = f"{np.count_nonzero(holes)} gaps in view"
        if prefer == "lowest":
            score = np.where(is_break, -np.minimum(z[:-1], z[1:]), -np.inf)
        else:  # widest: a gap between plates (spatter's holes are narrow)
            score = np.where(is_break, jumps, -np.inf)
        i = int(np.argmax(score))
        return i + 1, typical

    def _plate_edge(
        self, x: np.ndarray, z: np.ndarray, face: Line, spacing: float, toward: int
    ) -> np.ndarray:
        """Where a plate's top ``face`` ends, its points (x, z) ordered towards the edge, which
        lies ``toward`` +x (1) or −x (−1): half a column past the last point on the face's
        line. Points beyond it are the plate's edge face, seen down into a gap when the
        sensor is tilted, not its top."""
        residual = np.abs(_residuals(_points(x, z), *face.centre, *face.direction))
        on_face = np.flatnonzero(residual <= max(ON_FACE_MM, 4 * face.rms))
        last = int(on_face[-1]) if len(on_face) else len(x) - 1
        edge_x = float(x[last]) + toward * spacing / 2
        return np.array([edge_x, face.z_at(edge_x)])

    # -- joint types -------------------------------------------------------------------------

    def _fillet(self, x: np.ndarray, z: np.ndarray) -> Joint:
        k = best_split(x, z, self.settings.min_points_per_face)
        if k is None:
            return Joint(False, reason="too few points for two faces")
        a, b = fit_line_robust(x[:k], z[:k]), fit_line_robust(x[k:], z[k:])
        confidence, why = self._face_confidence(a, b)
        angle = a.angle_to(b)
        angle = min(angle, 180 - angle)
        if not 60 <= angle <= 90:
            confidence, why = 0.0, f"faces meet at {angle:.0f}°, not a fillet's corner"
        return self._result(a.intersect(b), 0.0, 0.0, confidence, why)

    def _two_sides(self, x, z, prefer: str = "widest"):
        found = self._gap_edges(x, z, prefer)
        if found is None:
            return None
        k, spacing = found
        return (x[:k], z[:k]), (x[k:], z[k:]), spacing

    def _v_groove(self, x: np.ndarray, z: np.ndarray) -> Joint:
        s = self.settings
        sides = self._two_sides(x, z, "lowest")
        if sides is not None and min(sides[0][1][-1], sides[1][1][0]) > float(z.min()) + 0.5:
            sides = None  # that break is not at the groove's bottom: the gap is closed
        if sides is None:
            # Gap closed: the two walls meet; split at the bottom of the groove.
            k = int(np.argmin(z))
            sides = ((x[: k + 1], z[: k + 1]), (x[k:], z[k:]), _median(np.diff(x)))
        (xl, zl), (xr, zr), spacing = sides
        kl = best_split(xl, zl, s.min_points_per_face // 2)
        kr = best_split(xr, zr, s.min_points_per_face // 2)
        if kl is None or kr is None:
            return Joint(False, reason="too few points for the groove's faces")
        top_l, wall_l = fit_line_robust(xl[:kl], zl[:kl]), fit_line_robust(xl[kl:], zl[kl:])
        wall_r, top_r = fit_line_robust(xr[:kr], zr[:kr]), fit_line_robust(xr[kr:], zr[kr:])
        confidence, why = self._face_confidence(top_l, wall_l, wall_r, top_r)
        along, normal = _plates_frame(top_l, top_r)
        edge_lx = float(xl[-1]) + spacing / 2
        edge_rx = float(xr[0]) - spacing / 2
        foot_l = np.array([edge_lx, wall_l.z_at(edge_lx)])
        foot_r = np.array([edge_rx, wall_r.z_at(edge_rx)])
        gap = float(along @ (foot_r - foot_l))
        if gap < s.min_gap_mm:  # no gap seen: the walls' own corner is the root
            root = wall_l.intersect(wall_r)
            gap = 0.0
        else:
            root = tuple((foot_l + foot_r) / 2)
        if gap > s.max_gap_mm:
            confidence, why = 0.0, f"gap {gap:.1f} mm is wider than {s.max_gap_mm:g} mm"
        bevel = min(_between(top_l, wall_l), _between(wall_r, top_r))
        if bevel < MIN_BEVEL_DEG:
            # Walls in line with the tops: a flat plate (or a closed square butt), no groove.
            confidence, why = 0.0, f"groove walls {bevel:.0f}° from the plates: no groove"
        # Heights square to the plates, where the root is.
        centre = (foot_l + foot_r) / 2
        mismatch = _height(top_r, centre, along, normal) - _height(top_l, centre, along, normal)
        # Plates of one thickness: the walls' feet differ in height as the tops do. A wall
        # whose line ends higher was cut short (a dropout beside the gap): its edge is not
        # the root's.
        feet = float(normal @ (foot_r - foot_l))
        if gap >= s.min_gap_mm and abs(feet - mismatch) > WALL_FOOT_TOLERANCE_MM:
            confidence, why = (
                0.0,
                (f"groove walls end {feet:+.2f} mm apart in height, the plates {mismatch:+.2f} mm"),
            )
        return self._result(root, gap, mismatch, confidence, why)

    def _square_butt(self, x: np.ndarray, z: np.ndarray) -> Joint:
        s = self.settings
        sides = self._two_sides(x, z)
        if sides is None:
            return Joint(False, reason="no gap between the plates")
        (xl, zl), (xr, zr), spacing = sides
        left, right = fit_line_robust(xl, zl), fit_line_robust(xr, zr)
        confidence, why = self._face_confidence(left, right)
        along, normal = _plates_frame(left, right)
        edge_l = self._plate_edge(xl, zl, left, spacing, 1)
        edge_r = self._plate_edge(xr[::-1], zr[::-1], right, spacing, -1)
        gap = float(along @ (edge_r - edge_l))
        if not s.min_gap_mm <= gap <= s.max_gap_mm:
            confidence, why = 0.0, f"gap {gap:.2f} mm outside {s.min_gap_mm:g}..{s.max_gap_mm:g}"
        if self._ambiguous:
            confidence, why = 0.0, self._ambiguous
        angle = _between(left, right)
        if angle > MAX_PLATES_DEG:
            confidence, why = 0.0, f"plates at {angle:.0f}° to each other"
        root = tuple((edge_l + edge_r) / 2)
        return self._result(root, gap, float(normal @ (edge_r - edge_l)), confidence, why)

    def _lap(self, x: np.ndarray, z: np.ndarray) -> Joint:
        s = self.settings
        k = best_split(x, z, s.min_points_per_face)
        if k is None:
            return Joint(False, reason="too few points for two plates")
        # Two faces either side of the best split: the plates (the split falls at the edge,
        # or inside its face, whose points the robust fits drop).
        a, b = fit_line_robust(x[:k], z[:k]), fit_line_robust(x[k:], z[k:])
        angle = _between(a, b)
        if angle > MAX_PLATES_DEG:
            return Joint(False, reason=f"faces at {angle:.0f}° to each other, not a lap's plates")
        confidence, why = self._face_confidence(a, b)
        along, normal = _plates_frame(a, b)
        upper_left = normal @ np.array(a.centre) > normal @ np.array(b.centre)
        upper, lower = (a, b) if upper_left else (b, a)
        step = float(normal @ (np.array(upper.centre) - np.array(lower.centre)))
        if step < s.jump_mm:
            return self._result(None, 0.0, step, 0.0, f"edge only {step:.2f} mm high")
        # The points on each plate, the upper plate's first (in column order or reversed).
        order = slice(None) if upper_left else slice(None, None, -1)
        xs, zs = x[order], z[order]
        points = _points(xs, zs)
        on_upper = np.abs(_residuals(points, *upper.centre, *upper.direction)) <= max(
            ON_FACE_MM, 4 * upper.rms
        )
        on_lower = np.abs(_residuals(points, *lower.centre, *lower.direction)) <= max(
            ON_FACE_MM, 4 * lower.rms
        )
        # The upper plate ends where the most points lie on their own plate either side.
        last_upper = int(np.argmax(np.cumsum(on_upper, dtype=np.int64) - np.cumsum(on_lower)))
        after = np.flatnonzero(on_lower[last_upper + 1 :])
        if len(after) == 0:
            return self._result(None, 0.0, step, 0.0, "no lower plate beside the edge")
        first_lower = last_upper + 1 + int(after[0])
        between = slice(last_upper + 1, first_lower)
        if first_lower - last_upper - 1 >= MIN_EDGE_FACE_POINTS:
            # The edge's face in view (the sensor tilted towards it): the root is its foot.
            edge = fit_line_robust(xs[between], zs[between])
            root = edge.intersect(lower)
            c_edge = max(0.0, 1 - edge.rms / (2 * s.max_face_rms_mm))
            if c_edge < confidence:
                confidence, why = (
                    c_edge,
                    f"edge face of {edge.points} points, residual {edge.rms:.3f} mm",
                )
            standing = _between(edge, lower)
            if standing < MIN_EDGE_FACE_DEG:
                confidence, why = 0.0, f"edge face only {standing:.0f}° to the plates"
            short = root is not None and (
                abs(float(along @ (np.array(root) - points[first_lower]))) > EDGE_HOLE_MM
            )
            if short:
                # The line is missing at the foot: that is where the root is, not seen.
                confidence, why = 0.0, "line lost at the foot of the plate edge"
        else:
            # The edge seen edge-on: the line jumps from the upper plate to the lower one.
            spacing = _median(np.abs(np.diff(x)))
            if abs(float(xs[first_lower] - xs[last_upper])) > EDGE_HOLE_MM:
                # The line is missing beside the edge: where the edge is, is not known.
                return self._result(None, 0.0, step, 0.0, "line lost beside the plate edge")
            toward = 1 if upper_left else -1
            edge_x = float(xs[last_upper]) + toward * spacing / 2
            corner = np.array([edge_x, upper.z_at(edge_x)])
            # A square-cut edge: its foot lies square below its corner.
            below = float(normal @ (corner - np.array(lower.centre)))
            root = tuple(corner - below * normal)
        return self._result(root, 0.0, step, confidence, why)


def _height(line: Line, at: np.ndarray, along: np.ndarray, normal: np.ndarray) -> float:
    """How high ``line`` stands square to the plates (``normal``) over the point ``at``."""
    direction = np.array(line.direction)
    offset = np.array(line.centre) - at
    # The line's point square above or below ``at``: no component along the plates.
    t = -float(offset @ along) / float(direction @ along)
    return float((offset + t * direction) @ normal)


try:
    from cellctl.sensing.vision._stripe import fit_line, split

    COMPILED = True
except ImportError:  # not built (``make venv`` builds it): the same results, slower
    fit_line, split = _fit_line_numpy, _split_numpy
    COMPILED = False
