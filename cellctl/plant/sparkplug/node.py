"""The cell as a Sparkplug B edge node on the plant's MQTT broker.

Topics are ``spBv1.0/<group>/<TYPE>/<edge node>[/<device>]``. The node's session follows the
Sparkplug 3.0 rules:

- the MQTT will is the NDEATH, carrying ``bdSeq``; the NBIRTH that follows the CONNECT carries
  the same ``bdSeq``, so a host can tell which death ends which life. Each new CONNECT (a
  reconnect after a lost link or a broker restart) takes the next ``bdSeq`` (0..255, wrapping),
  and so does a restarted controller: the last one is kept in a file, because after a power
  loss the broker publishes the old life's will only when its keepalive runs out, perhaps after
  the new life's NBIRTH, and a host must not take that will for the new life's death;
- NBIRTH has ``seq`` 0; every later message of the session (DBIRTH, NDATA, DDATA, DDEATH) the
  next ``seq``, 0..255, wrapping; NDEATH has none;
- NCMD ``Node Control/Rebirth`` = true republishes NBIRTH and every DBIRTH with the values of
  now (same ``bdSeq``, ``seq`` from 0);
- the cell's devices (``plc``, ``power_source``, ``robot``, ``sensor``) are born (DBIRTH) when
  their link comes up and die (DDEATH) when it goes down.

What is published: the PackML state and mode, the production counters, the current part and the
last part's result, the last seam's result (verdict, heat input, arc time, means), and the
faults (active codes, the last raised with its reaction time). The node keeps the current value
of every metric, so a birth after a reconnect describes the cell as it is now, counters
included: nothing is lost while the broker is away (values between are not replayed; the
records are in the production store).

Threads: paho-mqtt's network thread runs the connection and calls back for connects and
commands; the controller calls the ``CellListener`` methods on its event loop. One lock keeps the
metric table, ``seq`` and the order of births and data consistent between the two. A publish
never blocks the controller: paho queues it for its network thread.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from cellctl.cell.events import CellListener, CellStatus
from cellctl.cell.faults import Fault
from cellctl.cell.records import SeamSummary
from cellctl.config.models import SparkplugSettings
from cellctl.plant.sparkplug.codec import (
    DataType,
    Metric,
    Payload,
    Value,
    decode_payload,
    encode_payload,
)

log = logging.getLogger(__name__)

NAMESPACE = "spBv1.0"
REBIRTH = "Node Control/Rebirth"
BDSEQ = "bdSeq"
D = DataType

# The node's metrics and their datatypes; the order is the NBIRTH's.
NODE_METRICS: dict[str, DataType] = {
    "Cell/State": D.STRING,
    "Cell/Mode": D.STRING,
    "Cell/Config Digest": D.STRING,
    "Counters/Parts Processed": D.UINT64,
    "Counters/Parts Good": D.UINT64,
    "Counters/Parts Bad": D.UINT64,
    "Counters/Parts Incomplete": D.UINT64,
    "Counters/Seams Welded": D.UINT64,
    "Part/Id": D.UINT64,
    "Part/Program": D.STRING,
    "Part/Status": D.STRING,
    "Part/Verdict": D.STRING,
    "Part/Cycle Time s": D.DOUBLE,
    "Part/Arc Time s": D.DOUBLE,
    "Seam/Part Id": D.UINT64,
    "Seam/Name": D.STRING,
    "Seam/Procedure": D.STRING,
    "Seam/Verdict": D.STRING,
    "Seam/Arc Time s": D.DOUBLE,
    "Seam/Heat Input kJ per mm": D.DOUBLE,
    "Seam/Arc Energy kJ": D.DOUBLE,
    "Seam/Out Of Band s": D.DOUBLE,
    "Seam/Arc Breaks": D.UINT32,
    "Faults/Active Count": D.UINT32,
    "Faults/Active Codes": D.STRING,
    "Faults/Raised Total": D.UINT64,
    "Faults/Last Code": D.STRING,
    "Faults/Last Severity": D.STRING,
    "Faults/Last Text": D.STRING,
    "Faults/Last Reaction ms": D.DOUBLE,
}
DEVICE_METRICS: dict[str, DataType] = {"Link/Up": D.BOOLEAN, "Link/Drops": D.UINT64}
# What the power source's own device reports of each seam (its actuals, measured by us).
POWER_SOURCE_METRICS: dict[str, DataType] = {
    "Seam/Mean Current A": D.DOUBLE,
    "Seam/Mean Voltage V": D.DOUBLE,
    "Seam/Mean Wire Feed m per min": D.DOUBLE,
}


def release_client(client: mqtt.Client) -> None:
    """Close what paho-mqtt 2.2 keeps open after ``loop_stop``: the socket pair that wakes its
    network thread stays open until the client is garbage collected, a leak per reconnect
    of a long-running controller (private API; paho is pinned to its minor version)."""
    client._reset_sockets()


def no_delay(client: mqtt.Client) -> None:
    """Send each MQTT packet at once: paho-mqtt leaves Nagle's algorithm on, which holds a
    birth that follows another small packet until the broker's delayed ACK (~40 ms)."""
    sock = client.socket()
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class Published:
    """What the node has sent this process, for the bench and the logs."""

    births: int = 0
    data: int = 0
    deaths: int = 0
    dropped: int = 0  # data while offline or refused by paho (the next birth carries it)


@dataclass(frozen=True)
class TlsFiles:
    """MQTT over TLS: the CA the broker's certificate must chain to; a client certificate and
    key if the broker asks for one."""

    ca_file: Path
    certificate: Path | None = None
    private_key: Path | None = None


class SparkplugEdgeNode(CellListener):
    """The cell's Sparkplug B edge node. ``start`` connects in the background and returns at
    once: a broker that is down delays nothing in the cell."""

    def __init__(
        self,
        settings: SparkplugSettings,
        cell_name: str,
        bdseq_file: Path | None = None,
        tls: TlsFiles | None = None,
    ) -> None:
        """``tls``: the settings' TLS files, resolved (None: plain MQTT)."""
        self.settings = settings
        self.bdseq_file = bdseq_file
        self.tls = tls
        self.connect_failures = 0  # TCP or TLS connections that failed (a broker down, a bad cert)
        self.links_lost = 0  # connections closed by the broker or the network (not by stop)
        self.group_id = settings.group_id
        self.edge_node_id = settings.edge_node_id or cell_name
        self.client_id = settings.client_id or f"cellctl-{self.group_id}-{self.edge_node_id}"
        self.published = Published()
        self._lock = threading.RLock()
        self._node: dict[str, Value] = dict.fromkeys(NODE_METRICS)
        self._devices: dict[str, dict[str, Value]] = {}
        for device in settings.devices:
            metrics = {
                **DEVICE_METRICS,
                **(POWER_SOURCE_METRICS if device == "power_source" else {}),
            }
            self._devices[device] = dict.fromkeys(metrics)
            self._devices[device]["Link/Up"] = False
            self._devices[device]["Link/Drops"] = 0
        self._born_devices: set[str] = set()
        self._active_faults: dict[int, Fault] = {}
        self._bdseq = 0
        self._seq = 0
        self._online = False
        self._stopping = False
        self._client: mqtt.Client | None = None

    # -- topics ---------------------------------------------------------------------------

    def topic(self, kind: str, device: str | None = None) -> str:
        base = f"{NAMESPACE}/{self.group_id}/{kind}/{self.edge_node_id}"
        return f"{base}/{device}" if device else base

    @property
    def bdseq(self) -> int:
        return self._bdseq

    @property
    def online(self) -> bool:
        return self._online

    # -- life cycle -----------------------------------------------------------------------

    async def start(self, status: CellStatus) -> None:
        if self.bdseq_file is not None:
            self._bdseq = (self._load_bdseq() + 1) % 256
            self._save_bdseq()
        with self._lock:
            self._node.update(
                {
                    "Cell/State": status.state,
                    "Cell/Mode": status.mode,
                    "Cell/Config Digest": status.config_digest,
                    "Counters/Parts Processed": status.parts_processed,
                    "Counters/Parts Good": status.parts_good,
                    "Counters/Parts Bad": status.parts_bad,
                    "Counters/Parts Incomplete": status.parts_incomplete,
                    "Counters/Seams Welded": status.seams_welded,
                    "Faults/Active Count": 0,
                    "Faults/Active Codes": "",
                    "Faults/Raised Total": 0,
                }
            )
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            clean_session=True,  # Sparkplug: every session starts clean
            protocol=mqtt.MQTTv311,
        )
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.reconnect_delay_set(
            self.settings.reconnect_delay_min_ms / 1000,
            max(self.settings.reconnect_delay_min_ms, self.settings.reconnect_delay_max_ms) / 1000,
        )
        self._set_will(client)
        if self.tls is not None:
            # The broker's certificate must chain to the CA and name broker_host (paho's
            # defaults: CERT_REQUIRED, host name checked).
            client.tls_set(
                ca_certs=str(self.tls.ca_file),
                certfile=None if self.tls.certificate is None else str(self.tls.certificate),
                keyfile=None if self.tls.private_key is None else str(self.tls.private_key),
            )
        self._client = client
        client.connect_async(
            self.settings.broker_host, self.settings.broker_port, self.settings.keepalive_s
        )
        client.loop_start()

    async def stop(self) -> None:
        """Publish NDEATH (a clean goodbye, the same certificate the will would carry) and
        disconnect."""
        client = self._client
        if client is None:
            return
        with self._lock:
            self._stopping = True
            if self._online:
                info = client.publish(self.topic("NDEATH"), self._death_payload(), qos=1)
                self.published.deaths += 1
                self._online = False
            else:
                info = None
        if info is not None:
            try:
                info.wait_for_publish(timeout=2.0)
            except (RuntimeError, ValueError):
                pass  # the link went down meanwhile: the broker sends the will instead
        client.disconnect()
        client.loop_stop()
        release_client(client)
        self._client = None

    # -- bdSeq across restarts ----------------------------------------------------------------

    def _load_bdseq(self) -> int:
        """The last bdSeq used (-1 when there is none: the first life starts at 0)."""
        assert self.bdseq_file is not None
        try:
            text = self.bdseq_file.read_text().strip()
        except FileNotFoundError:
            return -1
        except OSError as error:
            log.warning("Sparkplug: %s unreadable (%s); bdSeq starts at 0", self.bdseq_file, error)
            return -1
        if not text.isdigit() or int(text) > 255:
            log.warning("Sparkplug: %s holds %r, not a bdSeq; starting at 0", self.bdseq_file, text)
            return -1
        return int(text)

    def _save_bdseq(self) -> None:
        """Keep the bdSeq of this connection, durably, before the CONNECT that carries it."""
        if self.bdseq_file is None:
            return
        try:
            self.bdseq_file.parent.mkdir(parents=True, exist_ok=True)
            temporary = self.bdseq_file.with_suffix(".tmp")
            with temporary.open("w") as handle:
                handle.write(f"{self._bdseq}\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.bdseq_file)
        except OSError as error:  # publishing goes on; a restart may then repeat a bdSeq
            log.warning("Sparkplug: bdSeq not kept in %s: %s", self.bdseq_file, error)

    # -- the MQTT session (paho's thread) ---------------------------------------------------

    def _death_payload(self) -> bytes:
        return encode_payload(
            Payload(now_ms(), [Metric(BDSEQ, D.UINT64, self._bdseq)])  # NDEATH: no seq
        )

    def _set_will(self, client: mqtt.Client) -> None:
        client.will_set(self.topic("NDEATH"), self._death_payload(), qos=1, retain=False)

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        if reason.is_failure:
            log.warning("Sparkplug: broker refused the connection: %s", reason)
            return
        no_delay(client)
        client.subscribe(self.topic("NCMD"), qos=1)
        client.subscribe(self.topic("DCMD", "+"), qos=1)
        self._publish_births(client)
        log.info("Sparkplug: online as %s, bdSeq %d", self.topic("NBIRTH"), self._bdseq)

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        self.connect_failures += 1
        if self.connect_failures == 1 or self.connect_failures % 100 == 0:
            log.warning(
                "Sparkplug: no connection to the broker at %s:%d%s (%d failed so far)",
                self.settings.broker_host,
                self.settings.broker_port,
                " over TLS" if self.tls is not None else "",
                self.connect_failures,
            )

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        with self._lock:
            self._online = False
            self._born_devices.clear()
            if self._stopping:
                return
            self.links_lost += 1
            # The broker has published (or will publish) the will of this bdSeq; the next
            # CONNECT carries the next one.
            self._bdseq = (self._bdseq + 1) % 256
            self._save_bdseq()
            self._set_will(client)
        log.warning("Sparkplug: broker link lost (%s); reconnecting", reason)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        if message.topic != self.topic("NCMD"):
            return  # device commands: the cell takes none from the plant
        try:
            command = decode_payload(message.payload)
        except ValueError as error:
            log.warning("Sparkplug: NCMD not understood: %s", error)
            return
        if any(m.name == REBIRTH and m.value is True for m in command.metrics):
            log.info("Sparkplug: rebirth requested")
            self._publish_births(client)

    def _publish_births(self, client: mqtt.Client) -> None:
        with self._lock:
            self._seq = 0
            stamp = now_ms()
            metrics = [
                Metric(BDSEQ, D.UINT64, self._bdseq),
                Metric(REBIRTH, D.BOOLEAN, False),
                *(Metric(n, NODE_METRICS[n], v, stamp) for n, v in self._node.items()),
            ]
            client.publish(self.topic("NBIRTH"), encode_payload(Payload(stamp, metrics, 0)), qos=0)
            self.published.births += 1
            self._online = True
            self._born_devices.clear()
            for device, values in self._devices.items():
                if values["Link/Up"]:
                    self._publish_device_birth(client, device)

    def _publish_device_birth(self, client: mqtt.Client, device: str) -> None:
        stamp = now_ms()
        metrics = [
            Metric(n, self._datatype(device, n), v, stamp) for n, v in self._devices[device].items()
        ]
        self._send(client, self.topic("DBIRTH", device), stamp, metrics)
        self.published.births += 1
        self._born_devices.add(device)

    def _send(self, client: mqtt.Client, topic: str, stamp: int, metrics: list[Metric]) -> None:
        """One message of the session with the next seq (call with the lock held)."""
        self._seq = (self._seq + 1) % 256
        info = client.publish(topic, encode_payload(Payload(stamp, metrics, self._seq)), qos=0)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            self.published.dropped += 1

    @staticmethod
    def _datatype(device: str, name: str) -> DataType:
        return DEVICE_METRICS.get(name) or POWER_SOURCE_METRICS[name]

    # -- what changes (the controller's thread) ---------------------------------------------

    def _update_node(self, changes: dict[str, Value]) -> None:
        with self._lock:
            self._node.update(changes)
            client = self._client
            if not self._online or client is None:
                self.published.dropped += 1
                return
            stamp = now_ms()
            metrics = [Metric(n, NODE_METRICS[n], v, stamp) for n, v in changes.items()]
            self._send(client, self.topic("NDATA"), stamp, metrics)
            self.published.data += 1

    def _update_device(self, device: str, changes: dict[str, Value]) -> None:
        with self._lock:
            values = self._devices.get(device)
            if values is None:
                return  # not a device of this node (config)
            values.update(changes)
            client = self._client
            if not self._online or client is None:
                self.published.dropped += 1
                return
            stamp = now_ms()
            if values["Link/Up"] and device not in self._born_devices:
                self._publish_device_birth(client, device)
            elif not values["Link/Up"] and device in self._born_devices:
                self._born_devices.discard(device)
                self._send(client, self.topic("DDEATH", device), stamp, [])
                self.published.deaths += 1
            elif device in self._born_devices:
                metrics = [
                    Metric(n, self._datatype(device, n), v, stamp) for n, v in changes.items()
                ]
                self._send(client, self.topic("DDATA", device), stamp, metrics)
                self.published.data += 1

    def state_changed(self, from_state: str, to_state: str, cause: str, mode: str) -> None:
        self._update_node({"Cell/State": to_state, "Cell/Mode": mode})

    def part_started(self, part_id: int, program: str) -> None:
        self._update_node(
            {
                "Part/Id": part_id,
                "Part/Program": program,
                "Part/Status": "in_progress",
                "Part/Verdict": None,
                "Part/Cycle Time s": None,
                "Part/Arc Time s": None,
            }
        )

    def part_done(self, part: dict[str, Any]) -> None:
        with self._lock:
            counters = {
                k: int(self._node[k] or 0) for k in NODE_METRICS if k.startswith("Counters/Parts")
            }
            if part["status"] == "incomplete":
                counters["Counters/Parts Incomplete"] += 1
            elif part["status"] == "complete" and part["mode"] == "production":
                counters["Counters/Parts Processed"] += 1
                if part["verdict"] == "good":
                    counters["Counters/Parts Good"] += 1
                elif part["verdict"] == "bad":
                    counters["Counters/Parts Bad"] += 1
            self._update_node(
                {
                    **counters,
                    "Part/Id": int(part["id"]),
                    "Part/Program": part["part_program"],
                    "Part/Status": part["status"],
                    "Part/Verdict": part["verdict"],
                    "Part/Cycle Time s": part["cycle_time_s"],
                    "Part/Arc Time s": part["arc_time_s"],
                }
            )

    def seam_recorded(self, part_id: int, summary: SeamSummary) -> None:
        with self._lock:
            welded = int(self._node["Counters/Seams Welded"] or 0)
            if summary.verdict != "dry_run":
                welded += 1
            self._update_node(
                {
                    "Counters/Seams Welded": welded,
                    "Seam/Part Id": part_id,
                    "Seam/Name": summary.seam,
                    "Seam/Procedure": summary.procedure,
                    "Seam/Verdict": summary.verdict,
                    "Seam/Arc Time s": summary.arc_time_s,
                    "Seam/Heat Input kJ per mm": summary.heat_input_kj_per_mm,
                    "Seam/Arc Energy kJ": summary.arc_energy_kj,
                    "Seam/Out Of Band s": summary.out_of_band_s,
                    "Seam/Arc Breaks": summary.arc_breaks,
                }
            )
            self._update_device(
                "power_source",
                {
                    "Seam/Mean Current A": summary.current_mean_a,
                    "Seam/Mean Voltage V": summary.voltage_mean_v,
                    "Seam/Mean Wire Feed m per min": summary.wire_feed_mean_m_per_min,
                },
            )

    def _fault_changes(self) -> dict[str, Value]:
        codes = sorted({f.code for f in self._active_faults.values()})
        return {"Faults/Active Count": len(codes), "Faults/Active Codes": ",".join(codes)}

    def fault_raised(self, fault: Fault) -> None:
        with self._lock:
            self._active_faults[id(fault)] = fault
            self._update_node(
                {
                    **self._fault_changes(),
                    "Faults/Raised Total": int(self._node["Faults/Raised Total"] or 0) + 1,
                    "Faults/Last Code": fault.code,
                    "Faults/Last Severity": str(fault.severity),
                    "Faults/Last Text": fault.describe(),
                    # Known once the reaction is done (fault_reacted), after this event.
                    "Faults/Last Reaction ms": fault.reaction_ms,
                }
            )

    def fault_reacted(self, fault: Fault) -> None:
        with self._lock:
            if self._node["Faults/Last Code"] == fault.code:
                self._update_node({"Faults/Last Reaction ms": fault.reaction_ms})

    def fault_cleared(self, fault: Fault) -> None:
        with self._lock:
            self._active_faults.pop(id(fault), None)
            self._update_node(self._fault_changes())

    def link_changed(self, device: str, up: bool) -> None:
        with self._lock:
            values = self._devices.get(device)
            if values is None:
                return
            drops = int(values["Link/Drops"] or 0) + (0 if up else 1)
            self._update_device(device, {"Link/Up": up, "Link/Drops": drops})
