"""Vision and seam tracking against the simulator's truth (``python -m bench vision``).

1. Per frame, on one core: stripe extraction + triangulation + joint detection (the region of
   interest following the line, as in tracking) at 640x480 and 1280x1024, beside a plain
   per-column argmax; the stripe's sub-pixel error against the rendered truth, beside the
   argmax's.
2. Closed loop against open loop (tracking off, seam finding on) and the taught path (no
   sensor: the scenario's deviation itself), per scenario, at 1x real time
   with 12 mm/s travel: the simulator (``cellsim all --vision``) and the controller
   (``cellctl run``) as separate processes, exactly as in the cell; the simulator scores the
   torch against the true seam at every physics step (lateral and vertical, RMS and max).
   plate-v60's root pass weaves (1.5 mm triangle at 2 Hz): the torch's score is its weave's
   centre; those scenarios are welded closed loop once more with the weave off ("plain").
   With two cores or more the simulator gets one and the controller the others: the
   simulator stands for the robot, the PLC, the power source and the sensor, each with
   processors of its own in a cell, and should not take the controller's core.
3. From the controller's own seam records: frame exposure to measurement ready and to the
   first correction sent with it (p99), the correction stream's achieved rate and p99
   lateness over each seam; beside them, the machine's own stalls during each weld
   (``bench/stalls.py``): a frame exposed or measured while the host had the cores is late
   whatever the cell's software does.

Goals (issue 4): closed loop RMS <= 0.10 mm and max <= 0.25 mm; 640x480 <= 0.5 ms p99,
1280x1024 <= 2 ms p99; sub-pixel RMS <= 0.1 px; exposure to correction <= 4 ms p99.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

from bench.stalls import MachineStalls
from bench.stats import goal, percentile
from cellctl.cli.demo import operate, prepare_run_folder
from cellctl.sensing.vision.calibration import Calibration
from cellctl.sensing.vision.pipeline import JointFinder
from cellctl.sensing.vision.stripe import StripeExtractor, argmax_rows
from cellctl.testing import Operator, free_port, stop_process
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


def _one_core() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})


def _give_cores(process: subprocess.Popen, simulator: bool) -> None:
    """The simulator on the first core, the controller on the rest (see the docstring)."""
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_setaffinity") else []
    if len(cores) >= 2:
        os.sched_setaffinity(process.pid, set(cores[:1] if simulator else cores[1:]))


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
        for i in range(FRAMES_PER_SIZE):
            lateral = 3 * np.sin(i / 40)
            x, z = seam_to_sensor(lateral, 0.5, 45.0)
            pixels = dirty.render(JointView("fillet", x, z, 0, 0, 45.0)).pixels
            started = time.perf_counter()
            measurement = finder.measure(pixels)
            pipeline_s.append(time.perf_counter() - started)
            ok += measurement.ok
            started = time.perf_counter()
            argmax_rows(pixels)
            argmax_s.append(time.perf_counter() - started)
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


def _prepare(run_dir: Path, part: str, tracking: bool, weave: bool = True) -> Path:
    derived = prepare_run_folder(REPO / "config" / "cell.yaml", run_dir, part)
    cell = yaml.safe_load(derived.read_text())
    cell["sensor"]["enabled"] = True
    derived.write_text(yaml.safe_dump(cell))
    # The bench's travel speed (10-15 mm/s) on the part's procedure, and tracking on or off.
    program_path = run_dir / "config" / "parts" / f"{part}.yaml"
    program = yaml.safe_load(program_path.read_text())
    for seam in program["seams"]:
        seam["sensing"]["tracking"] = tracking
        procedure_path = run_dir / "config" / "procedures" / f"{seam['procedure']}.yaml"
        procedure = yaml.safe_load(procedure_path.read_text())
        procedure["travel_speed_mm_per_s"] = TRAVEL_MM_PER_S
        procedure["bands"]["travel_speed_mm_per_s"] = {"min": 10.0, "max": 14.0}
        if not weave:
            procedure["weave"] = {"pattern": "none"}
        procedure_path.write_text(yaml.safe_dump(procedure))
    program_path.write_text(yaml.safe_dump(program))
    return derived


def weld(scenario: str, part: str, tracking: bool, weave: bool = True) -> dict:
    """One part at 1x in two processes; the simulator's score and the seam records."""
    run_dir = Path(tempfile.mkdtemp(prefix="bench-vision-"))
    derived = _prepare(run_dir, part, tracking, weave)
    control_port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    ready = run_dir / "ready.json"
    logs = {n: open(run_dir / f"{n}.log", "w") for n in ("cellsim", "controller")}  # noqa: SIM115
    processes: dict[str, subprocess.Popen] = {}
    try:
        processes["cellsim"] = subprocess.Popen(
            [sys.executable, "-m", "sim.cli", "all", "--config", str(derived),
             "--control-port", str(control_port), "--ready-file", str(ready),
             "--vision", str(REPO / "config" / "vision" / f"{scenario}.yaml")],
            stdout=logs["cellsim"], stderr=subprocess.STDOUT, env=env,
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
        with MachineStalls() as stalls:
            asyncio.run(operate(operator, 1, 1, processes, 240))
        scores = asyncio.run(operator.do("sensor.truth"))
        seams = operator.query("SELECT summary_json FROM seams ORDER BY id")
        tracking_stats = [json.loads(s["summary_json"]).get("tracking") or {} for s in seams]
        return {"scores": scores, "tracking": tracking_stats, "machine_stalls": stalls.summary()}
    except Exception as error:
        for log in logs.values():
            log.flush()
        tail = (run_dir / "controller.log").read_text().splitlines()[-6:]
        raise RuntimeError(f"{error}; controller log: " + " | ".join(tail)) from error
    finally:
        for process in processes.values():
            stop_process(process)
        for log in logs.values():
            log.close()
        shutil.rmtree(run_dir, ignore_errors=True)


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
    os.sched_setaffinity(0, os.sched_getaffinity(0) | set(range(os.cpu_count() or 1)))

    print(f"\nClosed vs open loop at 1x, {TRAVEL_MM_PER_S:g} mm/s (torch vs true seam, mm)")
    header = (
        f"  {'scenario':<14} {'loop':<7} {'lat RMS':>8} {'lat max':>8} {'vert RMS':>8} "
        f"{'vert max':>8} {'RMS':>7} {'max':>7}"
    )
    print(header)
    loops = {}
    for scenario, part in SCENARIOS:
        taught = taught_figures(scenario, part)
        loops[f"{scenario}/taught"] = {"scores": [taught]}
        print(
            f"  {scenario:<14} {'taught':<7} {taught['lateral_rms_mm']:8.3f} "
            f"{taught['lateral_max_mm']:8.3f} {taught['vertical_rms_mm']:8.3f} "
            f"{taught['vertical_max_mm']:8.3f} {taught['rms_mm']:7.3f} {taught['max_mm']:7.3f}"
        )
        runs = [(True, True), (False, True)]
        if (scenario, part) in WEAVE_OFF_TOO:
            runs.append((True, False))  # "plain": closed loop, the weave taken off
        for tracking, weave in runs:
            label = ("closed" if tracking else "open") if weave else "plain"
            result = None
            for attempt in (1, 2):  # a run that faulted is printed, and tried once more
                try:
                    result = weld(scenario, part, tracking, weave)
                    break
                except Exception as error:
                    print(f"  {scenario:<14} {label:<7} FAILED (try {attempt}): {error}")
                    loops[f"{scenario}/{label}/failed{attempt}"] = {"error": str(error)}
            if result is None:
                continue
            loops[f"{scenario}/{label}"] = result
            for score in result["scores"]:
                print(
                    f"  {scenario:<14} {label:<7} {score['lateral_rms_mm']:8.3f} "
                    f"{score['lateral_max_mm']:8.3f} {score['vertical_rms_mm']:8.3f} "
                    f"{score['vertical_max_mm']:8.3f} {score['rms_mm']:7.3f} {score['max_mm']:7.3f}"
                )
    figures["loops"] = loops
    closed = [s for k, v in loops.items() if k.endswith(("/closed", "/plain")) for s in v["scores"]]
    if closed:
        worst_rms = max(s["rms_mm"] for s in closed)
        worst_max = max(s["max_mm"] for s in closed)
        print(goal("closed loop RMS", worst_rms <= 0.10, f"worst {worst_rms:.3f} mm (<= 0.10)"))
        print(goal("closed loop max", worst_max <= 0.25, f"worst {worst_max:.3f} mm (<= 0.25)"))

    stats = [
        t for k, v in loops.items() if k.endswith(("/closed", "/plain")) for t in v["tracking"]
    ]
    stats = [t for t in stats if t]
    if stats:
        print("\nController's own figures over each closed-loop seam")
        for key in (
            "exposure_to_processed_p99_ms",
            "exposure_to_correction_p99_ms",
            "processing_p99_ms",
            "correction_rate_hz",
            "correction_lateness_p99_ms",
            "tracking_rms_mm",
            "tracking_max_mm",
        ):
            values = [t[key] for t in stats if key in t]
            if values:
                print(f"  {key:<32} worst {max(values):8.3f}  best {min(values):8.3f}")
        print(
            "  per weld: exposure to correction p99, and the machine's own stalls meanwhile\n"
            "  (a real-time thread per core sleeps 2 ms and wakes over 2 ms late: bench/stalls.py)"
        )
        for key, result in loops.items():
            if key.endswith("/closed"):
                p99 = [t.get("exposure_to_correction_p99_ms", math.nan) for t in result["tracking"]]
                stalled = result["machine_stalls"]
                print(
                    f"    {key.removesuffix('/closed'):<14} "
                    + ", ".join(f"{v:.2f} ms" for v in p99)
                    + f"   stalls {stalled['count']}, longest {stalled['longest_ms']:.1f} ms"
                )
        worst = max(t.get("exposure_to_correction_p99_ms", float("nan")) for t in stats)
        print(goal("exposure to correction p99", worst <= 4.0, f"worst {worst:.2f} ms (<= 4)"))
    return figures
