"""A fuzzed OPC UA client session (issue 19): malformed method calls and writes change nothing
and crash nothing.

An engineer (the strongest role an OPC UA user has) logs in over SignAndEncrypt and sends a
few hundred malformed requests, drawn from a seeded generator so that a failure can be
replayed: every method of the cell with wrong argument counts and types (numbers, NaN,
byte strings, arrays, nulls), strings up to a megabyte (CJK, NUL bytes, format and SQL
fragments), unknown method and object ids, and writes of any value to every variable.
A request over the configured size (``opcua.max_request_bytes``) is refused by the
transport before it is parsed. Afterwards the cell is where it was (Idle, production mode,
no fault, no part, nothing commanded), the server still answers, and the audit kept each
command bounded.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest
from asyncua import ua
from asyncua.ua.ua_binary import variant_to_binary

from cellctl.cell.packml import Mode, State
from cellctl.config.models import OpcUaSettings
from cellctl.plant.opcua.client import cell_namespace, read_cell
from cellctl.plant.opcua.nodes import METHODS, OBJECT, STATE_COMMANDS, VARIABLES
from cellctl.plant.opcua.server import AUDIT_DETAIL_CHARS
from tests.opcua_rig import cell_with_opcua, client_as

pytestmark = pytest.mark.slow

SEED = 1904
REQUESTS = 300
MAX_REQUEST_BYTES = OpcUaSettings.model_fields["max_request_bytes"].default  # the rig's
MODES = {mode.value for mode in Mode}


def _text(rng: random.Random) -> str:
    kind = rng.randrange(7)
    if kind == 0:
        return ""
    if kind == 1:
        return "焊缝" * rng.randrange(1, 300_000)  # up to 1.2 MB of UTF-8
    if kind == 2:
        return "A" * rng.choice((1_000, 65_536, 1_000_000))
    if kind == 3:
        return "\x00F131\x00" + "\ud7ff" * rng.randrange(10)
    if kind == 4:
        return rng.choice(("%s%n%x{0}{}", "'; DROP TABLE parts;--", "../../etc/passwd", "F1" * 99))
    if kind == 5:
        return "".join(chr(rng.randrange(32, 0xD7FF)) for _ in range(rng.randrange(1, 200)))
    return rng.choice(("production ", " dry_run", "PRODUCTION", "F999", "F100 F101"))


def _variant(rng: random.Random) -> ua.Variant:
    kind = rng.randrange(9)
    if kind == 0:
        return ua.Variant(_text(rng), ua.VariantType.String)
    if kind == 1:
        return ua.Variant(rng.randrange(-(2**31), 2**31), ua.VariantType.Int32)
    if kind == 2:
        return ua.Variant(
            rng.choice((float("nan"), float("inf"), -0.0, 1e308)), ua.VariantType.Double
        )
    if kind == 3:
        return ua.Variant(rng.randbytes(rng.choice((0, 16, 300_000))), ua.VariantType.ByteString)
    if kind == 4:
        return ua.Variant(None, ua.VariantType.Null)
    if kind == 5:
        return ua.Variant(
            [_text(rng)[:100] for _ in range(rng.randrange(0, 50))], ua.VariantType.String
        )
    if kind == 6:
        return ua.Variant(rng.random() < 0.5, ua.VariantType.Boolean)
    if kind == 7:
        return ua.Variant(datetime(1601, 1, 1, tzinfo=UTC), ua.VariantType.DateTime)
    return ua.Variant(rng.randrange(2**64), ua.VariantType.UInt64)


def _malformed_arguments(rng: random.Random, method: str) -> list[ua.Variant]:
    """Arguments that make no valid call of ``method`` (so the cell must refuse it)."""
    while True:
        arguments = [_variant(rng) for _ in range(rng.choice((0, 1, 1, 2, 5, 200)))]
        values = [a.Value for a in arguments]
        if method in STATE_COMMANDS and not arguments:
            continue  # a valid command, not malformed
        if method == "SetMode" and len(values) == 1 and str(values[0]).strip() in MODES:
            continue
        return arguments


async def _call(client, namespace: int, object_id: str, method_id: str, arguments) -> str:
    request = ua.CallMethodRequest()
    request.ObjectId = ua.NodeId(object_id, namespace)
    request.MethodId = ua.NodeId(method_id, namespace)
    request.InputArguments = arguments
    (result,) = await client.uaclient.call([request])
    return result.StatusCode.name


async def test_a_fuzzed_session_changes_nothing_and_crashes_nothing(tmp_path):
    rng = random.Random(SEED)
    methods = [m for m in METHODS if m != "WhoAmI"]
    async with cell_with_opcua(tmp_path) as (rig, server):
        await rig.to_idle()
        before = rig.controller.view()
        calls: list[tuple[str, str]] = []
        refused_writes = 0
        too_large = 0
        async with client_as(server.endpoint, "erik") as engineer:
            ns = await cell_namespace(engineer)
            for _ in range(REQUESTS):
                kind = rng.random()
                if kind < 0.7:
                    method = rng.choice(methods)
                    target = (OBJECT, f"{OBJECT}.{method}")
                    arguments = _malformed_arguments(rng, method)
                elif kind < 0.8:
                    method = "unknown"
                    target = (
                        rng.choice((OBJECT, "Nowhere", "")),
                        rng.choice((f"{OBJECT}.Explode", "Cell", _text(rng)[:5000])),
                    )
                    arguments = [_variant(rng)]
                else:
                    method, target = "", (rng.choice(VARIABLES).path, "")
                    arguments = [_variant(rng)]
                try:
                    if method:
                        calls.append((method, await _call(engineer, ns, *target, arguments)))
                    else:
                        node = engineer.get_node(ua.NodeId(f"{OBJECT}.{target[0]}", ns))
                        try:
                            await node.write_value(arguments[0])
                        except ua.UaStatusCodeError as refused:
                            if isinstance(refused, ua.uaerrors.BadRequestTooLarge):
                                raise
                            refused_writes += 1
                except (ua.uaerrors.BadRequestTooLarge, ConnectionError):
                    # Past opcua.max_request_bytes: refused by the transport, before any of it
                    # is parsed, and the channel closed; the next requests go on a new session.
                    size = sum(len(variant_to_binary(v)) for v in arguments)
                    assert size > MAX_REQUEST_BYTES // 2, f"a {size}-byte request lost the session"
                    too_large += 1
                    await engineer.disconnect()
                    await engineer.connect()
                    ns = await cell_namespace(engineer)

            # The server still answers, and says the cell is where it was.
            cell = await read_cell(engineer, ns)
            faults = [f.describe() for f in rig.controller.faults.active]
            assert cell["State"] == "Idle", (faults, calls[-5:])
            assert cell["Mode"] == "production"

        assert rig.state is State.IDLE
        after = rig.controller.view()
        assert after.mode is before.mode
        assert not after.cycle_running
        assert after.part_id == before.part_id
        assert not after.faults, [f.describe() for f in after.faults]
        assert not rig.controller.faults.active

        # Every malformed call was refused; the cell's code was not reached by a crash.
        statuses = {status for _, status in calls}
        assert "BadInternalError" not in statuses, calls
        assert all(status != "Good" for method, status in calls if method != "AcknowledgeFault")
        assert refused_writes > 0
        assert too_large > 0
        assert len(calls) > REQUESTS // 2

        # The audit has a bounded row for each command that reached the cell.
        rows = [r for r in await rig.controller.store.audit_rows() if r["actor"] == "opcua:erik"]
        assert rows, "no command reached the cell's audit"
        assert all(len(r["detail"]) <= AUDIT_DETAIL_CHARS for r in rows)
        assert all(
            r["result"].startswith("refused") or r["action"] == "AcknowledgeFault" for r in rows
        )
