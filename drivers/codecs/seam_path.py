"""Seam paths that are not straight: lines and circular arcs, corners blended. Pure, no I/O.

The controller (``cellctl``), the simulated robot and the simulated true part (``sim``) all
share this one geometry, so the path the robot runs, the path the controller tracks along and
the true joint agree to the float.

A ``SeamPath`` is a start point and a chain of pieces, each a ``Line`` or an ``Arc``, each
starting where the one before ends. Path position ``s`` (mm) is the distance along it. The seam
frame at ``s`` follows the path's tangent: travel along the tangent, lateral = up × travel
(horizontal, left of travel), vertical = travel × lateral (see ``frame_of``); on a straight
path it is the frame of ``cellctl.cell.geometry.seam_frame``.

Part programs write a path so (``build_path``)::

    path:
      start: [300, 0, 8]
      segments:
        - line: {to: [400, 0, 8], blend_radius_mm: 10}   # the corner at ``to`` is rounded
        - line: {to: [400, 100, 8]}
        - arc: {via: [450, 150, 8], to: [500, 100, 8]}   # through three points
        - arc: {centre: [500, 50, 8], sweep_deg: -90}    # about a centre, in the horizontal
                                                          # plane; + turns left (seen from above)

A blend radius rounds the corner between two lines with the tangent arc of that radius: it
takes ``r·tan(θ/2)`` of each line (θ the turn), which must fit in them. Arcs longer than 180°
(a full circle around a boss) are split into pieces of at most 180°, so that each is one
circular move through its middle (``Arc.via``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

Point = tuple[float, float, float]

MAX_ARC_PIECE_RAD = math.pi  # longer arcs are split (a full circle: two halves)
COLLINEAR_TOLERANCE = 1e-9  # |(v-a) × (b-a)| / (|v-a|·|b-a|) below this: no circle
TIE_MM = 3.0  # locate: places this much farther than the nearest still count as about as near


class PathError(ValueError):
    """A path that cannot be built; ``where`` names the segment and key (for file:line)."""

    def __init__(self, where: tuple[Any, ...], message: str) -> None:
        super().__init__(message)
        self.where = where


def _sub(a: Sequence[float], b: Sequence[float]) -> Point:
    return (a[0] - b[0], a[1] - b[1], a[2] - b[2])


def _add(a: Sequence[float], b: Sequence[float]) -> Point:
    return (a[0] + b[0], a[1] + b[1], a[2] + b[2])


def _scale(a: Sequence[float], k: float) -> Point:
    return (a[0] * k, a[1] * k, a[2] * k)


def _dot(a: Sequence[float], b: Sequence[float]) -> float:
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def _cross(a: Sequence[float], b: Sequence[float]) -> Point:
    return (a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0])


def _norm(a: Sequence[float]) -> float:
    return math.sqrt(_dot(a, a))


def _unit(a: Sequence[float]) -> Point:
    n = _norm(a)
    return _scale(a, 1.0 / n) if n > 0 else (1.0, 0.0, 0.0)


def frame_of(travel: Point) -> tuple[Point, Point, Point]:
    """(travel, lateral, vertical) from a travel direction: lateral = up × travel (base +y
    when travel is vertical), vertical = travel × lateral."""
    travel = _unit(travel)
    lateral = _cross((0.0, 0.0, 1.0), travel)
    size = _norm(lateral)
    lateral = _scale(lateral, 1 / size) if size > 1e-9 else (0.0, 1.0, 0.0)
    return travel, lateral, _cross(travel, lateral)


@dataclass(frozen=True)
class Line:
    start: Point
    end: Point

    @property
    def length_mm(self) -> float:
        return math.dist(self.start, self.end)

    def point_at(self, u_mm: float) -> Point:
        return _add(self.start, _scale(self.tangent_at(0.0), u_mm))

    def tangent_at(self, u_mm: float) -> Point:
        return _unit(_sub(self.end, self.start))

    def project(self, point: Point) -> float:
        """The position on the piece (clamped) nearest ``point``."""
        u = _dot(_sub(point, self.start), self.tangent_at(0.0))
        return min(self.length_mm, max(0.0, u))

    def split(self, u_mm: float) -> Line:
        """The piece from ``u_mm`` to its end."""
        return Line(self.point_at(u_mm), self.end)

    def moved(self, offset: Point) -> Line:
        return Line(_add(self.start, offset), _add(self.end, offset))


@dataclass(frozen=True)
class Arc:
    """A circular arc: ``centre``, ``radius_mm``, in-plane unit vectors ``e1`` (towards the
    start) and ``e2`` (the direction of travel at the start), ``sweep_rad`` > 0."""

    centre: Point
    radius_mm: float
    e1: Point
    e2: Point
    sweep_rad: float
    normal: Point = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "normal", _cross(self.e1, self.e2))

    @property
    def start(self) -> Point:
        return self.point_at(0.0)

    @property
    def end(self) -> Point:
        return self.point_at(self.length_mm)

    @property
    def via(self) -> Point:
        """The arc's middle: with ``end``, what a circular move names."""
        return self.point_at(self.length_mm / 2)

    @property
    def length_mm(self) -> float:
        return self.radius_mm * self.sweep_rad

    def point_at(self, u_mm: float) -> Point:
        a = u_mm / self.radius_mm
        r = self.radius_mm
        return _add(
            self.centre, _add(_scale(self.e1, r * math.cos(a)), _scale(self.e2, r * math.sin(a)))
        )

    def tangent_at(self, u_mm: float) -> Point:
        a = u_mm / self.radius_mm
        return _add(_scale(self.e1, -math.sin(a)), _scale(self.e2, math.cos(a)))

    def project(self, point: Point) -> float:
        d = _sub(point, self.centre)
        a = math.atan2(_dot(d, self.e2), _dot(d, self.e1)) % (2 * math.pi)
        if a > self.sweep_rad:  # outside the arc: the nearer end
            a = self.sweep_rad if a - self.sweep_rad < 2 * math.pi - a else 0.0
        return a * self.radius_mm

    def split(self, u_mm: float) -> Arc:
        a = u_mm / self.radius_mm
        e1 = _add(_scale(self.e1, math.cos(a)), _scale(self.e2, math.sin(a)))
        e2 = _add(_scale(self.e1, -math.sin(a)), _scale(self.e2, math.cos(a)))
        return Arc(self.centre, self.radius_mm, e1, e2, self.sweep_rad - a)

    def moved(self, offset: Point) -> Arc:
        return Arc(_add(self.centre, offset), self.radius_mm, self.e1, self.e2, self.sweep_rad)


Piece = Line | Arc


def arc_through(start: Sequence[float], via: Sequence[float], end: Sequence[float]) -> Arc:
    """The arc from ``start`` through ``via`` to ``end``. ``ValueError`` when the three points
    are (nearly) on one line or two coincide."""
    a, v, b = tuple(map(float, start)), tuple(map(float, via)), tuple(map(float, end))
    ab, av = _sub(b, a), _sub(v, a)
    n = _cross(av, ab)
    if _norm(ab) < 1e-9 or _norm(av) < 1e-9 or _norm(_sub(b, v)) < 1e-9:
        raise ValueError("the arc's start, via and end points must differ")
    if _norm(n) <= COLLINEAR_TOLERANCE * _norm(ab) * _norm(av):
        raise ValueError("the arc's start, via and end points lie on one line")
    # Circumcentre: a + ((|av|² ab - |ab|² av) × n) / (2|n|²), the standard form.
    nn = _dot(n, n)
    w = _cross(_sub(_scale(ab, _dot(av, av)), _scale(av, _dot(ab, ab))), n)
    centre = _add(a, _scale(w, 1 / (2 * nn)))
    radius = math.dist(centre, a)
    e1 = _unit(_sub(a, centre))
    normal = _unit(n)
    e2 = _cross(normal, e1)
    db = _sub(b, centre)
    sweep = math.atan2(_dot(db, e2), _dot(db, e1)) % (2 * math.pi)
    return Arc(centre, radius, e1, e2, sweep)


def arc_about(start: Sequence[float], centre: Sequence[float], sweep_deg: float) -> Arc:
    """The arc from ``start`` about ``centre`` (in the horizontal plane through the start) by
    ``sweep_deg``, positive turning left seen from above. ``ValueError`` for a centre on the
    start or at another height."""
    a = tuple(map(float, start))
    c = (float(centre[0]), float(centre[1]), float(centre[2]))
    if abs(c[2] - a[2]) > 1e-6:
        raise ValueError(f"the centre's z {c[2]:g} differs from the arc's start z {a[2]:g}")
    if not 0 < abs(sweep_deg) <= 360:
        raise ValueError(f"sweep_deg {sweep_deg:g} must be within ±360 and not 0")
    radius = math.dist(a, c)
    if radius < 1e-6:
        raise ValueError("the centre lies on the arc's start")
    e1 = _unit(_sub(a, c))
    up = (0.0, 0.0, 1.0) if sweep_deg > 0 else (0.0, 0.0, -1.0)
    return Arc(c, radius, e1, _cross(up, e1), math.radians(abs(sweep_deg)))


def _split_long(arc: Arc) -> list[Arc]:
    count = max(1, math.ceil(arc.sweep_rad / MAX_ARC_PIECE_RAD - 1e-9))
    step = arc.sweep_rad / count
    pieces = []
    for i in range(count):
        part = arc.split(i * step * arc.radius_mm) if i else arc
        pieces.append(Arc(part.centre, part.radius_mm, part.e1, part.e2, step))
    return pieces


@dataclass(frozen=True)
class SeamPath(Sequence[Point]):
    """A chain of pieces (see the module). As a sequence it is its vertices: the start and the
    end of every piece (``path[0]``, ``path[-1]``)."""

    pieces: tuple[Piece, ...]
    starts_mm: tuple[float, ...] = field(init=False)

    def __post_init__(self) -> None:
        starts, s = [], 0.0
        for piece in self.pieces:
            starts.append(s)
            s += piece.length_mm
        object.__setattr__(self, "starts_mm", tuple(starts))
        first, last = self.pieces[0], self.pieces[-1]
        # The two ends and their tangents (locate's extensions), and a box around it all.
        ends = (
            (0.0, -1.0, first.start, first.tangent_at(0.0)),
            (s, 1.0, last.end, last.tangent_at(last.length_mm)),
        )
        object.__setattr__(self, "_ends", ends)
        points = self.sampled(10.0)
        box = tuple((min(p[i] for p in points), max(p[i] for p in points)) for i in range(3))
        object.__setattr__(self, "box_mm", box)

    def distance_to_box(self, point: Sequence[float]) -> float:
        """How far ``point`` lies outside the box around the path (0 inside; a cheap lower
        bound, to within the 10 mm chords' sag, of its distance from the path)."""
        return math.sqrt(
            sum(
                max(lo - c, 0.0, c - hi) ** 2
                for c, (lo, hi) in zip(point, self.box_mm, strict=True)
            )
        )

    @classmethod
    def polyline(cls, points: Sequence[Sequence[float]]) -> SeamPath:
        pts = [tuple(map(float, p)) for p in points]
        return cls(tuple(Line(a, b) for a, b in itertools.pairwise(pts)))  # type: ignore[arg-type]

    # -- a sequence of vertices ---------------------------------------------------------------

    def vertices(self) -> list[Point]:
        return [self.pieces[0].start] + [p.end for p in self.pieces]

    def __len__(self) -> int:
        return len(self.pieces) + 1

    def __getitem__(self, index):  # type: ignore[override]
        return self.vertices()[index]

    def __iter__(self) -> Iterator[Point]:
        return iter(self.vertices())

    @property
    def closed(self) -> bool:
        """Whether it ends where it starts (a full circle): past its end it goes on from its
        start again (``extended_point``, ``frame_at``, ``locate``)."""
        return math.dist(self.pieces[0].start, self.pieces[-1].end) < 1e-6

    def _wrapped(self, s_mm: float) -> float:
        """Past a closed path's end, round again (before its start a torch comes along the
        tangent there, as on any path)."""
        if s_mm > self.length_mm and self.closed:
            return s_mm % self.length_mm
        return s_mm

    @property
    def curved(self) -> bool:
        return any(isinstance(p, Arc) for p in self.pieces)

    # -- geometry ----------------------------------------------------------------------------

    @property
    def length_mm(self) -> float:
        return self.starts_mm[-1] + self.pieces[-1].length_mm

    def _piece(self, s_mm: float) -> tuple[Piece, float]:
        index = 0
        for i, start in enumerate(self.starts_mm):
            if s_mm >= start:
                index = i
        return self.pieces[index], s_mm - self.starts_mm[index]

    def point_at(self, s_mm: float) -> Point:
        """The point ``s_mm`` along the path, clamped to its ends."""
        s = min(self.length_mm, max(0.0, s_mm))
        piece, u = self._piece(s)
        return piece.point_at(min(u, piece.length_mm))

    def extended_point(self, s_mm: float) -> Point:
        """The point ``s_mm`` along the path, before its start and past its end on the
        tangent lines there (round again, on a closed path)."""
        s_mm = self._wrapped(s_mm)
        if 0.0 <= s_mm <= self.length_mm:
            return self.point_at(s_mm)
        end = 0.0 if s_mm < 0 else self.length_mm
        return _add(self.point_at(end), _scale(self.tangent_at(end), s_mm - end))

    def tangent_at(self, s_mm: float) -> Point:
        piece, u = self._piece(min(self.length_mm, max(0.0, self._wrapped(s_mm))))
        return piece.tangent_at(min(u, piece.length_mm))

    def frame_at(self, s_mm: float) -> tuple[Point, Point, Point]:
        """(travel, lateral, vertical) at ``s_mm``: the seam frame follows the tangent."""
        return frame_of(self.tangent_at(s_mm))

    def locate(self, point: Sequence[float], hint_s_mm: float | None = None) -> Point:
        """``point`` as (s, lateral, vertical) mm against the path: s of the nearest point on
        it (before the start and past the end: on the tangent lines there, s < 0 or > length;
        past a closed path's end: round again), the offsets in the frame there. Where two
        places lie about as near (within TIE_MM: a full circle's start and end), the one nearer
        ``hint_s_mm`` (say, the last position) is taken; without a hint, the first."""
        p = tuple(map(float, point))
        length = self.length_mm
        candidates: list[tuple[float, float]] = []  # (distance, s)
        for piece, start in zip(self.pieces, self.starts_mm, strict=True):
            u = piece.project(p)  # type: ignore[arg-type]
            candidates.append((math.dist(p, piece.point_at(u)), start + u))
        for s0, sign, end, t in self._ends:  # type: ignore[attr-defined]
            if sign > 0 and self.closed:
                continue  # past a closed path's end it goes round again (below)
            along = _dot(_sub(p, end), t) * sign
            if along > 0:
                foot = _add(end, _scale(t, along * sign))
                candidates.append((math.dist(p, foot), s0 + sign * along))
        if self.closed:  # once round and more: the same places, a length on
            candidates += [(d, s + length) for d, s in candidates[: len(self.pieces)]]
        best_d = min(d for d, _ in candidates)
        near = {s for d, s in candidates if d <= best_d + TIE_MM}
        # A tie (a closed path's start and end): the one nearest the hint; without one, the
        # first.
        # (by distance and, 0.02 mm per mm, nearness to the hint: a place beside an arc's end,
        # a piece's clamped end, must not beat the neighbour it really lies on).
        hint = min(near) if hint_s_mm is None else hint_s_mm
        s = min((d + 0.02 * abs(s - hint), s) for d, s in candidates if s in near)[1]
        if self.closed and s > length:
            s_round = s - length
            foot = self.point_at(s_round)
            travel, lateral, up = self.frame_at(s_round)
            d = _sub(p, foot)
            return (s + _dot(d, travel), _dot(d, lateral), _dot(d, up))
        if s < 0 or s > length:
            s0 = 0.0 if s < 0 else length
            foot = _add(self.point_at(s0), _scale(self.tangent_at(s0), s - s0))
            travel, lateral, up = self.frame_at(s0)
        else:
            foot = self.point_at(s)
            travel, lateral, up = self.frame_at(s)
        d = _sub(p, foot)
        return (s + _dot(d, travel), _dot(d, lateral), _dot(d, up))

    def remaining(self, s_mm: float) -> SeamPath:
        """The path from ``s_mm`` to its end."""
        s = min(self.length_mm, max(0.0, s_mm))
        pieces = []
        for piece, start in zip(self.pieces, self.starts_mm, strict=True):
            end = start + piece.length_mm
            if end <= s + 1e-9:
                continue
            pieces.append(piece.split(s - start) if s > start else piece)
        if not pieces:  # at the very end: a stub of the last piece's end
            last = self.pieces[-1]
            return SeamPath(
                (Line(last.end, _add(last.end, _scale(last.tangent_at(last.length_mm), 1e-6))),)
            )
        return SeamPath(tuple(pieces))

    def shifted(self, offset: Sequence[float]) -> SeamPath:
        o = tuple(map(float, offset))
        return SeamPath(tuple(p.moved(o) for p in self.pieces))  # type: ignore[arg-type]

    def sampled(self, step_mm: float = 2.0) -> list[Point]:
        """Points along the path: every vertex, and arcs every ``step_mm`` (for drawing)."""
        points = [self.pieces[0].start]
        for piece in self.pieces:
            if isinstance(piece, Arc):
                count = max(2, math.ceil(piece.length_mm / step_mm))
                points += [piece.point_at(piece.length_mm * i / count) for i in range(1, count)]
            points.append(piece.end)
        return points


# -- from a part program's segments -----------------------------------------------------------


def build_path(
    start: Sequence[float], segments: Sequence[dict[str, Any]], min_arc_radius_mm: float = 0.0
) -> SeamPath:
    """A ``SeamPath`` from plain data (see the module): ``PathError`` naming the segment,
    also for an arc or a blend tighter than ``min_arc_radius_mm`` (the robot's limit)."""
    raw: list[tuple[Piece, float]] = []  # each piece, and the blend radius at its end
    at: Point = tuple(map(float, start))  # type: ignore[assignment]
    for i, segment in enumerate(segments):
        if len(segment) != 1 or next(iter(segment)) not in ("line", "arc"):
            raise PathError(("segments", i), "a segment is one of line: {...} or arc: {...}")
        kind, spec = next(iter(segment.items()))
        spec = dict(spec)
        if kind == "line":
            end = tuple(map(float, spec["to"]))
            if math.dist(at, end) < 1e-3:
                raise PathError(("segments", i, "line", "to"), "zero-length line")
            blend = float(spec.get("blend_radius_mm") or 0.0)
            if 0 < blend < min_arc_radius_mm:
                raise PathError(
                    ("segments", i, "line", "blend_radius_mm"),
                    f"blend radius {blend:g} mm is below the robot's min_arc_radius_mm "
                    f"{min_arc_radius_mm:g}",
                )
            raw.append((Line(at, end), blend))  # type: ignore[arg-type]
        else:
            try:
                if "via" in spec:
                    arc = arc_through(at, spec["via"], spec["to"])
                else:
                    arc = arc_about(at, spec["centre"], float(spec["sweep_deg"]))
            except ValueError as error:
                raise PathError(("segments", i, "arc"), str(error)) from None
            if arc.radius_mm < min_arc_radius_mm:
                raise PathError(
                    ("segments", i, "arc"),
                    f"arc radius {arc.radius_mm:.1f} mm is below the robot's "
                    f"min_arc_radius_mm {min_arc_radius_mm:g}",
                )
            raw.append((arc, 0.0))
        at = raw[-1][0].end
    return SeamPath(tuple(_blended(raw)))


def _blended(raw: list[tuple[Piece, float]]) -> list[Piece]:
    """Round each corner with a blend radius by a tangent arc; ``PathError`` when the radius
    needs more of a line than it has, or the corner is not between two lines."""
    trims = [[0.0, 0.0] for _ in raw]  # mm taken from each line's start and end
    arcs: dict[int, Arc] = {}
    for i, (piece, radius) in enumerate(raw):
        if radius <= 0:
            continue
        where = ("segments", i, "line", "blend_radius_mm")
        if i + 1 >= len(raw):
            raise PathError(where, "a blend radius on the last segment has no corner to round")
        after = raw[i + 1][0]
        if not isinstance(after, Line):
            raise PathError(where, "a blend radius rounds a corner between two lines")
        u1, u2 = piece.tangent_at(0.0), after.tangent_at(0.0)
        turn = math.acos(max(-1.0, min(1.0, _dot(u1, u2))))
        if turn < 1e-6:
            continue  # no corner
        if turn > math.pi - 1e-3:
            raise PathError(where, "the path turns back on itself: no corner to round")
        take = radius * math.tan(turn / 2)
        trims[i][1] = take
        trims[i + 1][0] = take
        corner = piece.end
        bisector = _unit(_sub(u2, u1))
        centre = _add(corner, _scale(bisector, radius / math.cos(turn / 2)))
        t1 = _sub(corner, _scale(u1, take))
        t2 = _add(corner, _scale(u2, take))
        via = _add(centre, _scale(_unit(_sub(corner, centre)), radius))
        arcs[i] = arc_through(t1, via, t2)
    for i, (piece, _) in enumerate(raw):
        if isinstance(piece, Line) and sum(trims[i]) > piece.length_mm - 1e-3:
            raise PathError(
                ("segments", i - (trims[i][0] > 0 and trims[i][1] == 0), "line", "blend_radius_mm"),
                f"the blend radius needs {sum(trims[i]):.1f} mm of segment {i}'s line, which is "
                f"{piece.length_mm:.1f} mm long",
            )
    pieces: list[Piece] = []
    for i, (piece, _) in enumerate(raw):
        if isinstance(piece, Line):
            u = piece.tangent_at(0.0)
            start = _add(piece.start, _scale(u, trims[i][0]))
            end = _sub(piece.end, _scale(u, trims[i][1]))
            pieces.append(Line(start, end))
        else:
            pieces.extend(_split_long(piece))
        if i in arcs:
            pieces.extend(_split_long(arcs[i]))
    return pieces


def arc_radii(path: SeamPath) -> list[float]:
    return [p.radius_mm for p in path.pieces if isinstance(p, Arc)]


# -- the sensor's look-ahead on a curved path ---------------------------------------------------

LOOKAHEAD_WALK_FACTOR = 4.0  # the seam is followed this many look-aheads on, at most


def lookahead_offsets(
    path: SeamPath, lookahead_mm: float, step_mm: float = 2.0
) -> list[tuple[float, float | None]]:
    """Where a laser line ``lookahead_mm`` ahead of the torch, across the torch's travel,
    crosses the seam, for the torch every ``step_mm`` along ``path``: (the torch's position,
    the seam's lateral offset from the line's centre there, mm; None where the line never
    crosses the seam: an arc tighter than the look-ahead turns away before it, a corner
    sharp enough that the seam runs off along the line). Positions from which the line lies
    past an open path's end are left out (the end of a seam is not tracked)."""
    total = path.length_mm
    samples = max(2, math.ceil(total / 0.5))
    points = [path.point_at(total * k / samples) for k in range(samples + 1)]
    spacing = total / samples
    walk = math.ceil(LOOKAHEAD_WALK_FACTOR * lookahead_mm / spacing) + 1
    result: list[tuple[float, float | None]] = []
    stride = max(1, round(step_mm / spacing))
    last = samples if path.closed else samples - math.ceil(lookahead_mm / spacing)
    for i in range(0, last + 1, stride):
        s = i * spacing
        travel, lateral, _ = path.frame_at(s)
        origin = points[i]
        offset: float | None = None
        before_along = before_lateral = 0.0
        for step in range(1, walk + 1):
            j = i + step
            if j > samples:
                if not path.closed:
                    break
                j %= samples  # round again (its last sample is its first)
            d = _sub(points[j], origin)
            along, across = _dot(d, travel), _dot(d, lateral)
            if along >= lookahead_mm:
                f = (lookahead_mm - before_along) / max(along - before_along, 1e-9)
                offset = before_lateral + f * (across - before_lateral)
                break
            before_along, before_lateral = along, across
        result.append((s, offset))
    return result
