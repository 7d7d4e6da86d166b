"""Sparkplug B publishing against a real Mosquitto broker, read back by a paho subscriber.

The broker is the Debian package's, started by the test on a free loopback port
(tests/plant_servers.py). The payload codec is checked against Google's protobuf runtime
reading the same bytes with a descriptor built from the Sparkplug B field numbers.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from cellctl.cell.events import CellStatus
from cellctl.config.models import SparkplugSettings
from cellctl.plant.sparkplug.codec import (
    DataType,
    Metric,
    Payload,
    PayloadError,
    decode_payload,
    encode_payload,
)
from cellctl.plant.sparkplug.node import REBIRTH, SparkplugEdgeNode, release_client
from rigs.cell import running_cell, write_config
from rigs.plant_servers import MosquittoBroker
from sim.scenario.rig import ControllerProcess
from tests.production_run import recover

GROUP = "plant-test"


@pytest.fixture
def broker(tmp_path):
    server = MosquittoBroker(tmp_path)
    yield server
    server.stop()


class Subscriber:
    """A plant-side client: every Sparkplug message of the group, decoded, in arrival order."""

    def __init__(self, port: int) -> None:
        self.messages: list[tuple[str, Payload]] = []
        self._lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="plant-host")
        # Back quickly after a broker restart, before the edge node (which waits longer).
        self.client.reconnect_delay_set(0.02, 0.1)
        self.client.on_connect = lambda c, *_: c.subscribe(f"spBv1.0/{GROUP}/#", qos=1)
        self.client.on_message = self._on_message
        self.connected = threading.Event()
        self.client.on_subscribe = lambda *_: self.connected.set()
        self.client.connect("127.0.0.1", port, keepalive=5)
        self.client.loop_start()
        assert self.connected.wait(5), "subscriber did not connect"

    def _on_message(self, client, userdata, message) -> None:
        with self._lock:
            self.messages.append((message.topic, decode_payload(message.payload)))

    def of(self, kind: str) -> list[tuple[str, Payload]]:
        with self._lock:
            return [(t, p) for t, p in self.messages if t.split("/")[2] == kind]

    def snapshot(self) -> list[tuple[str, Payload]]:
        with self._lock:
            return list(self.messages)

    def command(self, node: str, metrics: list[Metric]) -> None:
        payload = encode_payload(Payload(int(time.time() * 1000), metrics))
        self.client.publish(f"spBv1.0/{GROUP}/NCMD/{node}", payload, qos=1).wait_for_publish(5)

    async def until(self, condition: Callable[[], bool], what: str, timeout_s: float = 20) -> None:
        deadline = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() > deadline:
                seen = [(t, p.seq) for t, p in self.snapshot()[-15:]]
                pytest.fail(f"timed out waiting for {what}; last messages: {seen}")
            await asyncio.sleep(0.02)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
        release_client(self.client)


@pytest.fixture
def subscriber(broker):
    client = Subscriber(broker.port)
    yield client
    client.close()


def session_seqs(messages: list[tuple[str, Payload]]) -> list[list[int]]:
    """The seq numbers of each session (an NBIRTH starts one), NDEATH excluded."""
    sessions: list[list[int]] = []
    for topic, payload in messages:
        kind = topic.split("/")[2]
        if kind == "NBIRTH":
            sessions.append([])
        if kind in ("NDEATH", "NCMD", "DCMD") or not sessions:
            continue
        sessions[-1].append(payload.seq)
    return sessions


def assert_consecutive(seqs: list[int]) -> None:
    assert seqs[0] == 0
    for before, after in itertools.pairwise(seqs):
        assert after == (before + 1) % 256, f"seq {before} followed by {after}"


def sparkplug_section(port: int, **extra) -> Callable[[dict], None]:
    def edit(cell: dict) -> None:
        cell["sparkplug"] = {
            "enabled": True,
            "broker_port": port,
            "group_id": GROUP,
            "keepalive_s": 5,
            **extra,
        }

    return edit


# -- the codec ---------------------------------------------------------------------------------


def _google_payload_class():
    """Google protobuf's reading of sparkplug_b.proto's Payload/Metric (the fields we use)."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    f = descriptor_pb2.FieldDescriptorProto
    file = descriptor_pb2.FileDescriptorProto(name="spb_test.proto", package="spbtest")
    payload = file.message_type.add(name="Payload")
    metric = payload.nested_type.add(name="Metric")
    for name, number, kind in [
        ("name", 1, f.TYPE_STRING), ("alias", 2, f.TYPE_UINT64), ("timestamp", 3, f.TYPE_UINT64),
        ("datatype", 4, f.TYPE_UINT32), ("is_null", 7, f.TYPE_BOOL),
        ("int_value", 10, f.TYPE_UINT32), ("long_value", 11, f.TYPE_UINT64),
        ("float_value", 12, f.TYPE_FLOAT), ("double_value", 13, f.TYPE_DOUBLE),
        ("boolean_value", 14, f.TYPE_BOOL), ("string_value", 15, f.TYPE_STRING),
    ]:  # fmt: skip
        metric.field.add(name=name, number=number, type=kind, label=f.LABEL_OPTIONAL)
    payload.field.add(name="timestamp", number=1, type=f.TYPE_UINT64, label=f.LABEL_OPTIONAL)
    payload.field.add(
        name="metrics", number=2, type=f.TYPE_MESSAGE, label=f.LABEL_REPEATED,
        type_name=".spbtest.Payload.Metric",
    )  # fmt: skip
    payload.field.add(name="seq", number=3, type=f.TYPE_UINT64, label=f.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("spbtest.Payload"))


def test_payloads_read_the_same_in_googles_protobuf_and_back():
    metrics = [
        Metric("bdSeq", DataType.UINT64, 255),
        Metric("Counters/Parts Good", DataType.UINT64, 2**40),
        Metric("Offset", DataType.INT32, -5),
        Metric("Big negative", DataType.INT64, -(2**40)),
        Metric("Seam/Heat Input kJ per mm", DataType.DOUBLE, 0.6321),
        Metric("Gain", DataType.FLOAT, 0.5),
        Metric("Node Control/Rebirth", DataType.BOOLEAN, True),
        Metric("Cell/State", DataType.STRING, "Execute — seam 2"),
        Metric("Part/Verdict", DataType.STRING, None),
    ]
    data = encode_payload(Payload(1_700_000_000_123, metrics, seq=7))
    google = _google_payload_class().FromString(data)
    assert (google.timestamp, google.seq) == (1_700_000_000_123, 7)
    read = {m.name: m for m in google.metrics}
    assert read["bdSeq"].long_value == 255
    assert read["Offset"].int_value == 2**32 - 5  # int32 travels as its uint32 bit pattern
    assert read["Big negative"].long_value == 2**64 - 2**40
    assert read["Seam/Heat Input kJ per mm"].double_value == 0.6321
    assert read["Node Control/Rebirth"].boolean_value is True
    assert read["Cell/State"].string_value == "Execute — seam 2"
    assert read["Part/Verdict"].is_null is True
    assert read["Cell/State"].datatype == DataType.STRING

    back = decode_payload(data)
    assert back.seq == 7
    assert back.metrics == metrics
    # ... and what Google writes, we read.
    assert decode_payload(google.SerializeToString()).metrics == metrics


def test_bad_payloads_and_values_are_refused_with_the_metric_named():
    with pytest.raises(PayloadError, match="metric Count: 256 is not a UINT8"):
        encode_payload(Payload(0, [Metric("Count", DataType.UINT8, 256)]))
    with pytest.raises(PayloadError, match="truncated varint"):
        decode_payload(b"\x08\xff")
    with pytest.raises(PayloadError, match="wire type 3"):
        decode_payload(b"\x0b")


# -- the edge node on its own -----------------------------------------------------------------


def status(**changes) -> CellStatus:
    values = dict(
        cell="cell-01", state="Stopped", mode="production", config_digest="ab" * 32,
        parts_processed=3, parts_good=2, parts_bad=1, parts_incomplete=0, seams_welded=6,
    )  # fmt: skip
    values.update(changes)
    return CellStatus(**values)


async def test_births_data_seq_wrap_and_a_clean_death(broker, subscriber):
    node = SparkplugEdgeNode(
        SparkplugSettings(enabled=True, broker_port=broker.port, group_id=GROUP), "cell-01"
    )
    await node.start(status())
    try:
        await subscriber.until(lambda: subscriber.of("NBIRTH"), "NBIRTH")
        node.link_changed("plc", True)
        node.link_changed("robot", True)
        for n in range(300):  # more than 256 messages: seq wraps
            node.state_changed("Idle", "Starting" if n % 2 else "Idle", "test", "production")
        node.link_changed("robot", False)
        await subscriber.until(lambda: subscriber.of("DDEATH"), "DDEATH of the robot")
    finally:
        await node.stop()
    await subscriber.until(lambda: subscriber.of("NDEATH"), "NDEATH on a clean stop")

    messages = subscriber.snapshot()
    kinds = [t.split("/")[2] for t, _ in messages]
    assert kinds[0] == "NBIRTH"
    assert kinds[1:3] == ["DBIRTH", "DBIRTH"]
    assert kinds[-2:] == ["DDEATH", "NDEATH"]
    assert kinds.count("NDATA") == 300
    [seqs] = session_seqs(messages)
    assert_consecutive(seqs)
    assert len(seqs) == 1 + 2 + 300 + 1
    birth = subscriber.of("NBIRTH")[0][1]
    death = subscriber.of("NDEATH")[0][1]
    assert birth.values()["bdSeq"] == death.values()["bdSeq"] == 0
    assert death.seq is None
    assert birth.values()["Counters/Parts Processed"] == 3
    assert birth.values()[REBIRTH] is False
    assert birth.metric("Part/Verdict").value is None  # no part yet: null, typed
    dbirth_topics = [t for t, _ in subscriber.of("DBIRTH")]
    assert dbirth_topics == [
        f"spBv1.0/{GROUP}/DBIRTH/cell-01/plc",
        f"spBv1.0/{GROUP}/DBIRTH/cell-01/robot",
    ]


async def test_a_restarted_node_takes_the_next_bdseq(broker, subscriber, tmp_path):
    """The bdSeq survives a restart: a will of the previous life that the broker publishes
    late can never be taken for the death of the new one."""
    kept = tmp_path / "var" / "sparkplug_bdseq"
    settings = SparkplugSettings(enabled=True, broker_port=broker.port, group_id=GROUP)
    for life in range(3):
        node = SparkplugEdgeNode(settings, "cell-01", kept)
        await node.start(status())
        try:
            await subscriber.until(lambda n=life: len(subscriber.of("NBIRTH")) > n, "NBIRTH")
        finally:
            await node.stop()
    assert [p.values()["bdSeq"] for _, p in subscriber.of("NBIRTH")] == [0, 1, 2]
    assert kept.read_text() == "2\n"
    kept.write_text("not a number")
    node = SparkplugEdgeNode(settings, "cell-01", kept)
    await node.start(status())
    await node.stop()
    assert node.bdseq == 0
    kept.write_text("255")
    node = SparkplugEdgeNode(settings, "cell-01", kept)
    await node.start(status())
    await node.stop()
    assert node.bdseq == 0  # wraps


async def test_a_broker_that_is_down_at_start_is_waited_for(broker, tmp_path):
    broker.stop()
    node = SparkplugEdgeNode(
        SparkplugSettings(
            enabled=True, broker_port=broker.port, group_id=GROUP, reconnect_delay_min_ms=50,
            reconnect_delay_max_ms=100,
        ),
        "cell-01",
    )  # fmt: skip
    await node.start(status())
    try:
        node.state_changed("Stopped", "Resetting", "reset", "production")  # while offline
        broker.start()
        subscriber = Subscriber(broker.port)
        try:
            await subscriber.until(lambda: subscriber.of("NBIRTH"), "NBIRTH once the broker is up")
            birth = subscriber.of("NBIRTH")[-1][1]
            assert birth.values()["Cell/State"] == "Resetting"  # the state of now
        finally:
            subscriber.close()
    finally:
        await node.stop()


# -- the controller ---------------------------------------------------------------------------


@pytest.mark.slow
async def test_the_running_cell_publishes_its_life_rebirths_and_survives_a_broker_restart(
    tmp_path, broker, subscriber
):
    edit = sparkplug_section(broker.port, reconnect_delay_min_ms=1000, reconnect_delay_max_ms=2000)
    async with running_cell(tmp_path, edit=edit) as rig:
        node = f"spBv1.0/{GROUP}/%s/cell-01"
        await subscriber.until(lambda: len(subscriber.of("DBIRTH")) >= 3, "DBIRTH of every link")
        await rig.to_idle()
        part = await rig.weld_part()
        assert part["verdict"] == "good"
        await subscriber.until(
            lambda: any(
                p.values().get("Counters/Parts Processed") == 1 for _, p in subscriber.of("NDATA")
            ),
            "the part counted",
        )
        ndata = [p.values() for _, p in subscriber.of("NDATA")]
        states = [v["Cell/State"] for v in ndata if "Cell/State" in v]
        assert states[:3] == ["Resetting", "Idle", "Starting"]
        assert "Execute" in states
        assert "Completing" in states
        seams = [v for v in ndata if "Seam/Name" in v]
        assert [s["Seam/Name"] for s in seams] == ["gusset-left", "gusset-right"]
        assert all(s["Seam/Verdict"] == "good" for s in seams)
        assert all(0.1 < s["Seam/Heat Input kJ per mm"] < 3 for s in seams)
        done = next(v for v in ndata if v.get("Part/Status") == "complete")
        assert (done["Part/Id"], done["Part/Verdict"]) == (part["id"], "good")
        ddata = [(t, p.values()) for t, p in subscriber.of("DDATA")]
        power = [v for t, v in ddata if t.endswith("/power_source")]
        assert len(power) == 2
        assert all(190 < v["Seam/Mean Current A"] < 250 for v in power)

        # A fault: raised, its reaction time, cleared after the operator's reset.
        rig.sim.power_source.inject("error:106")  # overheated
        await subscriber.until(
            lambda: any(
                p.values().get("Faults/Last Reaction ms") is not None
                for _, p in subscriber.of("NDATA")
            ),
            "the fault's reaction time",
        )
        rig.sim.power_source.clear_faults()
        await recover(rig)

        def fault_counts() -> list[int]:
            return [
                p.values()["Faults/Active Count"]
                for _, p in subscriber.of("NDATA")
                if "Faults/Active Count" in p.values()
            ]

        await subscriber.until(lambda: fault_counts()[-1:] == [0], "the fault cleared")
        faults = [
            p.values() for _, p in subscriber.of("NDATA") if "Faults/Active Count" in p.values()
        ]
        assert faults[0]["Faults/Active Codes"] == "F122"
        assert faults[0]["Faults/Last Code"] == "F122"
        assert faults[0]["Faults/Raised Total"] == 1
        assert faults[-1]["Faults/Active Count"] == 0
        reaction = [
            p.values()["Faults/Last Reaction ms"]
            for _, p in subscriber.of("NDATA")
            if p.values().get("Faults/Last Reaction ms") is not None
        ]
        assert 0 < reaction[0] < 5_000

        # The plant host asks for a rebirth: NBIRTH (same bdSeq, seq 0, values of now) + DBIRTHs.
        births_before = len(subscriber.of("NBIRTH"))
        subscriber.command("cell-01", [Metric(REBIRTH, DataType.BOOLEAN, True)])
        await subscriber.until(
            lambda: (
                len(subscriber.of("NBIRTH")) == births_before + 1
                and len(subscriber.of("DBIRTH")) >= 6
            ),
            "the rebirth",
        )
        rebirth = subscriber.of("NBIRTH")[-1][1].values()
        assert rebirth["bdSeq"] == 0
        assert rebirth["Counters/Parts Processed"] == 1
        assert rebirth["Cell/State"] == "Idle"

        # The broker restarts: the node reconnects with the next bdSeq and its state intact.
        broker.stop()
        broker.start()
        await subscriber.until(
            lambda: len(subscriber.of("NBIRTH")) == births_before + 2, "NBIRTH after the restart"
        )
        after = subscriber.of("NBIRTH")[-1][1].values()
        assert after["bdSeq"] == 1
        assert (after["Counters/Parts Processed"], after["Counters/Parts Good"]) == (1, 1)
        assert after["Part/Verdict"] == "good"
        await subscriber.until(lambda: len(subscriber.of("DBIRTH")) >= 9, "DBIRTHs again")
        assert node % "NBIRTH" == subscriber.of("NBIRTH")[-1][0]

    for seqs in session_seqs(subscriber.snapshot()):
        assert_consecutive(seqs)
    # On shutdown the controller says goodbye with the NDEATH of its current bdSeq.
    await subscriber.until(lambda: subscriber.of("NDEATH"), "NDEATH at shutdown")
    assert subscriber.of("NDEATH")[-1][1].values()["bdSeq"] == 1


@pytest.mark.slow
async def test_kill_9_of_the_controller_publishes_its_will(tmp_path, broker, subscriber):
    config = write_config(tmp_path, sparkplug_section(broker.port))
    log = tmp_path / "controller.log"
    controller = ControllerProcess(config, log)
    controller.start()
    try:
        await subscriber.until(lambda: subscriber.of("NBIRTH"), "NBIRTH of the controller")
        await controller.kill()
        await subscriber.until(lambda: subscriber.of("NDEATH"), "the will (NDEATH)")
    finally:
        await controller.stop()
    birth = subscriber.of("NBIRTH")[-1][1].values()
    [(topic, death)] = subscriber.of("NDEATH")
    assert topic == f"spBv1.0/{GROUP}/NDEATH/cell-01"
    assert death.values() == {"bdSeq": birth["bdSeq"]}
    assert death.seq is None
    assert "Traceback" not in read_text(log)

    # The controller started again: its first NBIRTH carries the next bdSeq.
    controller.start()
    try:
        await subscriber.until(lambda: len(subscriber.of("NBIRTH")) == 2, "the new life's NBIRTH")
    finally:
        await controller.stop()
    assert subscriber.of("NBIRTH")[-1][1].values()["bdSeq"] == (birth["bdSeq"] + 1) % 256
    await subscriber.until(lambda: len(subscriber.of("NDEATH")) == 2, "the goodbye NDEATH")


def read_text(path: Path) -> str:
    return path.read_text()


# -- MQTT over TLS ---------------------------------------------------------------------------


def _pki(folder: Path, name: str) -> dict[str, Path]:
    """A CA (``name``) with a broker certificate for 127.0.0.1 and a client certificate, PEM."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    files: dict[str, Path] = {}

    def issue(subject: str, key, issuer: x509.Name, signer, ca: bool, san=None):
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if san is not None:
            builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
        return builder.sign(signer, hashes.SHA256())

    def write(stem: str, cert, key) -> None:
        files[f"{stem}_cert"] = folder / f"{name}-{stem}.pem"
        files[f"{stem}_key"] = folder / f"{name}-{stem}.key"
        files[f"{stem}_cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        files[f"{stem}_key"].write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name} CA")])
    ca = issue(f"{name} CA", ca_key, ca_name, ca_key, ca=True)
    write("ca", ca, ca_key)
    broker_key = ec.generate_private_key(ec.SECP256R1())
    san = [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    write("broker", issue("broker", broker_key, ca_name, ca_key, False, san), broker_key)
    client_key = ec.generate_private_key(ec.SECP256R1())
    write("client", issue("cell-01", client_key, ca_name, ca_key, False), client_key)
    return files


# paho 2.1 drops the TLS socket of a failed connection without closing it (the garbage collector
# does, with a ResourceWarning): a refused node's retries are what this test is about.
@pytest.mark.filterwarnings(
    "ignore:Exception ignored in. <ssl.SSLSocket:pytest.PytestUnraisableExceptionWarning"
)
async def test_mqtt_over_tls_with_a_client_certificate_and_refused_without_trust(tmp_path):
    """Issue 19: the edge node talks to a real Mosquitto over TLS (CA, client certificate):
    its birth arrives; trusting another CA, or without a client certificate, it gets no
    connection (counted and logged) and publishes nothing."""
    from cellctl.plant.sparkplug.node import TlsFiles

    plant = _pki(tmp_path, "plant")
    other = _pki(tmp_path, "other")
    tls = {"cafile": plant["ca_cert"], "certfile": plant["broker_cert"],
           "keyfile": plant["broker_key"]}  # fmt: skip
    server = MosquittoBroker(tmp_path, tls=tls)
    subscriber = Subscriber(server.port)  # on the plain listener: the plant's side
    try:
        subscriber.connected.wait(10)
        settings = SparkplugSettings(
            enabled=True, broker_port=server.tls_port, group_id=GROUP, edge_node_id="tls-good",
            reconnect_delay_min_ms=50, reconnect_delay_max_ms=200,
            tls_ca_file=str(plant["ca_cert"]), tls_certificate=str(plant["client_cert"]),
            tls_private_key=str(plant["client_key"]),
        )  # fmt: skip
        wrong = [
            ("tls-wrong-ca", TlsFiles(other["ca_cert"], plant["client_cert"], plant["client_key"])),
            ("tls-no-client-cert", TlsFiles(plant["ca_cert"])),
        ]
        nodes = [
            SparkplugEdgeNode(
                settings, "cell-01", tmp_path / "bdseq-good", TlsFiles(
                    plant["ca_cert"], plant["client_cert"], plant["client_key"]
                )
            )
        ] + [
            SparkplugEdgeNode(
                settings.model_copy(update={"edge_node_id": name}), "cell-01",
                tmp_path / f"bdseq-{name}", files,
            )
            for name, files in wrong
        ]  # fmt: skip
        for node in nodes:
            await node.start(status())
        try:
            await _until(lambda: nodes[0].online, "the node online over TLS")
            await _until(
                lambda: any(t.endswith("NBIRTH/tls-good") for t, _ in subscriber.messages),
                "its NBIRTH at the plant",
            )
            # The wrong CA fails the handshake at the node; the missing client certificate is
            # refused by the broker (after the handshake, in TLS 1.3): a link lost each time.
            await _until(
                lambda: all(n.connect_failures + n.links_lost >= 2 for n in nodes[1:]),
                "the untrusted connections to fail (twice each)",
            )
            assert nodes[1].connect_failures >= 1
            assert not any(n.online for n in nodes[1:])
            assert not [t for t, _ in subscriber.messages if "tls-wrong" in t or "tls-no" in t]
            assert nodes[0].connect_failures == 0
        finally:
            for node in nodes:
                await node.stop()
    finally:
        subscriber.close()
        server.stop()


async def _until(condition: Callable[[], bool], what: str, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)
