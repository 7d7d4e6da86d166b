"""``cellctl run``: the controller process.

Loads and checks the config (exit 2 with every error if it is bad), builds the controller,
connects every device and runs until SIGINT or SIGTERM. Shutting down switches the arc off and
holds the robot before any link is closed. The controller's events (state changes, faults,
parts) go to standard output, one line each.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from drivers.realtime import make_process_realtime

if TYPE_CHECKING:
    from cellctl.plant.opcua.server import CellOpcUaServer

log = logging.getLogger(__name__)

EXIT_BAD_CONFIG = 2
EXIT_NO_STORE = 3
# The whole controller process under SCHED_FIFO at this priority where it may, once it has
# started: every thread then (the event loop, the executors, the links' threads) and every
# thread started later, which inherits it. A CPU hog beside the controller (the HMI, a
# compiler, a virus scanner) then never takes a core from it; the seam loop's own threads rank
# above it (``cellctl.sensing.stream.STREAM_REALTIME_PRIORITY``,
# ``laser.READER_REALTIME_PRIORITY``). Its start (imports, the OPC UA address space: some
# seconds of CPU) runs at normal priority, so that starting a controller never holds a core.
CONTROLLER_REALTIME_PRIORITY = 5


async def run_controller(config_path: Path, store_path: str | Path | None = None) -> int:
    # Imported here: the parser of every command is built without them.
    from cellctl.collector import freeze_what_lives_on
    from cellctl.config import ConfigInvalid, load_cell_config
    from cellctl.records.store import StoreError
    from cellctl.wiring import build_controller

    try:
        config = load_cell_config(config_path)
    except ConfigInvalid as invalid:
        for error in invalid.errors:
            print(error, file=sys.stderr)
        print(f"cellctl run: {len(invalid.errors)} config error(s); not started", file=sys.stderr)
        return EXIT_BAD_CONFIG
    try:
        controller = build_controller(config, store_path=store_path)
    except StoreError as error:
        print(f"cellctl run: production store: {error}; not started", file=sys.stderr)
        return EXIT_NO_STORE
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    controller.events.on_event = lambda event: print(f"{_clock(event.at)} {event.text}", flush=True)
    opcua: CellOpcUaServer | None = None
    try:
        if config.cell.opcua.enabled:
            # Imported only for a cell that serves OPC UA: asyncua alone takes a quarter of a
            # second of every start (a restart after a power loss, each scenario's controller).
            from cellctl.plant.opcua.server import CellOpcUaServer, OpcUaStartFailed

            # Before the controller's links and loops: building the address space holds the
            # event loop for up to a second, which a running cell's 80 ms timeouts would not
            # survive.
            opcua = CellOpcUaServer(controller, controller.store, config, config.cell.opcua)
            try:
                await opcua.start()
                print(
                    f"OPC UA server at {opcua.endpoint} (certificate SHA-256 "
                    f"{opcua.certificate_fingerprint})",
                    flush=True,
                )
                controller.sensing.show_to(opcua)  # corrections and profiles to show
                if controller.part_run.arc_tracking is not None:
                    controller.part_run.arc_tracking.show_to(opcua)  # the arc's corrections
            except OpcUaStartFailed as failed:
                # The cell runs on without its HMI interface rather than not at all.
                print(f"cellctl run: {failed}; running without OPC UA", file=sys.stderr)
                opcua = None
        # Before the links start: they would not survive the one collection (80 ms timeouts).
        freeze_what_lives_on()
        await controller.start()
        refused = make_process_realtime(CONTROLLER_REALTIME_PRIORITY)
        if refused is not None:
            log.info("the controller runs without real-time priority: %s", refused)
        await stop.wait()
    finally:
        if opcua is not None:
            await opcua.stop()
        await controller.shutdown()
        controller.store.close()
    return 0


def _clock(at: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(at)) + f".{int(at % 1 * 1000):03d}"


def main(config: str, store: str | None, log_level: str) -> int:
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # pymodbus logs each lost frame at ERROR; the controller reports them as link faults.
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    # --store is a path or a URL (postgresql://...).
    return asyncio.run(run_controller(Path(config), store))


def add_parser(commands: Any) -> None:
    run = commands.add_parser("run", help="run the cell controller")
    run.add_argument("--config", default="config/cell.yaml", help="the cell config")
    run.add_argument("--store", help="production database (default: the config's store_path)")
    run.add_argument("--log-level", default="WARNING")
    run.set_defaults(handler=run_command)


def run_command(args: argparse.Namespace) -> int:
    return main(args.config, args.store, args.log_level)
