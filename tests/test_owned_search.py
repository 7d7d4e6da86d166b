"""The robot-owned search's arithmetic (``cellctl.weld.owned_search``): where the job's search
position lies, and the joint at the seam's start from what the search position saw and the
pre-scan's trend. (The handshake itself runs in tests/test_owned_cycle.py, the RSI and EGM
cell tests.)"""

from __future__ import annotations

import math
import random

import pytest

from cellctl.weld.owned_search import search_position, start_from
from drivers.codecs.seam_path import SeamPath


def test_the_search_position_lies_on_the_seams_line_before_its_start():
    seam = SeamPath.polyline([(400.0, -75.0, 8.0), (400.0, 75.0, 8.0)])
    assert search_position(seam, 26.0) == pytest.approx((400.0, -101.0, 8.0))


def test_the_start_is_the_joint_seen_carried_back_along_the_prescans_trend():
    # A joint bending away at 0.2 mm per mm from 1.5 mm at the start (the first millimetres of
    # bench vision_owned's sine-5mm are about as steep): seen 4 mm in, pre-scanned on to 30 mm,
    # every frame 0.03 mm noisy. The standing median saw it without the noise.
    rng = random.Random(7)
    joint = lambda s: (1.5 + 0.2 * s, -0.1 + 0.01 * s)  # noqa: E731
    prescan = [(s, *(v + rng.gauss(0, 0.03) for v in joint(s))) for s in range(4, 31)]
    lateral, vertical = start_from(joint(4.0), 4.0, prescan)
    assert (lateral, vertical) == (pytest.approx(1.5, abs=0.05), pytest.approx(-0.1, abs=0.05))
    # Without a pre-scan (too few frames, too short) the joint seen is taken as it is.
    assert start_from((2.3, 0.1), 4.0, prescan[:2]) == (2.3, 0.1)
    assert start_from((2.3, 0.1), 4.0, [(4.0, 2.3, 0.1), (4.5, 2.4, 0.1), (5.0, 2.5, 0.1)]) == (
        2.3,
        0.1,
    )
    assert math.isfinite(start_from((0.0, 0.0), 4.0, [])[0])
