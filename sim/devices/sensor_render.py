"""The simulated laser-line sensor's optics: what its camera sees of the true joint.

The simulator's own renderer; it shares no code with the controller's vision (which must find
what is drawn here without knowing how it was drawn).

Geometry, in the sensor frame (mm): ``x`` across the seam, ``y`` along travel (forward), ``z``
away from the work (up when the sensor is upright). The laser projects the plane ``y = 0``;
the sensor frame's origin is where the torch's tool point would be, ``lookahead_mm`` ahead. A
pinhole camera (no lens distortion) at ``camera_position_mm`` looks at ``look_at_mm``; its
image columns run along ``x``. The sensor is tilted with the torch about the travel axis by
the seam's work angle: a point at (lateral, vertical) in the seam frame lies at
``R(work angle) (lateral, vertical)`` in the sensor's (x, z). At 45° a fillet's base plate and
wall show as a symmetric 90° V.

The profile is the part's whole surface in the laser plane, plate edges included: a lap's upper
plate edge, a square butt's plate edges in the gap. Looking straight down such an edge lies in
one image column; tilted with the torch the sensor sees it as a face of its own, or sees
behind it the line's shadow. Only what the laser lights and the camera sees is drawn: a point
of the line shows when the straight ray from the laser's source to it, and the one from it to
the camera, pass through no material. The part is a prism along the seam (the sensor's y), so
a ray passes through material exactly where its projection onto the laser plane does: both
are tested in the (x, z) plane, against the profile itself (``visible_parts``).

A frame is rendered column by column: the visible profile is sampled densely, projected into
the image, and each column gets a Gaussian stripe across rows centred on the projected profile
(the truth ``stripe_rows`` the vision's sub-pixel accuracy is scored against). Disturbances are
drawn on top (``Disturbances``).
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from drivers.codecs.model import StrictModel
from sim.truth.v_groove import (
    DEFAULT_SHAPE,
    PROFILE_EXTENT_MM,
    GrooveLayer,
    GrooveShape,
    filled_groove,
)

__all__ = ["GrooveLayer", "GrooveShape", "filled_groove"]  # the one groove model, drawn here

# A V-groove's preparation is the part's (``sim.truth.v_groove.GrooveShape``); these are the
# default's, for a seam that does not say.
V_GROOVE_PLATE_MM = DEFAULT_SHAPE.plate_thickness_mm
V_GROOVE_HALF_ANGLE_DEG = DEFAULT_SHAPE.groove_angle_deg / 2
LAP_UPPER_PLATE_MM = 3.0
SQUARE_BUTT_PLATE_MM = 4.0  # a square butt is thin plate, welded through from one side
AMBIENT_LEVEL = 10
BOARD_MARGIN_SQUARES = 0.6
PROFILE_STEP_MM = 0.5  # points along a straight piece of profile (see stripe_rows)
SPECKLE_POOL = 1 << 20  # float32 normal draws a renderer keeps (4 MB)
NO_GLARE = np.zeros(0, np.uint8)


class CameraModel(StrictModel):
    """The true optics of the simulated sensor (the controller learns them by calibrating)."""

    width_px: int = 640
    height_px: int = 480
    field_of_view_mm: float = 40.0  # image width at the look-at point
    camera_position_mm: tuple[float, float, float] = (0.0, -55.0, 95.0)
    look_at_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)
    # Where the laser's fan leaves the sensor: (x, z) in its plane (y = 0), above the tool point.
    laser_source_mm: tuple[float, float] = (0.0, 100.0)

    def model_post_init(self, context: Any) -> None:
        c = np.array(self.camera_position_mm, float)
        forward = np.array(self.look_at_mm, float) - c
        distance = float(np.linalg.norm(forward))
        forward /= distance
        x_axis = np.array([1.0, 0.0, 0.0]) - forward[0] * forward
        x_axis /= np.linalg.norm(x_axis)
        y_axis = np.cross(forward, x_axis)
        self._rotation = np.stack([x_axis, y_axis, forward])  # rows: camera axes in sensor frame
        self._center = c
        self._f = (self.width_px / 2) / (self.field_of_view_mm / 2 / distance)
        self._cx = (self.width_px - 1) / 2
        self._cy = (self.height_px - 1) / 2
        self._optics = np.concatenate([self._rotation.ravel(), c, [self._f, self._cx, self._cy]])

    @property
    def intrinsics(self) -> tuple[float, float, float, float]:
        return (self._f, self._f, self._cx, self._cy)

    def project(self, points_mm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Image (u, v) and depth of sensor-frame points, shape (N, 3)."""
        pc = (points_mm - self._center) @ self._rotation.T
        return (
            self._f * pc[:, 0] / pc[:, 2] + self._cx,
            self._f * pc[:, 1] / pc[:, 2] + self._cy,
            pc[:, 2],
        )

    def rays(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Unit-less ray directions in the sensor frame through pixel centres (u, v)."""
        rc = np.stack([(u - self._cx) / self._f, (v - self._cy) / self._f, np.ones_like(u)], -1)
        return rc @ self._rotation

    @property
    def optics(self) -> np.ndarray:
        """The camera for the compiled ``_sensor_render.rows_of``: its rotation (3x3, rows its
        axes in the sensor frame), its centre (mm), focal length and principal point (px)."""
        return self._optics

    @property
    def center_mm(self) -> np.ndarray:
        return self._center

    @property
    def eyes_xz_mm(self) -> np.ndarray:
        """Where the laser's source and the camera stand, seen along the seam: (2, 2) of
        (x, z), the points a piece of the line must be in plain view of to show."""
        return np.array([self.laser_source_mm, (self._center[0], self._center[2])], float)


class Disturbances(StrictModel):
    """What a real sensor sees beside the stripe; every one can be turned off (0)."""

    noise_sigma: float = 2.0  # gray levels, Gaussian, every pixel
    stripe_amplitude: float = 190.0  # gray levels at the stripe's centre
    stripe_sigma_px: float = 1.4  # the stripe's Gaussian width across rows
    stripe_width_variation: float = 0.0  # 0..1: relative change of width along the stripe
    speckle: float = 0.08  # 0..1: multiplicative granular noise on the stripe
    spatter_per_frame: float = 0.0  # mean number of bright spatter blobs per frame
    glare: float = 0.0  # 0..1: arc light from the torch side (bottom of the image)
    reflection: float = 0.0  # 0..1: a secondary stripe (reflection off the far plate)
    reflection_offset_px: float = 35.0
    dropout_probability: float = 0.0  # per frame: laser lost (whole frame) or a span of columns


@dataclass
class JointView:
    """The true joint as the sensor sees it in one frame (sensor frame, mm)."""

    joint: str
    root_x_mm: float
    root_z_mm: float
    gap_mm: float
    mismatch_mm: float
    work_angle_deg: float
    # The weld bead over the joint, if this stretch is welded: its toe-to-toe width, its
    # height over the toes' chord, and its centre's offset from the root (seam frame, mm).
    bead_width_mm: float = 0.0
    bead_height_mm: float = 0.0
    bead_offset_mm: tuple[float, float] = (0.0, 0.0)
    # A V-groove's passes laid here, first to last (``filled_groove``): drawn instead of the
    # one bead above.
    layers: tuple[GrooveLayer, ...] = ()
    # A V-groove's preparation (the part's): its depth, angle and root face.
    groove: GrooveShape = DEFAULT_SHAPE


@dataclass
class RenderedFrame:
    pixels: np.ndarray  # (height, width) uint8
    stripe_rows: np.ndarray  # true stripe centre per column (NaN where none was drawn)
    view: JointView | None
    laser_on: bool = True


def seam_to_sensor(lateral_mm: float, vertical_mm: float, work_angle_deg: float):
    a = math.radians(work_angle_deg)
    return (
        math.cos(a) * lateral_mm - math.sin(a) * vertical_mm,
        math.sin(a) * lateral_mm + math.cos(a) * vertical_mm,
    )


def profile_pieces(
    joint: str, gap_mm: float, mismatch_mm: float, groove: GrooveShape = DEFAULT_SHAPE
) -> list[np.ndarray]:
    """The surface the laser crosses, in the seam frame relative to the root point: pieces of
    polyline (N, 2) of (lateral, vertical), ordered left (−lateral) to right, the material on
    the right of each (walking from one point to the next; ``visible_parts`` relies on it)."""
    e = PROFILE_EXTENT_MM
    g, m = gap_mm / 2, mismatch_mm / 2
    if joint == "fillet":
        # Wall on the −lateral side going up, base plate on the +lateral side.
        return [np.array([[0.0, e], [0.0, 0.0], [e, 0.0]])]
    if joint == "v_groove_butt":
        # The part's preparation (sim.truth.v_groove): bevels, root faces down to the
        # plates' underside in the gap.
        left, right = groove.edges(gap_mm, mismatch_mm)
        if g > 0:
            return [left, right]
        if groove.root_face_mm <= 0:  # closed: from one bevel down to the root and up
            return [np.vstack([left, right[1:]])]
        # Closed: the root faces touch; from one bevel to the other over their tops.
        tops = [left[:3], right[-3:]]
        if np.allclose(tops[0][-1], tops[1][0]):
            tops[1] = tops[1][1:]
        return [np.vstack(tops)]
    if joint == "square_butt":
        if g <= 0:
            # Closed: the plates touch; the higher one's edge shows above the other.
            return [np.array([[-e, -m], [0.0, -m], [0.0, m], [e, m]])]
        t = SQUARE_BUTT_PLATE_MM
        return [
            np.array([[-e, -m], [-g, -m], [-g, -m - t]]),
            np.array([[g, m - t], [g, m], [e, m]]),
        ]
    if joint == "lap":
        # The upper plate on the lower one, its edge face standing on the lower plate: the
        # root is the corner at the foot of that face.
        t = LAP_UPPER_PLATE_MM + mismatch_mm
        return [np.array([[-e, t], [0.0, t], [0.0, 0.0], [e, 0.0]])]
    raise ValueError(f"unknown joint type {joint!r}")


@functools.lru_cache(maxsize=512)
def _filled_groove_points(
    gap_mm: float, mismatch_mm: float, layers: tuple[GrooveLayer, ...], groove: GrooveShape
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """``filled_groove``'s pieces, and the same sampled every PROFILE_STEP_MM at most (the
    points the stripe is drawn through: made once for the frames that see these passes)."""
    faces = filled_groove(gap_mm, mismatch_mm, layers, groove)
    return faces, [_densified(piece, PROFILE_STEP_MM) for piece in faces]


def _densified(piece: np.ndarray, step_mm: float) -> np.ndarray:
    """``piece`` with points at most ``step_mm`` apart: each face cut in equal parts (its
    vertices kept), all faces at once (a filled groove has a hundred short ones)."""
    a, b = piece[:-1], piece[1:]
    parts = np.maximum(1, np.ceil(np.hypot(*(b - a).T) / step_mm).astype(np.intp))
    face = np.repeat(np.arange(len(a)), parts)
    first = np.repeat(np.cumsum(parts) - parts, parts)
    f = ((np.arange(len(face)) - first) / parts[face])[:, None]
    return np.vstack([a[face] + f * (b[face] - a[face]), piece[-1:]])


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """z of the cross product of (..., 2) vectors in the (x, z) plane."""
    return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]


def in_plain_view(
    points: np.ndarray, outward: np.ndarray, eyes: np.ndarray, starts: np.ndarray, ends: np.ndarray
) -> np.ndarray:
    """Which ``points`` (N, 2) on the surface, facing ``outward`` (N, 2), every one of ``eyes``
    (E, 2) sees: the point faces it and the straight ray to it crosses none of the faces
    ``starts`` to ``ends`` (K, 2)."""
    if _sensor_render is None:
        return _in_plain_view_numpy(points, outward, eyes, starts, ends)
    seen = np.empty(len(points), np.uint8)
    _sensor_render.in_plain_view(*map(_plane_points, (points, outward, eyes, starts, ends)), seen)
    return seen.view(bool)


def _plane_points(points: np.ndarray) -> np.ndarray:
    """``points`` as the compiled passes take them: (N, 2) float64, C-contiguous."""
    return np.ascontiguousarray(points, dtype=np.float64)


def _in_plain_view_numpy(
    points: np.ndarray, outward: np.ndarray, eyes: np.ndarray, starts: np.ndarray, ends: np.ndarray
) -> np.ndarray:
    """``in_plain_view`` in numpy (``_sensor_render.in_plain_view`` where it is built)."""
    ray = eyes[:, None, :] - points[None, :, :]  # (E, N, 2)
    facing = ((ray * outward).sum(axis=2) > 0).all(axis=0)
    face = ends - starts  # (K, 2)
    offset = starts[None, :, :] - points[:, None, :]  # (N, K, 2)
    ray = ray[:, :, None, :]
    denominator = _cross(ray, face)  # (E, N, K)
    with np.errstate(divide="ignore", invalid="ignore"):
        along_ray = _cross(offset, face) / denominator
        along_face = _cross(offset, ray) / denominator
    # The point's own face meets the ray at the point itself (along_ray 0): not a blocker.
    blocked = (along_ray > 1e-9) & (along_ray < 1) & (along_face >= 0) & (along_face <= 1)
    return facing & ~blocked.any(axis=(0, 2))


def visible_parts(pieces: list[np.ndarray], eyes: np.ndarray) -> list[np.ndarray]:
    """The stretches of the profile's ``pieces`` (polylines in the laser plane, the material
    on their right) that every one of ``eyes`` (the laser's source, the camera) sees.

    A shadow's edge on a face lies where the ray from an eye past a corner of the profile
    meets that face: the faces are cut there, and each stretch between cuts is wholly in view
    or not, which its midpoint tells. Exact, and a few dozen points to test."""
    starts = np.vstack([piece[:-1] for piece in pieces])
    ends = np.vstack([piece[1:] for piece in pieces])
    corners = np.vstack(pieces)
    if _sensor_render is None:
        begin, end, seen = _stretches_numpy(starts, ends, eyes, corners)
    else:
        table = np.empty((len(starts) * (len(eyes) * len(corners) + 1), 5))
        plane = map(_plane_points, (starts, ends, eyes, corners))  # whole-number profiles too
        count = _sensor_render.stretches(*plane, table)
        begin, end, seen = table[:count, 0:2], table[:count, 2:4], table[:count, 4] != 0
    if seen.all():
        return pieces  # nothing in a shadow (a fillet, a V-groove in the working range)
    # The stretches in view, joined into polylines where one ends as the next begins (on one
    # face, or round a corner).
    begin, end = begin[seen], end[seen]
    joined = np.abs(begin[1:] - end[:-1]).max(axis=1) < 1e-9
    first = np.flatnonzero(~np.concatenate([[False], joined]))
    return [
        np.vstack([begin[a : a + 1], end[a:b]])
        for a, b in zip(first.tolist(), [*first[1:].tolist(), len(begin)], strict=True)
    ]


def _stretches_numpy(
    starts: np.ndarray, ends: np.ndarray, eyes: np.ndarray, corners: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``visible_parts``'s stretches in numpy (``_sensor_render.stretches`` where it is
    built): each face cut where a ray from an eye past a corner meets it, and each stretch
    between cuts, face by face: their begin and end points (S, 2), and whether every eye sees
    each (S,)."""
    face = ends - starts
    past = corners[None, :, :] - eyes[:, None, :]  # (eyes, corners, 2): rays past each corner
    with np.errstate(divide="ignore", invalid="ignore"):
        # Where each of those rays meets each face's line, as a fraction of the face.
        at = _cross(eyes[:, None, None, :] - starts[None, :, None, :], past[:, None, :, :])
        at /= _cross(face[None, :, None, :], past[:, None, :, :])
    at = at.transpose(1, 0, 2).reshape(len(starts), -1)  # (faces, eyes x corners)
    at[~((at > 0) & (at < 1))] = np.nan
    ends_of_face = (np.zeros((len(starts), 1)), np.ones((len(starts), 1)))
    cut = np.sort(np.hstack([*ends_of_face, at]), axis=1)  # NaN (no cut) sorts last
    middle = (cut[:, :-1] + cut[:, 1:]) / 2
    k, i = np.nonzero(np.isfinite(middle) & (cut[:, 1:] > cut[:, :-1]))
    points = starts[k] + middle[k, i, None] * face[k]
    outward = np.column_stack([-face[k, 1], face[k, 0]])  # left of the walk: out of the material
    begin = starts[k] + cut[k, i, None] * face[k]
    end = starts[k] + cut[k, i + 1, None] * face[k]
    return begin, end, _in_plain_view_numpy(points, outward, eyes, starts, ends)


def bead_piece(view: JointView) -> np.ndarray:
    """The bead's surface in the seam frame relative to the root: a parabola over the chord
    between its toes (a fillet's toes on the wall and the plate, a butt weld's on the tops)."""
    w, h = view.bead_width_mm, view.bead_height_mm
    if view.joint == "fillet":
        leg = w / math.sqrt(2)
        a, b = np.array([0.0, leg]), np.array([leg, 0.0])
    elif view.joint == "v_groove_butt":
        top = view.groove.plate_thickness_mm
        a, b = np.array([-w / 2, top]), np.array([w / 2, top])
    elif view.joint == "lap":
        t = LAP_UPPER_PLATE_MM + view.mismatch_mm
        a, b = np.array([-w / 2, t]), np.array([w / 2, 0.0])
    else:
        a, b = np.array([-w / 2, 0.0]), np.array([w / 2, 0.0])
    chord = b - a
    normal = np.array([-chord[1], chord[0]]) / np.linalg.norm(chord)
    t = np.linspace(-1.0, 1.0, 201)[:, None]
    points = (a + b) / 2 + t * chord / 2 + h * (1 - t**2) * normal
    return points + np.array(view.bead_offset_mm)


def _in_view_runs(
    curve: np.ndarray, eyes: np.ndarray, surface: list[np.ndarray]
) -> list[np.ndarray]:
    """The runs of a densely sampled ``curve`` (its material on the right, as the profile's)
    that every eye sees past the ``surface``'s faces."""
    starts = np.vstack([piece[:-1] for piece in surface])
    ends = np.vstack([piece[1:] for piece in surface])
    tangent = np.gradient(curve, axis=0)
    outward = np.column_stack([-tangent[:, 1], tangent[:, 0]])
    seen = in_plain_view(curve, outward, eyes, starts, ends)
    breaks = np.flatnonzero(np.diff(seen.astype(np.int8))) + 1
    runs = np.split(np.arange(len(curve)), breaks)
    return [curve[run] for run in runs if seen[run[0]] and len(run) > 1]


def _densify(piece: np.ndarray, step_mm: float) -> np.ndarray:
    out = []
    for a, b in itertools.pairwise(piece):
        n = max(2, math.ceil(float(np.linalg.norm(b - a)) / step_mm) + 1)
        f = np.linspace(0.0, 1.0, n)[:, None]
        out.append(a + f * (b - a))
    return np.vstack(out)


@dataclass
class StripeRenderer:
    """Renders laser frames of joints for one camera, with one set of disturbances."""

    camera: CameraModel
    disturbances: Disturbances = field(default_factory=Disturbances)
    seed: int = 1

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed)
        h, w = self.camera.height_px, self.camera.width_px
        sigma = self.disturbances.noise_sigma
        # A few noise fields made once and shifted per frame: drawing 300k Gaussian numbers a
        # frame would cost more than everything else together.
        self._noise = [
            np.clip(AMBIENT_LEVEL + self.rng.normal(0, sigma, (h, w)), 0, 255).astype(np.uint8)
            for _ in range(3)
        ]
        # Speckle: standard normal draws, enough for the widest line many times over.
        self._speckle = (
            self.rng.standard_normal(SPECKLE_POOL).astype(np.float32)
            if self.disturbances.speckle > 0
            else np.zeros(0, np.float32)
        )
        rows = np.arange(h, dtype=np.float32)
        self._glare = (np.exp(-(h - 1 - rows) / (0.25 * h)) * 220.0).astype(np.float32)
        # Written by whoever covers the window (the simulator's event loop), read once a frame
        # by the thread rendering: a single bool, so no lock (one store, one load).
        self._dark = False

    def blind(self, on: bool) -> None:
        """Cover the window (as spatter on the glass would): no stripe until uncovered."""
        self._dark = on

    # -- geometry --------------------------------------------------------------------------

    def stripe_rows(self, view: JointView | None) -> np.ndarray:
        """The true stripe centre row of every column for ``view`` (NaN: no stripe there).

        No joint (``None``): a flat plate at the sensor's origin height.
        """
        if view is None:
            surface = [np.array([[-PROFILE_EXTENT_MM, 0.0], [PROFILE_EXTENT_MM, 0.0]])]
            angle, root = 0.0, (0.0, 0.0)
        elif view.layers and view.joint == "v_groove_butt":
            return self._filled_stripe_rows(view)
        else:
            surface = profile_pieces(view.joint, view.gap_mm, view.mismatch_mm, view.groove)
            angle, root = view.work_angle_deg, (view.root_x_mm, view.root_z_mm)
        a = math.radians(angle)
        rotation = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
        surface = [piece @ rotation.T + root for piece in surface]
        eyes = self.camera.eyes_xz_mm
        # A straight piece of the profile lies in the laser plane and a pinhole camera images
        # it as a straight line, so interpolating between a few of its points is exact; only
        # the depth (which piece is nearer) is approximate between them.
        pieces = visible_parts(surface, eyes)
        steps_mm = [PROFILE_STEP_MM] * len(pieces)
        if view is not None and view.bead_width_mm > 0:
            # The bead's parabola comes with points 0.05 mm apart; it lies over the joint,
            # which the depth test below hides beneath it.
            bead = bead_piece(view) @ rotation.T + root
            runs = _in_view_runs(bead, eyes, surface)
            pieces = [*pieces, *runs]  # a new list: visible_parts may give back ``surface``
            steps_mm += [0.0] * len(runs)
        return self._rows_of(pieces, steps_mm)

    def _filled_stripe_rows(self, view: JointView) -> np.ndarray:
        """``stripe_rows`` of a V-groove with passes laid in it (``filled_groove``). Its
        surface has a face every 0.2 mm across the beads: cutting each face exactly where a
        shadow's edge falls (``visible_parts``) would cost ten times the frame; each of its
        points is tested instead (a shadow's edge drawn to within a point's spacing)."""
        a = math.radians(view.work_angle_deg)
        rotation = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
        root = (view.root_x_mm, view.root_z_mm)
        faces, points = _filled_groove_points(
            view.gap_mm, view.mismatch_mm, view.layers, view.groove
        )
        surface = [piece @ rotation.T + root for piece in faces]
        dense = [piece @ rotation.T + root for piece in points]
        eyes = self.camera.eyes_xz_mm
        runs = [run for piece in dense for run in _in_view_runs(piece, eyes, surface)]
        return self._rows_of(runs, [0.0] * len(runs))

    def _rows_of(self, pieces: list[np.ndarray], steps_mm: list[float]) -> np.ndarray:
        """The stripe's row in every column for the profile's visible ``pieces`` (laser
        plane, sensor frame): the nearest piece where two cover a column. Each piece is first
        sampled every ``steps_mm`` at most along its faces (``_densify``; 0: as it is)."""
        w, h = self.camera.width_px, self.camera.height_px
        rows = np.full(w, np.nan)
        if not pieces:
            return rows
        if _sensor_render is not None:
            bounds = np.zeros(len(pieces) + 1, np.int64)
            np.cumsum([len(piece) for piece in pieces], out=bounds[1:])
            points = _plane_points(np.vstack(pieces))
            steps = np.array(steps_mm, np.float64)
            _sensor_render.rows_of(points, bounds, steps, self.camera.optics, w, h, rows)
            return rows
        depth = np.full(w, np.inf)
        for piece, step_mm in zip(pieces, steps_mm, strict=True):
            xz = _densify(piece, step_mm) if step_mm > 0 else piece
            points = np.column_stack([xz[:, 0], np.zeros(len(xz)), xz[:, 1]])
            u, v, zc = self.camera.project(points)
            order = np.argsort(u)
            u, v, zc = u[order], v[order], zc[order]
            first, last = math.ceil(u[0]), math.floor(u[-1])
            cols = np.arange(max(0, first), min(w - 1, last) + 1)
            if len(cols) == 0:
                continue
            vc = np.interp(cols, u, v)
            dc = np.interp(cols, u, zc)
            nearer = dc < depth[cols]  # where two pieces cover a column, the nearer one shows
            rows[cols[nearer]] = vc[nearer]
            depth[cols[nearer]] = dc[nearer]
        rows[(rows < 3) | (rows > h - 4)] = np.nan
        return rows

    # -- pixels ----------------------------------------------------------------------------

    def render(self, view: JointView | None, out: np.ndarray | None = None) -> RenderedFrame:
        """A frame of ``view``. ``out``: the (height, width) uint8 C-contiguous array to draw
        it in (a frame buffer the caller sends from; its pixels are all written), else a new
        one. The same pixels either way, draw for draw."""
        d = self.disturbances
        rng = self.rng
        h, w = self.camera.height_px, self.camera.width_px
        truth = self.stripe_rows(view)
        noise = self._noise[int(rng.integers(len(self._noise)))]
        shift = int(rng.integers(w))
        if out is None:
            out = np.empty((h, w), np.uint8)
        elif out.shape != (h, w) or out.dtype != np.uint8 or not out.flags.c_contiguous:
            raise ValueError(f"out must be a C-contiguous ({h}, {w}) uint8 array")
        glare = NO_GLARE
        if d.glare > 0:
            flicker = d.glare * float(rng.uniform(0.6, 1.0))
            glare = (self._glare * flicker).astype(np.uint8)  # a gray level per row
        background = _sensor_render.background if _sensor_render else _background_numpy
        background(out, noise, w, shift, glare)
        image = out
        laser_on = not self._dark
        drawn = truth.copy()
        if laser_on and d.dropout_probability > 0 and rng.random() < d.dropout_probability:
            if rng.random() < 0.5:
                drawn[:] = np.nan  # the whole line lost (a spatter flash, the laser's interlock)
            else:
                span = int(rng.uniform(0.1, 0.3) * w)
                start = int(rng.integers(0, w - span))
                drawn[start : start + span] = np.nan
        if laser_on:
            self._draw_stripe(image, drawn, d.stripe_amplitude, 1.0)
            if d.reflection > 0:
                # Light scattered off the far plate lands as a weaker, wider line below.
                ghost = drawn + d.reflection_offset_px
                ghost[: w // 3] = np.nan
                self._draw_stripe(image, ghost, d.stripe_amplitude * d.reflection, 2.2)
        if d.spatter_per_frame > 0:
            self._draw_spatter(image, truth)
        return RenderedFrame(image, drawn if laser_on else np.full(w, np.nan), view, laser_on)

    def _draw_stripe(self, image: np.ndarray, rows: np.ndarray, amplitude: float, widen: float):
        """Add the line at ``rows`` (a centre row per column, NaN: none) to ``image``: a
        Gaussian across rows, ``widen`` times the stripe's width, ``amplitude`` gray levels at
        its centre, with the disturbances' width variation and speckle."""
        d = self.disturbances
        h, w = image.shape
        cols = np.nonzero(np.isfinite(rows) & (rows > 2) & (rows < h - 3))[0]
        if len(cols) == 0:
            return
        centres = rows[cols]
        sigma = np.full(len(cols), d.stripe_sigma_px * widen)
        if d.stripe_width_variation > 0:
            phase = self.rng.uniform(0, 2 * math.pi)
            sigma *= 1 + d.stripe_width_variation * np.sin(cols / 37.0 + phase)
        reach = math.ceil(4 * float(sigma.max()))
        grain_start = 0
        if d.speckle > 0:
            # A random stretch of a pool of draws: drawing them afresh cost more than the rest
            # of the frame (and the frame's rendering is part of the sensor's latency).
            grain_start = int(self.rng.integers(len(self._speckle) - (2 * reach + 1) * len(cols)))
        stripe = _sensor_render.draw_stripe if _sensor_render else _draw_stripe_numpy
        stripe(
            image, w, cols, centres, sigma, amplitude, reach, self._speckle, grain_start, d.speckle
        )

    def _draw_spatter(self, image: np.ndarray, truth: np.ndarray) -> None:
        rng = self.rng
        h, w = image.shape
        finite = np.nan_to_num(truth, nan=h / 2)
        for _ in range(int(rng.poisson(self.disturbances.spatter_per_frame))):
            u = int(rng.integers(w))
            # Spatter flies near the pool and the line: most of it lands close to the stripe.
            v = int(finite[u] + rng.normal(0, 40))
            radius = int(rng.integers(2, 7))
            brightness = int(rng.integers(150, 256))
            if rng.random() < 0.3:  # a streak: a glowing particle during the exposure
                angle = rng.uniform(0, math.pi)
                length = rng.uniform(10, 40)
                end = (int(u + length * math.cos(angle)), int(v + length * math.sin(angle)))
                cv2.line(image, (u, v), end, brightness, max(1, radius // 2))
            else:
                cv2.circle(image, (u, v), radius, brightness, -1)


# -- the pixel passes: compiled (``_sensor_render.c``), or the same in numpy ------------------


def _background_numpy(
    out: np.ndarray, noise: np.ndarray, width: int, shift: int, glare: np.ndarray
) -> None:
    """``_sensor_render.background`` in numpy: ``noise`` shifted ``shift`` columns left
    (round), plus ``glare`` (a gray level per row; empty: none), saturating."""
    np.concatenate([noise[:, shift:], noise[:, :shift]], axis=1, out=out)
    if len(glare):
        cv2.add(out, np.broadcast_to(glare[:, None], out.shape).copy(), dst=out)


def _draw_stripe_numpy(
    image: np.ndarray,
    width: int,
    cols: np.ndarray,
    centres: np.ndarray,
    sigma: np.ndarray,
    amplitude: float,
    reach: int,
    grain: np.ndarray,
    grain_start: int,
    speckle: float,
) -> None:
    """``_sensor_render.draw_stripe`` in numpy (its C comment says what it draws); the same
    pixels within one gray level (the two float32 exponentials round apart now and then)."""
    h = image.shape[0]
    offsets = np.arange(-reach, reach + 1)[:, None]
    pixel_rows = np.floor(centres).astype(np.int64)[None, :] + offsets
    np.clip(pixel_rows, 0, h - 1, out=pixel_rows)
    # The line's profile in float32 (gray levels need no more; exp is twice as fast).
    distance = (pixel_rows - centres).astype(np.float32)
    intensity = np.exp(-(distance**2) / (2 * sigma**2).astype(np.float32))
    intensity *= amplitude
    if speckle > 0 and len(grain):
        draws = grain[grain_start : grain_start + intensity.size].reshape(intensity.shape)
        draws = draws * np.float32(speckle)
        draws += 1
        intensity *= np.clip(draws, 0, 2, out=draws)
    # Flat indices: 2-D fancy indexing costs several times as much.
    flat = pixel_rows * width + cols
    pixels = image.reshape(-1)  # a view: the image is contiguous
    value = pixels.take(flat) + intensity
    np.clip(value, 0, 255, out=value)
    pixels.put(flat, value.astype(np.uint8))


try:
    from sim.devices import _sensor_render
except ImportError:  # not built (``make venv`` builds it): the same frames, slower
    _sensor_render = None


# -- the calibration target --------------------------------------------------------------------


class CalibrationTarget(StrictModel):
    """A chessboard on a plate; the first view lies in the jig at a known place."""

    inner_corners: tuple[int, int] = (7, 5)  # (columns, rows) of inner corners
    square_mm: float = 3.5
    # The jig: in the reference view the board lies flat in the sensor frame's z = 0 plane,
    # its first inner corner here, its rows along +x and its columns along +y.
    reference_first_corner_mm: tuple[float, float, float] = (-10.5, -7.0, 0.0)


def board_poses(count: int, seed: int = 3) -> list[tuple[np.ndarray, np.ndarray]]:
    """(rotation, first-corner position) of the board in each view; the first is the jig's."""
    rng = np.random.default_rng(seed)
    poses = [(np.eye(3), None)]
    for _ in range(count - 1):
        rx, ry, rz = rng.uniform(-0.35, 0.35), rng.uniform(-0.3, 0.3), rng.uniform(-0.2, 0.2)
        rotation, _ = cv2.Rodrigues(np.array([rx, ry, rz]))
        poses.append((rotation, rng.uniform([-3, -3, -6], [3, 3, 6])))
    return poses


def render_calibration_views(
    camera: CameraModel, target: CalibrationTarget, count: int = 8, seed: int = 3
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``count`` pairs (lit frame, laser frame) of the target in different poses.

    Lit: the chessboard under the sensor's own light, laser off. Laser: light off, the line on
    the board. The first pair is the jig's reference pose.
    """
    h, w = camera.height_px, camera.width_px
    cols_n, rows_n = target.inner_corners
    sq = target.square_mm
    first = np.array(target.reference_first_corner_mm)
    # 3x3 samples per pixel: the chessboard's edges need anti-aliasing for sub-pixel corners.
    sub = (np.arange(3) - 1) / 3
    uu, vv = np.meshgrid(np.arange(w), np.arange(h))
    views = []
    rng = np.random.default_rng(seed)
    for rotation, position in board_poses(count, seed):
        origin = first if position is None else first + position
        normal = rotation[:, 2]
        lit = np.zeros((h, w))
        laser = np.zeros((h, w))
        for du in sub:
            for dv in sub:
                rays = camera.rays((uu + du).ravel(), (vv + dv).ravel())
                c = camera.center_mm
                t = ((origin - c) @ normal) / (rays @ normal)
                hit = c + t[:, None] * rays
                local = (hit - origin) @ rotation  # board coordinates
                bx, by = local[:, 0] / sq, local[:, 1] / sq
                squares = (bx > -1) & (bx < cols_n) & (by > -1) & (by < rows_n)
                # The plate: the squares and a white border around them (the corner finder
                # needs the board's outline against a light margin).
                m = 1 + BOARD_MARGIN_SQUARES
                inside = (bx > -m) & (bx < cols_n + m - 1) & (by > -m) & (by < rows_n + m - 1)
                white = ((np.floor(bx) + np.floor(by)) % 2 == 1) | ~squares
                albedo = np.where(inside, np.where(white, 0.85, 0.12), 0.03)
                lit += (albedo * 230).reshape(h, w)
                # The laser sheet: a Gaussian across y = 0, 0.12 mm wide (1 sigma).
                line = np.exp(-(hit[:, 1] ** 2) / (2 * 0.12**2)) * np.where(inside, albedo, 0)
                laser += (line * 250 / 0.85).reshape(h, w)
        lit = lit / 9 + rng.normal(0, 1.0, (h, w))
        laser = laser / 9 + AMBIENT_LEVEL + rng.normal(0, 1.0, (h, w))
        views.append(
            (
                np.clip(lit, 0, 255).astype(np.uint8),
                np.clip(laser, 0, 255).astype(np.uint8),
            )
        )
    return views
