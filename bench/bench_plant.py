"""Plant level: Sparkplug B publishing with the cell running, and the production store's write
rate on SQLite and PostgreSQL with the durability settings in force.

1. Sparkplug, on loopback against a Mosquitto broker, while the real controller welds parts
   against the simulator (the controller's own messages flow meanwhile):
   - round trip: from the controller's event call (a state change) to its NDATA decoded by a
     plant-side subscriber; and NCMD Rebirth sent by the subscriber to the NBIRTH received;
   - publish rate: NDATA messages per second the edge node gets through to the subscriber
     when driven as fast as the event loop calls it.
2. Store: the production records a cell writes per part (start, two seams, finish: four
   durable transactions), as records per second and commit latency, one cell and four cells
   writing at once; SQLite (WAL, synchronous=FULL) beside PostgreSQL (synchronous_commit=on,
   fsync on), both on this machine's disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt

from bench.stats import goal, summary_ms
from cellctl.cell.records import SeamSummary
from cellctl.plant.sparkplug.codec import DataType, Metric, Payload, decode_payload, encode_payload
from cellctl.plant.sparkplug.node import REBIRTH, SparkplugEdgeNode, no_delay, release_client
from cellctl.records.store import ProductionStore
from rigs.cell import running_cell
from rigs.plant_servers import MosquittoBroker, PostgresServer

logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
GROUP = "bench"
ROUND_TRIPS = 300
REBIRTHS = 30
BURST = 5_000
PARTS_PER_CELL = 150
CELLS = 4


# -- Sparkplug -------------------------------------------------------------------------------


class Arrivals:
    """A plant-side subscriber that notes when each message arrives (monotonic clock)."""

    def __init__(self, port: int) -> None:
        self.lock = threading.Lock()
        self.states: dict[str, float] = {}
        self.births: list[float] = []
        self.ndata = 0
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-host")
        ready = threading.Event()
        self.client.on_connect = lambda c, *_: (no_delay(c), c.subscribe(f"spBv1.0/{GROUP}/#"))
        self.client.on_subscribe = lambda *_: ready.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        if not ready.wait(5):
            raise RuntimeError("bench subscriber did not connect")

    def _on_message(self, client, userdata, message) -> None:
        now = time.monotonic()
        kind = message.topic.split("/")[2]
        with self.lock:
            if kind == "NBIRTH":
                self.births.append(now)
            elif kind == "NDATA":
                self.ndata += 1
                state = decode_payload(message.payload).values().get("Cell/State")
                if isinstance(state, str) and state.startswith("bench-"):
                    self.states[state] = now

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
        release_client(self.client)


async def _wait(condition, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("bench: a message did not arrive")
        await asyncio.sleep(0.0005)


async def _sparkplug(folder: Path, broker: MosquittoBroker) -> dict:
    def edit(cell: dict) -> None:
        cell["sparkplug"] = {"enabled": True, "broker_port": broker.port, "group_id": GROUP}

    arrivals = Arrivals(broker.port)
    try:
        async with running_cell(folder, time_scale=20.0, edit=edit) as rig:
            node = next(
                x for x in rig.controller.events.listeners if isinstance(x, SparkplugEdgeNode)
            )
            await _wait(lambda: node.online and len(arrivals.births) >= 1)
            await rig.to_idle()
            welding = asyncio.create_task(_keep_welding(rig))
            try:
                # Round trips, spaced so that each travels alone, while the cell welds.
                trips = []
                for n in range(ROUND_TRIPS):
                    marker = f"bench-{n}"
                    sent = time.monotonic()
                    node.state_changed("Idle", marker, "bench", "production")
                    await _wait(lambda m=marker: m in arrivals.states)
                    trips.append(arrivals.states[marker] - sent)
                    await asyncio.sleep(0.005)
                rebirths = []
                command = encode_payload(Payload(0, [Metric(REBIRTH, DataType.BOOLEAN, True)]))
                for _ in range(REBIRTHS):
                    before = len(arrivals.births)
                    sent = time.monotonic()
                    arrivals.client.publish(f"spBv1.0/{GROUP}/NCMD/cell-01", command, qos=0)
                    await _wait(lambda b=before: len(arrivals.births) > b)
                    rebirths.append(arrivals.births[-1] - sent)
                    await asyncio.sleep(0.01)
                # Publish rate: a burst of state changes from the event loop.
                before = arrivals.ndata
                started = time.monotonic()
                for n in range(BURST):
                    node.state_changed("Idle", f"burst-{n}", "bench", "production")
                    if n % 100 == 0:
                        await asyncio.sleep(0)  # let the cell's own tasks run
                await _wait(lambda: arrivals.ndata - before >= BURST, 30)
                burst_s = time.monotonic() - started
                parts = len(await rig.controller.store.parts())
            finally:
                welding.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await welding
    finally:
        arrivals.close()
    return {
        "ndata_round_trip": summary_ms(trips),
        "rebirth_round_trip": summary_ms(rebirths),
        "publish_rate_msg_per_s": BURST / burst_s,
        "parts_welded_meanwhile": parts,
        "dropped": node.published.dropped,
    }


async def _keep_welding(rig) -> None:
    while True:
        await rig.weld_part(timeout_s=60)


# -- the store -------------------------------------------------------------------------------


def _summary() -> SeamSummary:
    return SeamSummary(
        seam="gusset-left", procedure="mag-fillet-a4", length_mm=150.0, arc_time_s=18.7,
        samples=750, current_mean_a=221.0, current_min_a=215.0, current_max_a=228.0,
        voltage_mean_v=24.4, voltage_min_v=24.0, voltage_max_v=24.9,
        wire_feed_mean_m_per_min=9.5, wire_feed_min_m_per_min=9.4,
        wire_feed_max_m_per_min=9.6, out_of_band_s=0.0, excursions=0, arc_energy_kj=82.3,
        heat_input_kj_per_mm=0.55, travel_speed_mm_per_s=8.0, arc_breaks=0, restarts=0,
        dry_run=False, verdict="good",
    )  # fmt: skip


def _weld_records(
    location: str | Path, cell: str, parts: int, commits: list[float], errors: list[BaseException]
) -> None:
    try:
        _weld(location, cell, parts, commits)
    except BaseException as error:
        errors.append(error)


def _weld(location: str | Path, cell: str, parts: int, commits: list[float]) -> None:
    store = ProductionStore(location, cell=cell)
    summary = _summary()
    try:
        config_id = store.record_config("bench0", {"cell.yaml": "bench"})
        for _ in range(parts):
            for write in (lambda: store.start_part("bracket-a12", config_id, "production"),):
                started = time.monotonic()
                part_id = write()
                commits.append(time.monotonic() - started)
            for _ in range(2):
                started = time.monotonic()
                store.record_seam(part_id, summary, 0.0, 1.0)
                commits.append(time.monotonic() - started)
            started = time.monotonic()
            store.finish_part(part_id, "complete", "good")
            commits.append(time.monotonic() - started)
    finally:
        store.close()


def _store_rate(location_for: dict[str, str | Path], cells: int) -> dict:
    results = {}
    for backend, location in location_for.items():
        commits: list[float] = []
        errors: list[BaseException] = []
        threads = [
            threading.Thread(
                target=_weld_records,
                args=(location, f"cell-{n:02d}", PARTS_PER_CELL, commits, errors),
            )
            for n in range(cells)
        ]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        took = time.monotonic() - started
        if errors:
            raise RuntimeError(f"{backend}: a writer failed") from errors[0]
        results[backend] = {
            "records_per_s": len(commits) / took,
            "parts_per_s": cells * PARTS_PER_CELL / took,
            "commit": summary_ms(commits),
        }
    return results


def _store(folder: Path) -> dict:
    postgres = PostgresServer()
    try:
        figures = {}
        for cells in (1, CELLS):
            locations: dict[str, str | Path] = {
                "sqlite": folder / f"bench-{cells}.db",
                "postgresql": postgres.new_database(),
            }
            figures[f"{cells}_cell"] = _store_rate(locations, cells)
        store = ProductionStore(locations["postgresql"])
        figures["postgresql_durability"] = store.durability
        figures["postgresql_synchronous_commit"] = store._backend.execute(
            "SHOW synchronous_commit"
        )[0]["synchronous_commit"]
        store.close()
        store = ProductionStore(locations["sqlite"])
        figures["sqlite_durability"] = store.durability
        store.close()
    finally:
        postgres.stop()
    return figures


# -- the report ------------------------------------------------------------------------------


def main() -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-plant-") as name:
        folder = Path(name)
        broker = MosquittoBroker(folder)
        try:
            sparkplug = asyncio.run(_sparkplug(folder / "cell", broker))
        finally:
            broker.stop()
        store = _store(folder)
    trips, rebirths = sparkplug["ndata_round_trip"], sparkplug["rebirth_round_trip"]
    print("Sparkplug B on loopback (Mosquitto, set_tcp_nodelay true), the cell welding meanwhile "
          f"({sparkplug['parts_welded_meanwhile']} part(s))")  # fmt: skip
    print(f"  {'':<44}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    for label, row in (
        (f"event -> NDATA at the subscriber ({trips['n']}x)", trips),
        (f"NCMD Rebirth -> NBIRTH ({rebirths['n']}x)", rebirths),
    ):
        print(f"  {label:<44}{row['p50_ms']:>9.2f}{row['p99_ms']:>9.2f}{row['max_ms']:>9.2f}")
    rate = sparkplug["publish_rate_msg_per_s"]
    print(f"  publish rate, {BURST} NDATA end to end: {rate:,.0f} messages/s")
    print(f"\nProduction store, {PARTS_PER_CELL} parts per cell, 4 durable writes per part")
    print(f"  {'':<28}{'records/s':>11}{'parts/s':>9}{'commit p50':>12}{'p99 ms':>9}")
    for cells in (1, CELLS):
        for backend in ("sqlite", "postgresql"):
            row = store[f"{cells}_cell"][backend]
            print(
                f"  {backend + f', {cells} cell(s)':<28}{row['records_per_s']:>11,.0f}"
                f"{row['parts_per_s']:>9,.1f}{row['commit']['p50_ms']:>12.2f}"
                f"{row['commit']['p99_ms']:>9.2f}"
            )
    print(f"  SQLite: {store['sqlite_durability']}")
    print(f"  PostgreSQL: {store['postgresql_durability']} "
          f"(server says synchronous_commit={store['postgresql_synchronous_commit']})")  # fmt: skip
    print(goal("Sparkplug event to subscriber p99 under 20 ms", trips["p99_ms"] < 20,
               f"{trips['p99_ms']:.2f} ms"))  # fmt: skip
    print(goal("Sparkplug publish rate above 1000 messages/s", rate > 1000, f"{rate:,.0f}/s"))
    slowest = min(store[f"{c}_cell"][b]["parts_per_s"] for c in (1, CELLS)
                  for b in ("sqlite", "postgresql"))  # fmt: skip
    print(goal("store keeps up with a part per second per cell", slowest > CELLS,
               f"slowest {slowest:.1f} parts/s"))  # fmt: skip
    return {"sparkplug": sparkplug, "store": store}
