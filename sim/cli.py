"""The ``cellsim`` command line: run simulated devices, or talk to a running simulator.

    cellsim all     --config config/cell.yaml   # PLC + power source + robot (+ control channel)
    cellsim plc     --config config/cell.yaml [--port N]
    cellsim welder  --config config/cell.yaml [--link PATH | --rtu-over-tcp-port N]
    cellsim robot   --config config/cell.yaml [--link PATH]
    cellsim ctl     plc.press button=start_button      # one command to a running simulator

Every listener binds to 127.0.0.1 unless ``--host`` says otherwise. ``--time-scale`` runs the
physics faster than real time (link timing stays real). The simulator runs until SIGINT or
SIGTERM and then closes every device cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

from sim.cellfile import CellFileError, load_cell_devices
from sim.clock import SimClock
from sim.wire.control import send_command

DEFAULT_CONTROL_PORT = 5040


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default="config/cell.yaml", help="cell config to simulate")
    parser.add_argument(
        "--time-scale", type=float, default=1.0, help="physics speed-up (1 = real time)"
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    parser.add_argument(
        "--ready-file",
        help="write the endpoints here as JSON once listening (whole: once it exists, it is "
        "complete)",
    )
    parser.add_argument("--log-level", default="WARNING")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cellsim", description="The simulated welding cell.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    every = commands.add_parser("all", help="the whole cell from one config")
    _common(every)
    every.add_argument("--control-port", type=int, default=DEFAULT_CONTROL_PORT)
    every.add_argument(
        "--vision",
        help="vision scenario (config/vision/*.yaml): the true part's deviations and "
        "the sensor's disturbances (needs sensor.enabled in the cell config)",
    )
    every.add_argument(
        "--truth-file",
        help="write the true seams here (JSON) for `cellctl replay` to score recordings against",
    )

    frames = commands.add_parser(
        "calibration-frames", help="render the sensor's calibration target (for cellctl calibrate)"
    )
    frames.add_argument("--out", required=True, help="folder for lit_NN.png and laser_NN.png")
    frames.add_argument("--views", type=int, default=12)
    frames.add_argument("--resolution", default="640x480", help="WIDTHxHEIGHT")
    frames.add_argument("--target", default="config/vision/calibration-target.yaml")

    plc = commands.add_parser("plc", help="the cell PLC (Modbus TCP server)")
    _common(plc)
    plc.add_argument("--port", type=int, help="TCP port (default: the config's)")

    welder = commands.add_parser("welder", help="the welding power source (Modbus RTU on a pty)")
    _common(welder)
    welder.add_argument("--link", help="stable path for the pty (default: the config's port)")
    welder.add_argument("--rtu-over-tcp-port", type=int, help="serve RTU frames over TCP")

    robot = commands.add_parser("robot", help="the robot (serial protocol on a pty)")
    _common(robot)
    robot.add_argument("--link", help="stable path for the pty (default: the config's port)")

    run = commands.add_parser(
        "run", help="run scenarios against a real controller (started as `cellctl run`)"
    )
    run.add_argument("--scenario", nargs="+", required=True, help="scenario file(s)")
    run.add_argument("--config", default="config/cell.yaml", help="the cell config")
    run.add_argument("--junit", help="also write JUnit XML here, for a rig's CI")
    run.add_argument("--work", help="folder for run files (default: a temporary one)")
    run.add_argument("--jobs", type=int, default=1,
                     help="scenarios at once (each on its own ports; mind the CPU)")  # fmt: skip
    run.add_argument("--log-level", default="WARNING")

    ctl = commands.add_parser("ctl", help="send one command to a running simulator")
    ctl.add_argument("--host", default="127.0.0.1")
    ctl.add_argument("--port", type=int, default=DEFAULT_CONTROL_PORT)
    ctl.add_argument("cmd", help="e.g. snapshot, plc.press, plc.load, inject, sensor.truth")
    ctl.add_argument("args", nargs="*", help="key=value (values parsed as JSON when they can be)")
    return parser


def _devices_for(args: argparse.Namespace) -> list[Any]:
    """Build the simulated devices the command asks for (imported here: each pulls pymodbus)."""
    devices = load_cell_devices(args.config)
    clock = SimClock(args.time_scale)
    if args.command == "all":
        from sim.cell import SimulatedCell
        from sim.truth.part import load_vision_scenario

        vision = load_vision_scenario(args.vision) if args.vision else None
        cell = SimulatedCell(
            devices, clock, control_port=args.control_port, host=args.host, vision=vision
        )
        if args.truth_file and cell.tracking_score is not None:
            from sim.truth.file import write_truth

            write_truth(cell.tracking_score.part, args.truth_file, vision.name if vision else "")
        return [cell]
    if args.command == "plc":
        from sim.devices.plc import SimulatedPlc

        return [SimulatedPlc(devices.plc, clock, host=args.host, port=args.port)]
    if args.command == "welder":
        from sim.devices.power_source import SimulatedPowerSource

        link = args.link or getattr(devices.power_source.link, "port", None)
        return [
            SimulatedPowerSource(
                devices.power_source,
                clock,
                link_path=None if args.rtu_over_tcp_port else link,
                rtu_over_tcp_port=args.rtu_over_tcp_port,
            )
        ]
    from sim.devices.robot import SimulatedRobot

    if devices.robot.link is None:
        raise SystemExit(
            f"cellsim robot: the robot of {args.config} is on {devices.robot.interface}, not our "
            "serial protocol; its simulated robot runs in `cellsim all` (its jobs need the PLC)"
        )
    return [SimulatedRobot(devices.robot, clock, link_path=args.link or devices.robot.link.port)]


def _describe(device: Any) -> dict[str, str]:
    if hasattr(device, "endpoints"):
        return device.endpoints()
    if hasattr(device, "describe"):
        names = {"SimulatedPowerSource": "power_source", "SimulatedRobot": "robot"}
        return {names[type(device).__name__]: device.describe()}
    names = {"SimulatedPlc": "plc", "SimulatedPowerSource": "power_source"}
    kind = names.get(type(device).__name__, "robot")
    if hasattr(device, "listening"):
        return {kind: f"Modbus TCP {device.listening}"}
    return {kind: str(device.port)}


def _write_ready_file(path: Path, endpoints: dict[str, str]) -> None:
    """Write the endpoints whole: a rig waits for the file to exist and reads it at once, so
    it must never see it created but not yet written."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(endpoints))
    os.replace(temporary, path)


async def _serve(args: argparse.Namespace) -> int:
    devices = _devices_for(args)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    started = []
    # What is built now lives as long as the process: out of the garbage collector's sight,
    # so that a full collection (it holds the GIL throughout) does not stall the camera's
    # frames and the robot's physics for tens of milliseconds.
    gc.collect()
    gc.freeze()
    try:
        for device in devices:
            await device.start()
            started.append(device)
        endpoints: dict[str, str] = {}
        for device in devices:
            endpoints.update(_describe(device))
        print(f"cellsim {args.command}: time scale {args.time_scale:g}x")
        for name, where in endpoints.items():
            print(f"  {name:<13} {where}")
        print("ready (Ctrl-C to stop)", flush=True)
        if args.ready_file:
            await asyncio.to_thread(_write_ready_file, Path(args.ready_file), endpoints)
        await stop.wait()
    finally:
        for device in reversed(started):
            await device.close()
    return 0


def _parse_args_list(pairs: list[str]) -> dict[str, Any]:
    request: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"cellsim ctl: expected key=value, got {pair!r}")
        try:
            request[key] = json.loads(value)
        except json.JSONDecodeError:
            request[key] = value
    return request


def _run_scenarios(args: argparse.Namespace) -> int:
    import tempfile

    from sim.scenario.runner import (
        Interrupted,
        ScenarioError,
        run_scenarios,
        summary,
        until_signalled,
        write_junit,
    )

    paths = [Path(p) for p in args.scenario]
    with tempfile.TemporaryDirectory(prefix="cellsim-run-") as scratch:
        work = Path(args.work) if args.work else Path(scratch)
        try:
            results = asyncio.run(
                until_signalled(run_scenarios(paths, Path(args.config), work, args.jobs))
            )
        except ScenarioError as error:
            print(f"cellsim run: {error}", file=sys.stderr)
            return 2
        except Interrupted as interrupted:
            print(f"cellsim run: {interrupted} received: the scenarios' controllers and "
                  "simulated cells are stopped", file=sys.stderr)  # fmt: skip
            return 128 + interrupted.signum
    if args.junit:
        write_junit(results, Path(args.junit))
    print(summary(results))
    return 0 if all(r.passed for r in results) else 1


def _calibration_frames(args: argparse.Namespace) -> int:
    """Render the calibration target in the simulated sensor's view, as PNG pairs."""
    import cv2
    import yaml

    from sim.devices.sensor_render import CalibrationTarget, CameraModel, render_calibration_views

    width, _, height = args.resolution.partition("x")
    target = CalibrationTarget.model_validate(yaml.safe_load(Path(args.target).read_text()))
    camera = CameraModel(width_px=int(width), height_px=int(height))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for index, (lit, laser) in enumerate(render_calibration_views(camera, target, args.views)):
        cv2.imwrite(str(out / f"lit_{index:02d}.png"), lit)
        cv2.imwrite(str(out / f"laser_{index:02d}.png"), laser)
    print(f"{args.views} views of the target written to {out} (view 00 is the jig's)")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=getattr(args, "log_level", "WARNING").upper())
    # pymodbus logs every garbled frame at ERROR; the simulator reports through its own state.
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    if args.command == "run":
        return _run_scenarios(args)
    if args.command == "calibration-frames":
        return _calibration_frames(args)
    if args.command == "ctl":
        request = {"cmd": args.cmd, **_parse_args_list(args.args)}
        try:
            answer = asyncio.run(send_command(args.host, args.port, request))
        except OSError as error:
            print(f"cellsim ctl: no simulator at {args.host}:{args.port}: {error}")
            return 1
        print(json.dumps(answer, indent=2, default=str))
        return 0 if answer.get("ok") else 1
    try:
        with contextlib.suppress(KeyboardInterrupt):
            return asyncio.run(_serve(args))
    except CellFileError as error:
        print(f"cellsim: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"cellsim: cannot start: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
