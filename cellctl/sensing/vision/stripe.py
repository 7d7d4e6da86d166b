"""Laser stripe extraction: the line's centre row in every image column, to a fraction of a pixel.

Per column, all columns at once (no Python loop over columns: the per-pixel work of steps 1
and 2 is one compiled pass each, ``_stripe.c``, that runs without the GIL):

1. Search: while the stripe was found in the previous frame, only a band of rows around it
   (the region of interest follows the stripe); otherwise the whole column (argmax).
2. Sub-pixel centre: the centroid of the intensity above a floor, in a window around the
   peak. The floor is the local background (the window's darker edge, which removes arc glare,
   a smooth gradient) plus a fraction of the peak height, so that the tails of the line and the
   noise on them do not pull the centre.
3. Rejection: a column is dropped when its peak is too weak (dropout, the line off the
   part), too wide (a spatter blob or a glare patch is wider than the laser line), or part of
   a piece of line too short to be a plate's face (spatter near the line, a reflection): a
   speck on the line is dropped first and the line either side of it joined.

A reflection of the line off a shiny plate is weaker than the line itself and lies outside the
band that follows it, so it is never taken once the line is locked.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from cellctl.config.sensor_models import StripeSettings


@dataclass(frozen=True)
class Stripe:
    """The extracted line: ``rows[c]`` is column c's centre row (NaN where none)."""

    rows: np.ndarray  # float64, one per column
    peak: np.ndarray  # peak height above the local background, gray levels
    columns: np.ndarray  # the columns that have the line (rows not NaN), ascending

    @property
    def valid(self) -> np.ndarray:
        return np.isfinite(self.rows)

    @property
    def valid_count(self) -> int:
        return len(self.columns)


class StripeExtractor:
    """Extracts the stripe from consecutive frames of one camera (keeps the ROI between them)."""

    def __init__(self, settings: StripeSettings | None = None) -> None:
        self.settings = settings or StripeSettings()
        self._previous: np.ndarray | None = None  # integer centre rows of the last frame's line
        self._previous_count = 0
        self._columns = np.arange(0, dtype=np.intp)
        self._index = np.empty(0, dtype=np.intp)  # short_runs' buffers, a column each
        self._lengths = np.empty(0, dtype=np.intp)

    def reset(self) -> None:
        """Forget where the line was (the next frame is searched whole)."""
        self._previous = None

    def extract(self, image: np.ndarray) -> Stripe:
        stripe, searched_whole = self._extract(image)
        if not searched_whole and stripe.valid_count < max(
            self.settings.min_columns_to_follow, 0.8 * self._previous_count
        ):
            # Lost the line from the band (a jump, a step): search this frame whole at once.
            self._previous = None
            stripe, _ = self._extract(image)
        self._previous_count = stripe.valid_count
        return stripe

    def _extract(self, image: np.ndarray) -> tuple[Stripe, bool]:
        """The stripe, and whether every column was searched whole (no band)."""
        s = self.settings
        image = np.ascontiguousarray(image, dtype=np.uint8)
        height, width = image.shape
        if self._columns.shape[0] != width:
            self._columns = np.arange(width, dtype=np.intp)
        columns = self._columns
        # 1. The peak row of each column: in the band that follows the line, or everywhere.
        if self._previous is not None and self._previous.shape[0] == width:
            # The band's centre kept a half band from the image's edges (see below), so that
            # the band itself needs no clipping (a line at the edge is still inside it).
            peak_rows = np.empty(width, dtype=np.intp)
            band_peaks(image, width, self._previous, s.roi_half_height_px, peak_rows)
            rows, peak = self._centres(image, peak_rows, columns)
            lost = np.flatnonzero(np.isnan(rows))
            searched_whole = len(lost) > width // 2
            if searched_whole:
                # Most of the line is gone from the band (a dropout, a jump): search it all.
                rows, peak = self._centres(image, _column_argmax(image), columns)
            elif len(lost):
                # Columns where the line left the band (a plate edge, a step): search them whole.
                # However few: where the line jumps (out of a tilted butt joint's gap, down a
                # lap's edge) the band is carried across the jump, and a plate's first columns
                # that a moving joint brings there lie outside it, frame after frame.
                whole = _column_argmax(image, lost)
                rows[lost], peak[lost] = self._centres(image, whole, lost)
        else:
            searched_whole = True
            rows, peak = self._centres(image, _column_argmax(image), columns)
        index = self._reject_short_runs(rows)
        if len(index) >= s.min_columns_to_follow:
            # Follow the line: columns without it take their neighbours' row (interpolated),
            # the band's centre kept a half band inside the image.
            half = s.roi_half_height_px
            centre = np.interp(columns, index, rows[index]).round().astype(np.intp)
            np.maximum(centre, half, out=centre)
            self._previous = np.minimum(centre, height - 1 - half, out=centre)
        else:
            self._previous = None
        return Stripe(rows, peak, index), searched_whole

    def _centres(
        self, image: np.ndarray, peak_rows: np.ndarray, columns: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """2 and 3 for the given columns: sub-pixel centre rows (NaN: rejected) and peak heights.
        ``image`` is C-contiguous uint8; ``peak_rows`` (intp) is clamped in place."""
        s = self.settings
        peak_rows = np.ascontiguousarray(peak_rows, dtype=np.intp)
        columns = np.ascontiguousarray(columns, dtype=np.intp)
        rows = np.empty(len(columns), dtype=np.float64)
        peak = np.empty(len(columns), dtype=np.float32)
        centres(
            image, image.shape[1], peak_rows, columns, s.window_half_px, s.floor_fraction,
            s.min_peak_height, s.max_line_width_px, rows, peak,
        )  # fmt: skip
        return rows, peak

    def _reject_short_runs(self, rows: np.ndarray) -> np.ndarray:
        """Drop pieces of line shorter than ``min_run_columns`` (in place): a spatter streak or
        blob makes a short piece of its own; a plate's face makes a long one. Specks first: a
        piece no wider than ``max_run_gap_columns`` is dropped and the line either side of it
        joined, so that a speck of spatter on a face does not cut the face into pieces too
        short to keep. Returns the columns left with the line. (Compiled: ``short_runs``;
        ``_reject_short_runs_numpy`` the same in numpy, bit for bit.)"""
        if not COMPILED:
            return self._reject_short_runs_numpy(rows)
        s = self.settings
        width = len(rows)
        if self._index.shape[0] != width:
            self._index = np.empty(width, dtype=np.intp)
            self._lengths = np.empty(width, dtype=np.intp)
        count = short_runs(
            rows, s.max_run_gap_columns, float(s.max_jump_px), s.min_run_columns,
            self._index, self._lengths,
        )  # fmt: skip
        return self._index[:count].copy()

    def _reject_short_runs_numpy(self, rows: np.ndarray) -> np.ndarray:
        """``_reject_short_runs`` in numpy."""
        s = self.settings
        index = (rows == rows).nonzero()[0]  # not NaN
        if len(index) == 0:
            return index
        values = rows[index]
        length = self._piece_lengths(index, values)
        speck = length <= s.max_run_gap_columns
        if speck.any():
            rows[index[speck]] = np.nan
            kept = ~speck
            index, values = index[kept], values[kept]
            if len(index) == 0:
                return index
            length = self._piece_lengths(index, values)
        short = length < s.min_run_columns
        if short.any():
            rows[index[short]] = np.nan
            index = index[~short]
        return index

    def _piece_lengths(self, index: np.ndarray, values: np.ndarray) -> np.ndarray:
        """For each point (columns ``index``, rows ``values``), the length of its piece of line:
        a new piece starts after a hole wider than ``max_run_gap_columns`` or a jump in height
        (only which points are kept depends on it: the holes stay holes)."""
        breaks = index[1:] - index[:-1] > self.settings.max_run_gap_columns
        breaks |= abs(values[1:] - values[:-1]) > self.settings.max_jump_px
        piece = np.zeros(len(index), dtype=np.intp)  # each point's piece
        breaks.cumsum(out=piece[1:])
        return np.bincount(piece)[piece]


def _column_argmax(image: np.ndarray, columns: np.ndarray | None = None) -> np.ndarray:
    """The brightest row of each column (of the given columns). Along a row is where numpy's
    argmax is fast (contiguous, vectorised): on the transposed image it is 2-4x quicker than
    down the columns, the transposition included."""
    if columns is not None and len(columns) * 8 < image.shape[1]:
        return image[:, columns].argmax(axis=0)  # a few columns: no need for the whole
    transposed = cv2.transpose(image)
    return (transposed if columns is None else transposed[columns]).argmax(axis=1)


def argmax_rows(image: np.ndarray, min_peak_height: float = 40.0) -> np.ndarray:
    """The plain per-column argmax (whole pixels), the baseline the benchmark compares with."""
    rows = np.argmax(image, axis=0).astype(np.float64)
    peak = image[rows.astype(np.intp), np.arange(image.shape[1])]
    rows[peak < min_peak_height] = np.nan
    return rows


# -- the per-pixel passes: compiled (``_stripe.c``), or the same in numpy ----------------------


def _band_peaks_numpy(
    image: np.ndarray, width: int, centre: np.ndarray, half: int, out: np.ndarray
) -> None:
    """``_stripe.band_peaks`` in numpy: the same results, three times the time."""
    band = _down_runs(image, 2 * half + 1)[(centre - half) * width + np.arange(width)]
    out[:] = centre + (band.argmax(axis=1) - half)


def _centres_numpy(
    image: np.ndarray,
    width: int,
    peak_rows: np.ndarray,
    columns: np.ndarray,
    half: int,
    floor_fraction: float,
    min_peak_height: float,
    max_line_width_px: int,
    out_rows: np.ndarray,
    out_peak: np.ndarray,
) -> None:
    """``_stripe.centres`` in numpy: the same results (float32, sums of whole numbers are
    exact in any order), three times the time."""
    height = image.shape[0]
    np.maximum(peak_rows, half, out=peak_rows)
    np.minimum(peak_rows, height - 1 - half, out=peak_rows)
    window = _down_runs(image, 2 * half + 1)[(peak_rows - half) * width + columns]
    window = np.array(window.T, dtype=np.float32, order="C")  # rows: offsets from the peak
    background = np.minimum(window[0], window[-1])
    height_above = window[half] - background
    weights = window - (background + floor_fraction * height_above)
    np.maximum(weights, 0.0, out=weights)
    offsets = np.arange(-half, half + 1, dtype=np.float32)
    total, moment = np.vstack([np.ones(len(offsets), np.float32), offsets]) @ weights
    above_half = (window > background + 0.5 * height_above).sum(axis=0)
    bad = height_above < min_peak_height
    bad |= above_half > max_line_width_px
    bad |= total <= 0
    total[bad] = np.nan
    out_rows[:] = peak_rows + moment / total
    out_peak[:] = height_above


def _down_runs(image: np.ndarray, length: int) -> np.ndarray:
    """A read-only view of the image: row i holds the ``length`` pixels going down from flat
    position i (i = row * width + column)."""
    height, width = image.shape
    view = np.ndarray(
        (height * width - (length - 1) * width, length),
        dtype=image.dtype,
        buffer=image,
        strides=(image.itemsize, width * image.itemsize),
    )
    view.flags.writeable = False  # rows overlap: a write would show in many of them
    return view


try:
    from cellctl.sensing.vision._stripe import band_peaks, centres, short_runs

    COMPILED = True
except ImportError:  # not built (``make venv`` builds it): the same results, slower
    band_peaks, centres = _band_peaks_numpy, _centres_numpy
    short_runs = None
    COMPILED = False
