"""The suite's xdist groups hold (tests/conftest.py: SENSING_CELLS, OPCUA_CELLS).

``make test`` runs two workers with ``--dist loadgroup``, which keeps the tests of one group on
one worker by an "@group" suffix xdist adds to each test's id. With pytest 9.2 that suffix was
silently dropped and two sensing cells ran side by side, failing on each other's load.
"""

from __future__ import annotations

import pytest


def test_a_sensing_cell_module_runs_in_its_group(request: pytest.FixtureRequest) -> None:
    if getattr(request.config, "workerinput", None) is None:
        pytest.skip("not on an xdist worker: no groups to hold")
    if not request.config.getvalue("loadgroup"):
        pytest.skip("not --dist loadgroup")
    assert request.node.nodeid.endswith("@sensing-cell"), request.node.nodeid
