"""Laser stripe extraction: the line's centre row in every image column, to a fraction of a pixel.

Per column, all columns at once (numpy, no Python loop over columns):

1. Search: while the stripe was found in the previous frame, only a band of rows around it
   (the region of interest follows the stripe); otherwise the whole column (argmax).
2. Sub-pixel centre: the centroid of the intensity above a floor, in a window around the
   peak. The floor is the local background (the window's darker edge, which removes arc glare,
   a smooth gradient) plus a fraction of the peak height, so that the tails of the line and the
   noise on them do not pull the centre.
3. Rejection: a column is dropped when its peak is too weak (dropout, the line off the
   part), too wide (a spatter blob or a glare patch is wider than the laser line), or off the
   line its neighbours draw (spatter near the line, a reflection).

A reflection of the line off a shiny plate is weaker than the line itself and lies outside the
band that follows it, so it is never taken once the line is locked.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cellctl.config.sensor_models import StripeSettings


@dataclass(frozen=True)
class Stripe:
    """The extracted line: ``rows[c]`` is column c's centre row (NaN where none)."""

    rows: np.ndarray  # float64, one per column
    peak: np.ndarray  # peak height above the local background, gray levels

    @property
    def valid(self) -> np.ndarray:
        return np.isfinite(self.rows)

    @property
    def valid_count(self) -> int:
        return int(np.count_nonzero(self.valid))


class StripeExtractor:
    """Extracts the stripe from consecutive frames of one camera (keeps the ROI between them)."""

    def __init__(self, settings: StripeSettings | None = None) -> None:
        self.settings = settings or StripeSettings()
        self._previous: np.ndarray | None = None  # integer centre rows of the last frame's line
        self._previous_count = 0
        s = self.settings
        self._band = np.arange(-s.roi_half_height_px, s.roi_half_height_px + 1)[:, None]
        self._window = np.arange(-s.window_half_px, s.window_half_px + 1)[:, None]

    def reset(self) -> None:
        """Forget where the line was (the next frame is searched whole)."""
        self._previous = None

    def extract(self, image: np.ndarray) -> Stripe:
        following = self._previous is not None
        stripe = self._extract(image)
        if following and stripe.valid_count < max(
            self.settings.min_columns_to_follow, 0.8 * self._previous_count
        ):
            # Lost the line from the band (a jump, a step): search this frame whole at once.
            self._previous = None
            stripe = self._extract(image)
        self._previous_count = stripe.valid_count
        return stripe

    def _extract(self, image: np.ndarray) -> Stripe:
        s = self.settings
        height, width = image.shape
        columns = np.arange(width)
        # 1. The peak row of each column: in the band that follows the line, or everywhere.
        if self._previous is not None and self._previous.shape[0] == width:
            # The band's centre kept a half band from the image's edges, so that the band
            # itself needs no clipping (a line at the edge is still inside it).
            half = self._band.shape[0] // 2
            centre = np.clip(self._previous, half, height - 1 - half)
            # Flat indices and take(): much cheaper than 2-D fancy indexing.
            band = image.ravel().take((centre * width + columns)[None, :] + self._band * width)
            peak_rows = centre + (np.argmax(band, axis=0) - half)
            rows, peak = self._centres(image, peak_rows, columns)
            lost = np.nonzero(np.isnan(rows))[0]
            if len(lost):
                # Columns where the line left the band (a plate edge, a step): search them whole.
                whole = np.argmax(image[:, lost], axis=0)
                rows[lost], peak[lost] = self._centres(image, whole, lost)
        else:
            rows, peak = self._centres(image, np.argmax(image, axis=0), columns)
        rows = self._reject_strays(rows)
        rows = self._reject_short_runs(rows)
        valid = np.isfinite(rows)
        if np.count_nonzero(valid) >= s.min_columns_to_follow:
            # Follow the line: columns without it take their neighbours' row (interpolated).
            index = np.nonzero(valid)[0]
            self._previous = np.rint(np.interp(columns, index, rows[index])).astype(np.intp)
        else:
            self._previous = None
        return Stripe(rows, peak)

    def _centres(
        self, image: np.ndarray, peak_rows: np.ndarray, columns: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """2 and 3 for the given columns: sub-pixel centre rows (NaN: rejected) and peak heights."""
        s = self.settings
        half = s.window_half_px
        peak_rows = np.clip(peak_rows, half, image.shape[0] - 1 - half)
        flat = (peak_rows[None, :] + self._window) * image.shape[1] + columns
        window = image.ravel().take(flat).astype(np.float32)
        top = window[half]
        background = np.minimum(window[0], window[-1])
        height_above = top - background
        floor = background + s.floor_fraction * height_above
        weights = np.maximum(window - floor, 0.0)
        total = weights.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            offset = (weights * self._window).sum(axis=0) / total
        rows = peak_rows + offset.astype(np.float64)
        above_half = np.count_nonzero(window > (background + 0.5 * height_above), axis=0)
        bad = (height_above < s.min_peak_height) | (above_half > s.max_line_width_px) | (total <= 0)
        rows[bad] = np.nan
        return rows, height_above

    def _reject_short_runs(self, rows: np.ndarray) -> np.ndarray:
        """Drop pieces of line shorter than ``min_run_columns``: a spatter streak or blob makes
        a short piece of its own; a plate's face makes a long one."""
        s = self.settings
        index = np.nonzero(np.isfinite(rows))[0]
        if len(index) == 0:
            return rows
        values = rows[index]
        breaks = (np.diff(index) > 2) | (np.abs(np.diff(values)) > s.max_jump_px)
        run = np.concatenate([[0], np.cumsum(breaks)])
        lengths = np.bincount(run)
        short = lengths[run] < s.min_run_columns
        if short.any():
            rows = rows.copy()
            rows[index[short]] = np.nan
        return rows

    def _reject_strays(self, rows: np.ndarray) -> np.ndarray:
        """Drop single points off both their neighbours by more than ``max_jump_px`` (a speck
        of spatter in one column); longer strays are short runs (``_reject_short_runs``)."""
        # NaN neighbours count as "off": a lone point between gaps is no line either.
        close = np.abs(rows[1:] - rows[:-1]) <= self.settings.max_jump_px
        near = np.zeros(len(rows), dtype=bool)
        near[1:] = close  # near the column before
        near[:-1] |= close  # or near the one after
        out = rows.copy()
        out[~near] = np.nan
        return out


def argmax_rows(image: np.ndarray, min_peak_height: float = 40.0) -> np.ndarray:
    """The plain per-column argmax (whole pixels), the baseline the benchmark compares with."""
    rows = np.argmax(image, axis=0).astype(np.float64)
    peak = image[rows.astype(np.intp), np.arange(image.shape[1])]
    rows[peak < min_peak_height] = np.nan
    return rows
