"""The controller's OPC UA interface through asyncua's client against a real cell (simulator).

Reads, method calls, refused commands (anonymous, an operator's SetMode, a command the state
does not allow, bad arguments, a wrong password) and the audit rows they leave.
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from asyncua import ua

from cellctl.cell.packml import State
from cellctl.plant.opcua.client import call_method, cell_namespace, read_cell
from tests.opcua_rig import cell_with_opcua, client_as, log_in, secured

pytestmark = pytest.mark.slow


async def _until(condition, what: str, timeout_s: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not await condition():
        if loop.time() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


class _Seen:
    """A subscription handler that keeps every value told, per node (its string id)."""

    def __init__(self) -> None:
        self.values: dict[str, list] = {}

    def datachange_notification(self, node, value, data) -> None:
        self.values.setdefault(node.nodeid.Identifier, []).append(value)

    def last(self, node_id: str):
        told = self.values.get(node_id)
        return told[-1] if told else None


async def test_reads_commands_refusals_and_audit(tmp_path):
    async with cell_with_opcua(tmp_path) as (rig, server):
        await rig.to_idle()
        async with (
            client_as(server.endpoint, None) as anonymous,
            client_as(server.endpoint, "olga") as operator,
            client_as(server.endpoint, "erik") as engineer,
        ):
            ns = await cell_namespace(anonymous)
            cell = await read_cell(anonymous, ns)
            assert cell["State"] == "Idle"
            assert cell["StateNumber"] == int(State.IDLE)
            assert cell["Mode"] == "production"
            assert cell["Links.Plc"] == cell["Links.Robot"] == cell["Links.PowerSource"] == "up"
            assert "start" in cell["AllowedCommands"]

            assert (await call_method(anonymous, ns, "WhoAmI")).message == "anonymous anonymous"
            assert (await call_method(engineer, ns, "WhoAmI")).message == "erik engineer"

            # Anonymous may read, never command: Bad status and a message, nothing changes.
            refused = await call_method(anonymous, ns, "Start")
            assert refused.status == "BadUserAccessDenied"
            assert "anonymous" in refused.message
            assert "operator" in refused.message
            assert rig.state is State.IDLE

            # An operator may not change the mode; an engineer may.
            refused = await call_method(operator, ns, "SetMode", "dry_run")
            assert refused.status == "BadUserAccessDenied"
            assert "engineer" in refused.message
            done = await call_method(engineer, ns, "SetMode", "dry_run")
            assert done.ok, done.message
            assert str(rig.controller.machine.mode) == "dry_run"
            bad = await call_method(engineer, ns, "SetMode", "turbo")
            assert bad.status == "BadInvalidArgument"
            assert "turbo" in bad.message
            assert (await call_method(engineer, ns, "SetMode", "production")).ok

            # A command the state does not allow: refused naming the state and what is allowed.
            wrong = await call_method(operator, ns, "Unhold")
            assert wrong.status == "BadInvalidState"
            assert "Idle" in wrong.message
            assert "allowed now" in wrong.message

            # A real command: the operator starts a part; the cell runs; Hold holds it.
            rig.sim.plc.set_part_loaded(True)
            started = await call_method(operator, ns, "Start")
            assert started.ok, started.message
            await rig.until_phase("welding", 20)
            held = await call_method(operator, ns, "Hold")
            assert held.ok, held.message
            await rig.until_state(State.HELD)

            async def server_says_held() -> bool:
                return (await read_cell(anonymous, ns))["State"] == "Held"

            await _until(server_says_held, "the server to publish Held")
            cell = await read_cell(anonymous, ns)
            assert cell["Part"] == rig.controller.config.active_part.name
            assert cell["Weld.Procedure"]
            assert len(cell["Weld.CurrentBandA"]) == 2
            assert cell["Tracking.TaughtPathXMm"], "the current seam's taught path"

            unheld = await call_method(operator, ns, "Unhold")
            assert unheld.ok, unheld.message
            await rig.until_state(State.IDLE, 60)

            async def counted() -> bool:
                return (await read_cell(anonymous, ns))["Counters.PartsProcessed"] == 1

            await _until(counted, "the part in the counters", 10)
            cell = await read_cell(anonymous, ns)
            assert cell["Counters.PartsGood"] + cell["Counters.PartsDefective"] == 1
            assert cell["Production.CycleTimeS"] > 0
            assert len(cell["Production.PartCycleTimeS"]) == 1
            assert 0 < cell["Production.ArcOnRatio"] < 1
            assert cell["Production.Oee"] >= 0
            assert len(cell["Weld.SeamNames"]) == len(rig.controller.config.active_part.seams)
            assert all(q > 0 for q in cell["Weld.SeamHeatInputKjPerMm"])

        rows = await rig.controller.store.audit_rows()
        seen = [
            (r["actor"], r["action"], r["result"].split(":")[0])
            for r in rows
            if r["actor"].startswith("opcua:")  # the controller audits its config too
        ]
        assert seen == [
            ("opcua:anonymous", "Start", "refused"),
            ("opcua:olga", "SetMode", "refused"),
            ("opcua:erik", "SetMode", "ok"),
            ("opcua:erik", "SetMode", "refused"),
            ("opcua:erik", "SetMode", "ok"),
            ("opcua:olga", "Unhold", "refused"),
            ("opcua:olga", "Start", "ok"),
            ("opcua:olga", "Hold", "ok"),
            ("opcua:olga", "Unhold", "ok"),
        ]
        commands = [r for r in rows if r["actor"].startswith("opcua:")]
        assert "'dry_run'" in commands[1]["detail"]
        assert "Idle" in commands[5]["result"]


async def test_faults_acknowledge_and_links(tmp_path):
    async with cell_with_opcua(tmp_path) as (rig, server):
        await rig.to_idle()
        async with (
            client_as(server.endpoint, None) as anonymous,
            client_as(server.endpoint, "olga") as operator,
        ):
            ns = await cell_namespace(anonymous)
            rig.sim.plc.set_estop(True)

            async def fault_shown() -> bool:
                return "F100" in (await read_cell(anonymous, ns))["Faults.ActiveCodes"]

            await _until(fault_shown, "F100 on the server")
            cell = await read_cell(anonymous, ns)
            index = cell["Faults.ActiveCodes"].index("F100")
            assert cell["Faults.ActiveAcknowledged"][index] is False
            assert cell["Faults.ActiveSeverities"][index] == "abort"
            assert "e-stop" in cell["Faults.ActiveTexts"][index].lower()

            assert (await call_method(anonymous, ns, "AcknowledgeFault", "F100")).status == (
                "BadUserAccessDenied"
            )
            missing = await call_method(operator, ns, "AcknowledgeFault", "F999")
            assert missing.status == "BadInvalidArgument"
            assert "F100" in missing.message
            done = await call_method(operator, ns, "AcknowledgeFault", "F100")
            assert done.ok, done.message
            assert rig.controller.faults.active[0].acknowledged_by == "opcua:olga"

            async def acknowledged() -> bool:
                return (await read_cell(anonymous, ns))["Faults.ActiveAcknowledged"] == [True]

            await _until(acknowledged, "the acknowledgement on the server")

            async def in_history() -> bool:
                cell = await read_cell(anonymous, ns)
                return (
                    "F100" in cell["Faults.HistoryCodes"] and "F100" in cell["Faults.ParetoCodes"]
                )

            await _until(in_history, "F100 in the history and the Pareto")

            # The vision work's setters reach the Cell object.
            server.publish_tracking(0.4, -0.2, position_mm=12.5)
            server.publish_profile(np.linspace(-10, 10, 101), np.zeros(101), (0.5, -1.0))

            async def tracked() -> bool:
                cell = await read_cell(anonymous, ns)
                return cell["Tracking.ProfileCount"] == 1 and cell["Tracking.CorrectionCount"] == 1

            await _until(tracked, "tracking values on the server")
            cell = await read_cell(anonymous, ns)
            assert cell["Tracking.LateralCorrectionMm"] == pytest.approx(0.4)
            assert cell["Tracking.PositionMm"] == pytest.approx(12.5)
            assert len(cell["Tracking.ProfileYMm"]) == 101
            assert cell["Tracking.JointFound"] is True
            assert cell["Tracking.JointYMm"] == pytest.approx(0.5)

            # A subscriber sees every new profile and correction, in order: the server's
            # written values are shared with asyncua's monitored items, not copied for each
            # (server._PublishedValue), and a change must still be told from the last value.
            seen = _Seen()
            subscription = await anonymous.create_subscription(20, seen)
            await subscription.subscribe_data_change(
                [
                    anonymous.get_node(ua.NodeId(f"Cell.{path}", ns))
                    for path in ("Tracking.ProfileZMm", "Tracking.LateralCorrectionMm")
                ],
                sampling_interval=0,
            )
            for step in (1, 2, 3):
                server.publish_tracking(0.4 + step, -0.2, position_mm=12.5 + step)
                server.publish_profile(np.linspace(-10, 10, 101), np.full(101, -step), None)

                async def told(step: int = step) -> bool:
                    return seen.last("Cell.Tracking.ProfileZMm") == [-step] * 101 and (
                        seen.last("Cell.Tracking.LateralCorrectionMm") == 0.4 + step
                    )

                await _until(told, f"profile and correction {step} at the subscriber")
            assert [z[0] for z in seen.values["Cell.Tracking.ProfileZMm"]] == [0, -1, -2, -3]
            assert seen.values["Cell.Tracking.LateralCorrectionMm"] == [0.4, 1.4, 2.4, 3.4]
            await subscription.delete()


async def test_wrong_password_is_refused_and_anonymous_can_be_switched_off(tmp_path):
    def no_anonymous(cell: dict) -> None:
        cell["opcua"]["allow_anonymous"] = False

    async with cell_with_opcua(tmp_path, edit=no_anonymous) as (_rig, server):
        from asyncua import Client

        assert not await log_in(server.endpoint, "olga", "not-her-password")
        client = await secured(Client(server.endpoint, timeout=5))
        with pytest.raises(ua.uaerrors.BadIdentityTokenRejected):
            await client.connect()
        client.disconnect_socket()
