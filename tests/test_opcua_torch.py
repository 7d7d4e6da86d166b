"""The torch's operator commands over OPC UA: a TCP check asked for between parts runs before
the next part's first seam; a tip change is recorded; a wrong request is refused."""

from __future__ import annotations

import pytest

from cellctl.plant.opcua.client import call_method, cell_namespace
from sim.wire.injection import inject
from tests.opcua_rig import cell_with_opcua, client_as

pytestmark = pytest.mark.slow


def coupon(cell: dict) -> None:
    cell["controller"]["cycle"]["active_part"] = "coupon-fillet-80"  # one short seam


async def test_the_operator_asks_for_a_tcp_check_and_records_a_tip_change(tmp_path):
    async with cell_with_opcua(tmp_path, edit=coupon) as (rig, server):
        await rig.to_idle()
        await inject(rig.sim, "torch_bend 0.5 0 -0.3")
        async with (
            client_as(server.endpoint, None) as anonymous,
            client_as(server.endpoint, "olga") as operator,
        ):
            ns = await cell_namespace(operator)
            refused = await call_method(anonymous, ns, "TorchService", "tcp_check")
            assert refused.status == "BadUserAccessDenied"
            wrong = await call_method(operator, ns, "TorchService", "polish")
            assert wrong.status == "BadInvalidArgument"
            assert "tcp_check, service, tip_changed" in wrong.message
            asked = await call_method(operator, ns, "TorchService", "tcp_check")
            assert asked.ok, asked.message
            tip = await call_method(operator, ns, "TorchService", "tip_changed")
            assert tip.ok, tip.message
        await rig.weld_part_without_faults(60)
        care = rig.controller.part_run.torch_care
        audit = await rig.controller.store.audit_rows()
    assert care.tip_changes == 1
    assert len(care.checks) == 1
    assert care.checks[0].offset_after_mm == pytest.approx((0.5, 0.0, -0.3), abs=0.05)
    actions = [(row["actor"], row["action"]) for row in audit]
    assert ("opcua:olga", "TorchService") in actions
    assert ("opcua:olga", "contact_tip_change") in actions
    assert ("torch", "tcp_check") in actions
