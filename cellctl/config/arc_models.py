"""The settings of through-arc seam tracking (``arc_sensing`` in config/cell.yaml).

What ``cellctl.sensing.arc`` makes of the power source's per-weave-period currents: the gains
from a current difference to a correction, the deadband below which a difference is noise,
the reference current of the height channel, and how long tracking may go without a period.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from drivers.codecs.model import StrictModel


class ArcSensingSettings(StrictModel):
    """Through-arc seam tracking (the arc as the sensor, while the torch weaves)."""

    # Lateral: the correction moves this far (mm) towards the side of lower current per A that
    # the left extreme's mean current exceeds the right's. About 1 / (the groove's sensitivity:
    # some 7 A per mm off centre in a 60° V-groove at 6 A per mm of stick-out) x a loop gain
    # near 0.5, so that a period's noise is not followed in full.
    lateral_gain_mm_per_a: Annotated[float, Field(ge=0, le=2)] = 0.1
    # Vertical: the correction moves up this far per A that the period's mean current is above
    # the reference (a shorter stick-out: the torch too low). 0 leaves the height alone.
    vertical_gain_mm_per_a: Annotated[float, Field(ge=0, le=2)] = 0.02
    # Differences within these are taken as noise: no correction for them.
    lateral_deadband_a: Annotated[float, Field(ge=0, le=100)] = 1.0
    vertical_deadband_a: Annotated[float, Field(ge=0, le=100)] = 3.0
    # The height channel's reference: the mean current of the first periods of a pass (the
    # torch at the height its path was taught or planned at), as commercial arc sensors learn it.
    reference_periods: Annotated[int, Field(ge=1, le=50)] = 3
    # Periods averaging fewer samples than this in all (the power source counts them) are not
    # used: too few to tell the sides apart.
    min_samples_per_period: Annotated[int, Field(ge=1, le=10_000)] = 20
    # The most a period may move the correction (mm): a period spoilt by spatter or a
    # stubbing wire moves it no further. Commercial arc sensors limit the correction per weave
    # the same way.
    max_step_mm_per_period: Annotated[float, Field(gt=0, le=5)] = 0.5
    # A period whose currents are not those of a burning arc (none, or above this) is refused.
    max_current_a: Annotated[float, Field(gt=0, le=2000)] = 600.0
    # How often the controller reads the power source's last period (a few reads a period).
    poll_interval_ms: Annotated[int, Field(ge=5, le=1_000)] = 40
    # Tracking is lost (F151) once the torch has gone this far without a usable period.
    coast_mm: Annotated[float, Field(gt=0, le=100)] = 30.0
