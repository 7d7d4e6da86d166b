"""Vision and seam tracking against the simulator's truth (``python -m bench vision``).

1. Per frame, on one core at the sensor reader thread's real-time priority: stripe extraction +
   triangulation + joint detection (the region of interest following the line, as in
   tracking) at 640x480 and 1280x1024, beside a plain per-column argmax; the stripe's
   sub-pixel error against the rendered truth, beside the argmax's.
2. Closed loop against open loop (tracking off, seam finding on) and the taught path (no
   sensor: the scenario's deviation itself), per scenario, at 1x real time
   with 12 mm/s travel: the simulator (``cellsim all --vision``) and the controller
   (``cellctl run``) as separate processes, exactly as in the cell; the simulator scores the
   torch against the true seam at every physics step (lateral and vertical, RMS and max).
   plate-v60's root pass weaves (1.5 mm triangle at 2 Hz): the torch's score is its weave's
   centre; those scenarios are welded closed loop once more with the weave off ("plain").
   With two cores or more the simulator gets one and the controller the others: the
   simulator stands for the robot, the PLC, the power source and the sensor, each with
   processors of its own in a cell, and should not take the controller's core; for the same
   reason it runs real-time (SCHED_FIFO) where the bench may. The controller asks for its
   own real-time priorities (``cellctl run``).
3. Per closed-loop weld, from the controller's own seam record, a frame's way in parts,
   p50/p99/max: exposure to received (the simulated sensor: rendering and transfer), received
   to the vision's start, the vision itself, exposure to measured, and exposure to the first
   correction sent with it; the processing beside the very same frames processed alone
   afterwards (``FrameTap``: a second client of the simulated sensor), back to back and at
   the sensor's frame rate; the correction stream's lateness; and the machine's own stalls
   during each weld (``bench/stalls.py``): a frame exposed or measured while the host had the
   cores is late whatever the cell's software does.

``python -m bench vision_hog`` welds the same closed loops beside a CPU hog (one busy process
per core at normal priority).

Goals (issues 4 and 16): closed loop RMS <= 0.10 mm and max <= 0.25 mm; 640x480 <= 0.5 ms
p99, 1280x1024 <= 2 ms p99; sub-pixel RMS <= 0.1 px; exposure to correction <= 4 ms p99 in
every weld; processing in the controller p99 <= 1.5x the same frames processed alone at the
sensor's frame rate (back to back, a core never idle, printed beside it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import yaml

from bench.stalls import MachineStalls
from bench.stats import goal, percentile
from cellctl.cli.demo import operate, prepare_run_folder
from cellctl.config.sensor_models import SensorSettings
from cellctl.sensing.laser import READER_REALTIME_PRIORITY
from cellctl.sensing.vision.calibration import Calibration
from cellctl.sensing.vision.pipeline import JointFinder
from cellctl.sensing.vision.stripe import StripeExtractor, argmax_rows
from cellctl.testing import Operator, free_port, stop_process
from drivers.codecs.sensor_protocol import HEADER_BYTES, decode_frame, decode_header
from sim.devices.sensor_render import (
    CameraModel,
    Disturbances,
    JointView,
    StripeRenderer,
    seam_to_sensor,
)
from sim.truth.part import load_true_part, load_vision_scenario

REPO = Path(__file__).resolve().parent.parent
TRAVEL_MM_PER_S = 12.0
FRAMES_PER_SIZE = 400
SCENARIOS = [
    # (scenario, part program)
    ("offset", "coupon-fillet-80"),
    ("sine-5mm", "coupon-fillet-80"),
    ("step", "coupon-fillet-80"),
    ("heavy-spatter", "coupon-fillet-80"),
    ("gap-variation", "plate-v60"),
    ("sine-5mm", "plate-v60"),  # a bending joint under the root pass's weave
]
# Welded a second time with the procedure's weave taken off (issue 17: tracking with the
# weave on must hold as it does without; plate-v60's root pass weaves 1.5 mm at 2 Hz).
WEAVE_OFF_TOO = {("gap-variation", "plate-v60"), ("sine-5mm", "plate-v60")}


def weld_name(scenario: str, part: str) -> str:
    """A weld's name in the report: its scenario, with the part where a scenario is welded on
    more than one."""
    twice = sum(1 for s, _ in SCENARIOS if s == scenario) > 1
    return f"{scenario}/{part}" if twice else scenario


def _one_core() -> None:
    """The per-frame figures on one core, at the sensor reader thread's real-time priority
    (where the bench may): the machine is shared, and the vision's own cost is measured, as
    the controller runs it, not the other processes' load."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(READER_REALTIME_PRIORITY))


def _all_cores() -> None:
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, os.sched_getaffinity(0) | set(range(os.cpu_count() or 1)))


def _give_cores(process: subprocess.Popen, simulator: bool) -> None:
    """The simulator on the first core, the controller on the rest (see the docstring)."""
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_setaffinity") else []
    if len(cores) >= 2:
        os.sched_setaffinity(process.pid, set(cores[:1] if simulator else cores[1:]))


# The simulator stands for the sensor, the robot, the PLC and the power source: hardware with
# processors of its own, whose timing nothing on the cell PC disturbs. On the bench it shares
# the machine, so it runs real-time (SCHED_FIFO, where the bench may), on a core of its own
# (``_give_cores``): a CPU hog beside the cell then slows the controller, the thing measured,
# and not the simulated camera. Below the stall probes (bench/stalls.py, 10).
SIMULATOR_REALTIME_PRIORITY = 8


def _simulator_realtime() -> None:
    """In the simulator's process before it runs (so every thread of it inherits it)."""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(SIMULATOR_REALTIME_PRIORITY))
    except (AttributeError, OSError):
        pass  # without the privilege the simulator competes like any process


class CpuHog:
    """``with CpuHog():`` one busy process per core (pinned to it) at normal priority: a cell
    PC that is never idle (the HMI, an antivirus scan, a compiler)."""

    def __init__(self) -> None:
        self.processes: list[subprocess.Popen] = []

    def __enter__(self) -> CpuHog:
        cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [0]
        for core in cores:
            code = f"import os\nos.sched_setaffinity(0, {{{core}}})\nwhile True: pass"
            self.processes.append(subprocess.Popen([sys.executable, "-c", code]))
        return self

    def __exit__(self, *exc_info) -> None:
        for process in self.processes:
            process.kill()
            process.wait()


class FrameTap(threading.Thread):
    """A second client of the simulated sensor during a weld: every frame the controller was
    sent, kept, so that the bench can process the very same frames alone afterwards. The
    simulator serves its clients in the order they connected: the controller's frame goes out
    first. (Some 300 KB a frame: a weld's 2-3000 frames stay in memory until processed.)"""

    def __init__(self, source: str) -> None:
        super().__init__(name="frame tap", daemon=True)
        host, _, port = source.rpartition(":")
        self.address = (host, int(port))
        self.frames: dict[int, np.ndarray] = {}
        self._socket: socket.socket | None = None
        self._closing = threading.Event()

    def connect(self) -> None:
        deadline = time.monotonic() + 10
        while True:
            try:
                self._socket = socket.create_connection(self.address, timeout=1.0)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.start()

    def run(self) -> None:
        sock = self._socket
        assert sock is not None
        header = bytearray(HEADER_BYTES)
        try:
            while not self._closing.is_set():
                self._fill(sock, memoryview(header))
                frame_header = decode_header(header)
                payload = bytearray(frame_header.payload_bytes)
                self._fill(sock, memoryview(payload))
                frame = decode_frame(frame_header, payload, copy=False)
                self.frames[frame.frame_number] = frame.pixels
        except (OSError, ValueError):
            pass  # the simulator went (or we closed): the weld is over

    @staticmethod
    def _fill(sock: socket.socket, view: memoryview) -> None:
        got = 0
        while got < len(view):
            n = sock.recv_into(view[got:])
            if n == 0:
                raise OSError("closed")
            got += n

    def close(self) -> None:
        self._closing.set()
        if self._socket is None:
            return  # never connected (an open-loop weld, or a failed start)
        with contextlib.suppress(OSError):
            self._socket.shutdown(socket.SHUT_RDWR)
        self._socket.close()
        self.join(5)


def processing_alone(
    frames: dict[int, np.ndarray], first: int, last: int, make_finder, period_s: float = 0.0
) -> dict[str, float]:
    """The frames numbered ``first``..``last`` through a fresh finder in order, in this
    thread on the controller's core, nothing else running: the per-frame times (ms).
    ``period_s``: one frame every period, as the sensor sends them (0: back to back). A core
    idle between frames comes back cold (caches, the virtual machine's scheduling): the same
    vision then takes twice as long as back to back, in the controller or not."""
    cores = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, set(cores[1:2] or cores))  # 0: this thread only
    # At the controller's reader thread's priority: other processes on the machine (it is
    # shared) take the core from it no more than from the controller.
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(READER_REALTIME_PRIORITY))
    numbered = ((n, frames[n]) for n in range(first, last + 1) if n in frames)
    try:
        times = vision_times(make_finder(), numbered, period_s)
    finally:
        with contextlib.suppress(AttributeError, OSError):
            os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
        os.sched_setaffinity(0, set(cores))
    return {
        "frames": len(times),
        "p50_ms": percentile(times, 0.5) * 1e3,
        "p99_ms": percentile(times, 0.99) * 1e3,
        "max_ms": max(times, default=math.nan) * 1e3,
    }


def vision_times(
    finder: JointFinder, numbered: Iterable[tuple[int, np.ndarray]], period_s: float = 0.0
) -> list[float]:
    """Each (frame number, pixels) through ``finder`` in order, in this thread: the per-frame
    times (s). ``period_s``: one frame every period, as the sensor sends them (0: back to
    back)."""
    times = []
    next_s = time.monotonic()
    for number, pixels in numbered:
        if period_s:
            next_s += period_s
            time.sleep(max(0.0, next_s - time.monotonic()))
        started = time.perf_counter()
        finder.measure(pixels, number)
        times.append(time.perf_counter() - started)
    return times


def frame_figures() -> dict:
    """Per-frame processing time and sub-pixel accuracy at both resolutions."""
    results = {}
    for width, height, calibration_file in (
        (640, 480, "sensor-calibration.yaml"),
        (1280, 1024, "sensor-calibration-1280x1024.yaml"),
    ):
        camera = CameraModel(width_px=width, height_px=height)
        calibration = Calibration.load(REPO / "config" / calibration_file)
        calibration.pixel_tables()  # made before the first frame, as the controller does
        dirty = StripeRenderer(
            camera, Disturbances(spatter_per_frame=3, glare=0.3, reflection=0.3), seed=11
        )
        clean = StripeRenderer(camera, Disturbances(), seed=12)
        finder = JointFinder(calibration, "fillet", 45.0)
        pipeline_s, argmax_s = [], []
        ok = 0
        frames = []
        for i in range(FRAMES_PER_SIZE):
            lateral = 3 * np.sin(i / 40)
            x, z = seam_to_sensor(lateral, 0.5, 45.0)
            pixels = dirty.render(JointView("fillet", x, z, 0, 0, 45.0)).pixels
            frames.append(pixels)
            started = time.perf_counter()
            measurement = finder.measure(pixels)
            pipeline_s.append(time.perf_counter() - started)
            ok += measurement.ok
            started = time.perf_counter()
            argmax_rows(pixels)
            argmax_s.append(time.perf_counter() - started)
        # The same frames one a sensor frame period apart (the core idle between them, as in
        # the cell): what an idle core costs the vision by itself, with nothing else running.
        paced_s = vision_times(
            JointFinder(calibration, "fillet", 45.0),
            enumerate(frames),
            1.0 / SensorSettings().frame_rate_hz,
        )
        errors, argmax_errors = [], []
        extractor = StripeExtractor()
        for i in range(100):
            x, z = seam_to_sensor(3 * np.sin(i / 10), 0.5, 45.0)
            frame = clean.render(JointView("fillet", x, z, 0, 0, 45.0))
            rows = extractor.extract(frame.pixels).rows
            both = np.isfinite(rows) & np.isfinite(frame.stripe_rows)
            errors.append(rows[both] - frame.stripe_rows[both])
            plain = argmax_rows(frame.pixels)
            both = np.isfinite(plain) & np.isfinite(frame.stripe_rows)
            argmax_errors.append(plain[both] - frame.stripe_rows[both])
        results[f"{width}x{height}"] = {
            "pipeline_p50_ms": percentile(pipeline_s, 0.5) * 1e3,
            "pipeline_p99_ms": percentile(pipeline_s, 0.99) * 1e3,
            "argmax_p50_ms": percentile(argmax_s, 0.5) * 1e3,
            "argmax_p99_ms": percentile(argmax_s, 0.99) * 1e3,
            "paced_p50_ms": percentile(paced_s, 0.5) * 1e3,
            "paced_p99_ms": percentile(paced_s, 0.99) * 1e3,
            "joint_found_ratio": ok / FRAMES_PER_SIZE,
            "subpixel_rms_px": float(np.sqrt(np.mean(np.concatenate(errors) ** 2))),
            "argmax_rms_px": float(np.sqrt(np.mean(np.concatenate(argmax_errors) ** 2))),
        }
    return results


JOINT_TYPES = (("fillet", 45.0), ("v_groove_butt", 0.0), ("square_butt", 0.0), ("lap", 0.0))


def joint_figures(frames: int = 100) -> dict:
    """Joint detection against the rendered truth, per joint type: single frames from a fresh
    finder (no history), clean and dirty (spatter, glare, reflection, speckle, dropouts)."""
    calibration = Calibration.load(REPO / "config" / "sensor-calibration.yaml")
    dirty = Disturbances(
        spatter_per_frame=6, glare=0.5, reflection=0.35, stripe_width_variation=0.2,
        speckle=0.15, dropout_probability=0.05,
    )  # fmt: skip
    results = {}
    for label, disturbances in (("clean", Disturbances()), ("dirty", dirty)):
        for joint, angle in JOINT_TYPES:
            renderer = StripeRenderer(CameraModel(), disturbances, seed=21)
            rng = np.random.default_rng(21)
            errors, refused = [], 0
            for _ in range(frames):
                lateral, vertical = rng.uniform(-6, 6), rng.uniform(-3, 3)
                gap, mismatch = rng.uniform(0.6, 2.5), rng.uniform(-0.5, 0.5)
                x, z = seam_to_sensor(lateral, vertical, angle)
                view = JointView(joint, x, z, gap, mismatch, angle)
                found = JointFinder(calibration, joint, angle).measure(renderer.render(view).pixels)
                if not found.ok:
                    refused += 1
                    continue
                gap_error = found.gap_mm - gap if joint in ("square_butt", "v_groove_butt") else 0
                errors.append((found.lateral_mm - lateral, found.vertical_mm - vertical, gap_error))
            e = np.abs(np.array(errors)) if errors else np.zeros((1, 3))
            results[f"{label}/{joint}"] = {
                "refused": refused / frames,
                "lateral_rms_mm": float(np.sqrt(np.mean(e[:, 0] ** 2))),
                "vertical_rms_mm": float(np.sqrt(np.mean(e[:, 1] ** 2))),
                "gap_rms_mm": float(np.sqrt(np.mean(e[:, 2] ** 2))),
                "wrong_over_0.3mm": float(np.mean(np.hypot(e[:, 0], e[:, 1]) > 0.3)),
            }
    return results


def _prepare(
    run_dir: Path,
    part: str,
    tracking: bool,
    weave: bool = True,
    robot: str | None = None,
    edit: Callable[[dict], None] | None = None,
    program_edit: Callable[[dict], None] | None = None,
) -> Path:
    derived = prepare_run_folder(REPO / "config" / "cell.yaml", run_dir, part, robot)
    cell = yaml.safe_load(derived.read_text())
    cell["sensor"]["enabled"] = True
    if edit is not None:
        edit(cell)
    derived.write_text(yaml.safe_dump(cell))
    # The bench's travel speed (10-15 mm/s) on the part's procedures (every pass's), and
    # tracking on or off; ``program_edit`` changes the program first (bench_passes).
    program_path = run_dir / "config" / "parts" / f"{part}.yaml"
    program = yaml.safe_load(program_path.read_text())
    if program_edit is not None:
        program_edit(program)
    names = {seam["procedure"] for seam in program["seams"]}
    names |= {
        p["procedure"] for s in program["seams"] for p in s.get("passes", []) if "procedure" in p
    }
    for seam in program["seams"]:
        seam["sensing"]["tracking"] = tracking
    for name in sorted(names):
        procedure_path = run_dir / "config" / "procedures" / f"{name}.yaml"
        procedure = yaml.safe_load(procedure_path.read_text())
        procedure["travel_speed_mm_per_s"] = TRAVEL_MM_PER_S
        procedure["bands"]["travel_speed_mm_per_s"] = {"min": 10.0, "max": 14.0}
        # That speed lies outside the WPS's qualified range (the config check refuses it):
        # the bench measures tracking, not the quality record.
        procedure.pop("qualified", None)
        if not weave:
            procedure["weave"] = {"pattern": "none"}
        procedure_path.write_text(yaml.safe_dump(procedure))
    program_path.write_text(yaml.safe_dump(program))
    return derived


def weld(
    scenario: str,
    part: str,
    tracking: bool,
    hog: bool = False,
    weave: bool = True,
    robot: str | None = None,
    edit: Callable[[dict], None] | None = None,
    program_edit: Callable[[dict], None] | None = None,
    timeout_s: float = 240,
) -> dict:
    """One part at 1x in two processes; the simulator's score and the seam records. Tracked,
    the frames the controller was sent are processed again alone afterwards (``FrameTap``,
    ``processing_alone``). ``hog``: a CPU hog on every core meanwhile (``CpuHog``). ``robot``:
    another robot interface than the config's (``bench_vision_owned``: ``kuka_rsi``,
    ``abb_egm``); ``edit`` changes the run folder's cell config; ``program_edit`` the part
    program (a pass table: ``bench_passes``)."""
    run_dir = Path(tempfile.mkdtemp(prefix="bench-vision-"))
    load_before = os.getloadavg()[0]  # the machine's 1-minute load average as the weld starts
    derived = _prepare(run_dir, part, tracking, weave, robot, edit, program_edit)
    cell = yaml.safe_load(derived.read_text())
    control_port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    ready = run_dir / "ready.json"
    logs = {n: open(run_dir / f"{n}.log", "w") for n in ("cellsim", "controller")}  # noqa: SIM115
    processes: dict[str, subprocess.Popen] = {}
    tap = FrameTap(cell["sensor"]["source"])
    try:
        processes["cellsim"] = subprocess.Popen(
            [sys.executable, "-m", "sim.cli", "all", "--config", str(derived),
             "--control-port", str(control_port), "--ready-file", str(ready),
             "--vision", str(REPO / "config" / "vision" / f"{scenario}.yaml")],
            stdout=logs["cellsim"], stderr=subprocess.STDOUT, env=env,
            preexec_fn=_simulator_realtime,
        )  # fmt: skip
        _give_cores(processes["cellsim"], simulator=True)
        deadline = time.monotonic() + 30
        while not ready.exists():
            if processes["cellsim"].poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"simulator did not start: {(run_dir / 'cellsim.log').read_text()}"
                )
            time.sleep(0.05)
        processes["controller"] = subprocess.Popen(
            [sys.executable, "-m", "cellctl.cli.main", "run", "--config", str(derived)],
            stdout=logs["controller"], stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
        _give_cores(processes["controller"], simulator=False)
        operator = Operator(control_port, run_dir / "production.db")
        with contextlib.ExitStack() as meanwhile:
            if tracking:
                # Once the controller has its sensor link (the first client, served first).
                asyncio.run(_wait_for_clients(operator, 1))
                tap.connect()
            if hog:
                meanwhile.enter_context(CpuHog())
            stalls = meanwhile.enter_context(MachineStalls())
            asyncio.run(operate(operator, 1, 1, processes, timeout_s))
        scores = asyncio.run(operator.do("sensor.truth"))
        camera = (asyncio.run(operator.do("snapshot")).get("sensor") or {}) if tracking else {}
        seams = operator.query("SELECT summary_json FROM seams ORDER BY id")
        records = [json.loads(s["summary_json"]) for s in seams]
        tracking_stats = [record.get("tracking") or {} for record in records]
    except Exception as error:
        for log in logs.values():
            log.flush()
        tail = (run_dir / "controller.log").read_text().splitlines()[-6:]
        raise RuntimeError(f"{error}; controller log: " + " | ".join(tail)) from error
    finally:
        for process in processes.values():
            stop_process(process)
        tap.close()
        for log in logs.values():
            log.close()
        shutil.rmtree(run_dir, ignore_errors=True)
    result = {
        "scores": scores,
        "tracking": tracking_stats,
        "records": records,
        "machine_stalls": stalls.summary(),
        "camera": camera,
        "load_average": load_before,
    }
    if tracking:
        settings = SensorSettings.model_validate(cell["sensor"])
        program = yaml.safe_load((REPO / "config" / "parts" / f"{part}.yaml").read_text())
        calibration = Calibration.load(REPO / "config" / settings.calibration_file)
        calibration.pixel_tables()
        for seam, figures in zip(program["seams"], tracking_stats, strict=False):
            if figures.get("frame_first", -1) < 0:
                continue

            def make_finder(seam=seam):
                return JointFinder(
                    calibration, seam["joint"], float(seam["torch"]["work_angle_deg"]),
                    settings.stripe, settings.joint,
                )  # fmt: skip

            span = (figures["frame_first"], figures["frame_last"])
            figures["alone"] = processing_alone(tap.frames, *span, make_finder)
            figures["alone_paced"] = processing_alone(
                tap.frames, *span, make_finder, 1 / settings.frame_rate_hz
            )
    tap.frames.clear()
    return result


async def _wait_for_clients(operator: Operator, clients: int, timeout_s: float = 60) -> None:
    """Until the simulated sensor has ``clients`` clients (the controller is connected)."""
    deadline = time.monotonic() + timeout_s
    while True:
        snapshot = await operator.do("snapshot")
        if (snapshot.get("sensor") or {}).get("clients", 0) >= clients:
            return
        if time.monotonic() > deadline:
            raise RuntimeError("the controller never connected to the simulated sensor")
        await asyncio.sleep(0.1)


def taught_figures(scenario: str, part: str) -> dict[str, float]:
    """The taught path against the true seam (no sensor at all), from the scenario itself."""
    vision = load_vision_scenario(REPO / "config" / "vision" / f"{scenario}.yaml")
    true_part = load_true_part(REPO / "config" / "parts" / f"{part}.yaml", vision)
    seam = true_part.seams[0]
    states = [seam.joint_at(s) for s in np.linspace(0, seam.length_mm, 801)]
    lateral = np.array([j.lateral_mm for j in states])
    vertical = np.array([j.vertical_mm for j in states])
    total = np.hypot(lateral, vertical)
    return {
        "lateral_rms_mm": float(np.sqrt(np.mean(lateral**2))),
        "lateral_max_mm": float(np.abs(lateral).max()),
        "vertical_rms_mm": float(np.sqrt(np.mean(vertical**2))),
        "vertical_max_mm": float(np.abs(vertical).max()),
        "rms_mm": float(np.sqrt(np.mean(total**2))),
        "max_mm": float(total.max()),
    }


def main() -> dict:
    figures: dict = {}
    _one_core()
    print("Per frame (one core): stripe + triangulation + joint detection, beside plain argmax")
    frames = frame_figures()
    figures["frames"] = frames
    goals_ms = {"640x480": 0.5, "1280x1024": 2.0}
    for size, f in frames.items():
        print(
            f"  {size:>9}: pipeline p50 {f['pipeline_p50_ms']:.3f} ms, p99 "
            f"{f['pipeline_p99_ms']:.3f} ms | argmax p50 {f['argmax_p50_ms']:.3f} ms, p99 "
            f"{f['argmax_p99_ms']:.3f} ms | joint found {f['joint_found_ratio']:.0%} | "
            f"sub-pixel RMS {f['subpixel_rms_px']:.3f} px (argmax {f['argmax_rms_px']:.3f} px)"
        )
        print(goal(f"{size} p99", f["pipeline_p99_ms"] <= goals_ms[size],
                   f"{f['pipeline_p99_ms']:.3f} ms (goal <= {goals_ms[size]} ms)"))  # fmt: skip
        print(
            f"  {size:>9}: the same frames one a frame period apart (the core idle between "
            f"them): p50 {f['paced_p50_ms']:.3f} ms, p99 {f['paced_p99_ms']:.3f} ms, "
            f"{f['paced_p99_ms'] / f['pipeline_p99_ms']:.2f}x back to back's p99"
        )
        print(goal(f"{size} sub-pixel", f["subpixel_rms_px"] <= 0.1,
                   f"{f['subpixel_rms_px']:.3f} px RMS (goal <= 0.1 px)"))  # fmt: skip
    print("\nJoint detection per type, single frames, fresh finder (mm; against the truth)")
    joints = joint_figures()
    figures["joints"] = joints
    for key, j in joints.items():
        print(
            f"  {key:<20} refused {j['refused']:5.0%}  lateral RMS {j['lateral_rms_mm']:.3f}  "
            f"vertical RMS {j['vertical_rms_mm']:.3f}  gap RMS {j['gap_rms_mm']:.3f}  "
            f"accepted but > 0.3 mm off {j['wrong_over_0.3mm']:5.1%}"
        )
    _all_cores()

    print(f"\nClosed vs open loop at 1x, {TRAVEL_MM_PER_S:g} mm/s (torch vs true seam, mm)")
    loops = run_welds((True, False), hog=False)
    figures["loops"] = loops
    return figures


# The torch's collision fault: an open-loop weld may end on it (see run_welds).
OPEN_LOOP_COLLISION = "F153"


def run_welds(modes: tuple[bool, ...], hog: bool) -> dict:
    """Every scenario welded closed loop (True) and/or open loop (False), beside the taught
    path; the torch's error against the truth printed per weld, and the accuracy goals."""
    header = (
        f"  {'scenario':<14} {'loop':<7} {'lat RMS':>8} {'lat max':>8} {'vert RMS':>8} "
        f"{'vert max':>8} {'RMS':>7} {'max':>7}"
    )
    print(header)
    loops: dict = {}
    for scenario, part in SCENARIOS:
        name = weld_name(scenario, part)
        taught = taught_figures(scenario, part)
        loops[f"{name}/taught"] = {"scores": [taught]}
        print(
            f"  {name:<14} {'taught':<7} {taught['lateral_rms_mm']:8.3f} "
            f"{taught['lateral_max_mm']:8.3f} {taught['vertical_rms_mm']:8.3f} "
            f"{taught['vertical_max_mm']:8.3f} {taught['rms_mm']:7.3f} {taught['max_mm']:7.3f}"
        )
        runs = [(tracking, True) for tracking in modes]
        if True in modes and (scenario, part) in WEAVE_OFF_TOO:
            runs.append((True, False))  # "plain": closed loop, the weave taken off
        for tracking, weave in runs:
            label = ("closed" if tracking else "open") if weave else "plain"
            result = None
            for attempt in (1, 2):  # a run that faulted is printed, and tried once more
                try:
                    result = weld(scenario, part, tracking, hog=hog, weave=weave)
                    break
                except Exception as error:
                    if not tracking and OPEN_LOOP_COLLISION in str(error):
                        # Untracked, the taught path runs into the plate where the seam is
                        # far off it (a 5 mm sine on a fillet): the torch's breakaway switch
                        # stops the weld, as on a real cell. That is the open loop's result.
                        print(f"  {name:<14} {label:<7} the torch hit the part "
                              f"({OPEN_LOOP_COLLISION}): untracked, as on a real cell")  # fmt: skip
                        loops[f"{name}/{label}"] = {"collided": True, "scores": []}
                        break
                    print(f"  {name:<14} {label:<7} FAILED (try {attempt}): {error}")
                    loops[f"{name}/{label}/failed{attempt}"] = {"error": str(error)}
            if result is None:
                continue
            loops[f"{name}/{label}"] = result
            for score in result["scores"]:
                print(
                    f"  {name:<14} {label:<7} {score['lateral_rms_mm']:8.3f} "
                    f"{score['lateral_max_mm']:8.3f} {score['vertical_rms_mm']:8.3f} "
                    f"{score['vertical_max_mm']:8.3f} {score['rms_mm']:7.3f} {score['max_mm']:7.3f}"
                )
    if True in modes:
        closed = [loops.get(f"{weld_name(s, p)}/closed") for s, p in SCENARIOS] + [
            loops.get(f"{weld_name(s, p)}/plain") for s, p in SCENARIOS if (s, p) in WEAVE_OFF_TOO
        ]
        scores = [s for result in closed if result for s in result["scores"]]
        welded = sum(result is not None for result in closed)
        worst_rms = max((s["rms_mm"] for s in scores), default=math.nan)
        worst_max = max((s["max_mm"] for s in scores), default=math.nan)
        every, of = welded == len(closed), f"{welded} of {len(closed)} welded"
        print(goal("closed loop RMS", every and worst_rms <= 0.10,
                   f"worst {worst_rms:.3f} mm (<= 0.10), {of}"))  # fmt: skip
        print(goal("closed loop max", every and worst_max <= 0.25,
                   f"worst {worst_max:.3f} mm (<= 0.25), {of}"))  # fmt: skip
        closed_loop_report(loops)
    return loops


def closed_loop_report(loops: dict) -> None:
    """Per closed-loop weld: a frame's way from exposure to the robot, in parts, from the
    controller's own seam record; its processing beside the same frames processed alone; the
    machine's own stalls meanwhile. The goal lines count every weld."""
    welds: dict[str, tuple[dict, dict] | None] = {}
    for scenario, part in SCENARIOS:
        name = weld_name(scenario, part)
        result = loops.get(f"{name}/closed")
        seams = [t for t in result["tracking"] if t] if result else []
        welds[name] = (
            (seams[0], {**result["machine_stalls"], "load": result.get("load_average", math.nan)})
            if seams
            else None
        )
    cameras = {
        weld_name(s, p): (loops.get(f"{weld_name(s, p)}/closed") or {}).get("camera") or {}
        for s, p in SCENARIOS
    }
    print(
        "\nPer closed-loop weld, from the controller's own seam record (ms, p50/p99/max)\n"
        "  exposure -> received: the simulated sensor (rendering, transfer); received ->\n"
        "  started: the wait for the reader thread; processing: the vision in the controller,\n"
        "  beside the same frames processed alone afterwards (one core, nothing else running),\n"
        "  back to back and paced (one a frame period, as the sensor sends them);\n"
        "  stalls: a real-time thread per core sleeps 2 ms and wakes over 2 ms late\n"
        "  (bench/stalls.py): whatever runs then, the cell's software too, is held up."
    )

    def three(t: dict, name: str) -> str:
        return "/".join(f"{t.get(f'{name}_{q}_ms', math.nan):.2f}" for q in ("p50", "p99", "max"))

    print(
        f"  {'weld':<14} {'exposure->correction':>21} {'exposure->processed':>20} "
        f"{'exposure->received':>19} {'received->started':>18} {'processing':>17} "
        f"{'alone':>11} {'ratio p99':>9} {'paced':>11} {'ratio':>5} {'late ticks':>10} "
        f"{'stalls':>12} {'load':>5}"
    )
    ratios, paced_ratios, latencies = [], [], []
    for name, weld_figures in welds.items():
        if weld_figures is None:  # counted: a weld that failed missed every goal
            print(f"  {name:<14} FAILED (no seam record)")
            ratios.append(math.nan)
            paced_ratios.append(math.nan)
            latencies.append(math.nan)
            continue
        t, stalled = weld_figures
        alone, paced = t.get("alone") or {}, t.get("alone_paced") or {}
        ratio = t.get("processing_p99_ms", math.nan) / alone.get("p99_ms", math.nan)
        paced_ratio = t.get("processing_p99_ms", math.nan) / paced.get("p99_ms", math.nan)
        paced_ratios.append(paced_ratio)
        ratios.append(ratio)
        latencies.append(t.get("exposure_to_correction_p99_ms", math.nan))
        print(
            f"  {name:<14} {three(t, 'exposure_to_correction'):>21} "
            f"{three(t, 'exposure_to_processed'):>20} {three(t, 'exposure_to_received'):>19} "
            f"{three(t, 'received_to_started'):>18} {three(t, 'processing'):>17} "
            f"{alone.get('p50_ms', math.nan):5.2f}/{alone.get('p99_ms', math.nan):5.2f} "
            f"{ratio:9.2f} "
            f"{paced.get('p50_ms', math.nan):5.2f}/{paced.get('p99_ms', math.nan):5.2f} "
            f"{paced_ratio:5.2f} {t.get('correction_lateness_p99_ms', math.nan):10.2f} "
            f"{stalled['count']:>4} ({stalled['longest_ms']:4.1f}) {stalled['load']:5.1f}"
        )
    print(
        "  (late ticks: the correction stream's lateness p99, ms; stalls: count (longest ms);\n"
        "  load: the machine's 1-minute load average as the weld started)"
    )
    print(
        "\nIn the simulated sensor, over the run (ms, p50/p99): the trigger's wake-up late, the\n"
        "  wait for the truth at the exposure, rendering, and trigger to the frame's last byte\n"
        "  sent to the controller (the rest of exposure -> received is the controller's receive)"
    )
    print(
        f"  {'weld':<26} {'wake late':>11} {'truth wait':>11} {'render':>11} {'trigger->sent':>13}"
    )
    for name, camera in cameras.items():
        cells = [
            "/".join(f"{camera.get(f'{way}_{q}_ms', math.nan):.2f}" for q in ("p50", "p99"))
            for way in ("wake_late", "truth_wait", "render", "trigger_to_sent")
        ]
        print(f"  {name:<26} {cells[0]:>11} {cells[1]:>11} {cells[2]:>11} {cells[3]:>13}")
    met = sum(v <= 4.0 for v in latencies)
    print(goal(
        "exposure to correction p99", met == len(latencies),
        f"{met} of {len(latencies)} welds <= 4 ms (worst {np.nanmax(latencies):.2f} ms)",
    ))  # fmt: skip
    # "Alone" for the goal is the same frames at the rate the sensor sends them: a core that
    # idles 8 ms between frames gives the vision back with its caches cold, in the controller
    # and alone alike (the per-frame figures at the top show it with nothing else running).
    # Back to back, a core never idle, is printed beside it: what is left above it is not
    # the controller's doing.
    met = sum(r <= 1.5 for r in paced_ratios)
    print(goal(
        "processing in the controller p99", met == len(paced_ratios),
        f"{met} of {len(paced_ratios)} welds <= 1.5x the same frames alone at the sensor's "
        f"frame rate (worst {np.nanmax(paced_ratios):.2f}x)",
    ))  # fmt: skip
    met = sum(r <= 1.5 for r in ratios)
    print(
        f"  [info] against the same frames back to back (the core never idle): {met} of "
        f"{len(ratios)} welds <= 1.5x (worst {np.nanmax(ratios):.2f}x)"
    )
