"""A frame's CPU, stage by stage, on both sides of the sensor link (``python -m bench frame_cpu``).

CPU time (``time.thread_time``), not wall time: it is what a frame costs whatever else runs on
the machine, so it can be measured, and compared before and after a change, on a shared
machine whose latencies are noise. Per frame of a weld along each scenario's seam, in this
process:

- the simulated sensor: ``look`` (where the laser line crosses the true joint, the robot's
  pose given), ``render`` (the pixels), ``encode`` (header and payload) and ``send`` (into a
  loopback TCP connection);
- the controller: ``receive`` (a reader thread: the header and payload out of the socket,
  decoded), then the vision: ``stripe`` (extraction), ``triangulate`` (pixels to mm) and
  ``joint`` (detection), and ``measure`` (the finder's whole call, the three and its checks).

The correction's own work (the look-ahead buffer, the stream's tick) is not here: it is
measured inside the running controller (its seam record's ``processing_cpu``).

Figures: p50 and p99 per stage in microseconds, and each stage's share of the frame's total
(p50s). Compare two versions of the code by running this file with each on ``PYTHONPATH``,
alternately, in the same minutes: the ratios of their p50s are what a change saved.
"""

from __future__ import annotations

import math
import socket
import threading
import time
from pathlib import Path

import numpy as np

from cellctl.sensing.vision.calibration import Calibration
from cellctl.sensing.vision.pipeline import JointFinder
from drivers.codecs.robot_protocol import Pose
from drivers.codecs.sensor_protocol import (
    HEADER_BYTES,
    Frame,
    decode_frame,
    decode_header,
    encode_frame,
)
from sim.devices.sensor import SimulatedSensor
from sim.devices.sensor_render import CameraModel, Disturbances
from sim.truth.part import load_true_part, load_vision_scenario

REPO = Path(__file__).resolve().parent.parent
FRAMES = 600
TRAVEL_MM_PER_FRAME = 12.0 / 125  # 12 mm/s at 125 frames/s
WELDS = (("offset", "coupon-fillet-80"), ("heavy-spatter", "coupon-fillet-80"),
         ("gap-variation", "plate-v60"))  # fmt: skip
SIM_STAGES = ("look", "render", "encode", "send")
VISION_STAGES = ("receive", "stripe", "triangulate", "joint", "measure")


class _Timed:
    """Wraps a callable: adds each call's CPU time (ns) to ``spent``."""

    def __init__(self, function, spent: list[int]) -> None:
        self.function = function
        self.spent = spent

    def __call__(self, *args, **kwargs):
        started = time.thread_time_ns()
        try:
            return self.function(*args, **kwargs)
        finally:
            self.spent.append(time.thread_time_ns() - started)


class _Receiver(threading.Thread):
    """The controller's side of the link: reads and decodes frames, CPU per frame."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__(name="frame receiver", daemon=True)
        self.sock = sock
        self.frames: list[Frame] = []
        self.cpu_ns: list[int] = []

    def run(self) -> None:
        header = bytearray(HEADER_BYTES)
        while True:
            started = time.thread_time_ns()
            if not self._fill(memoryview(header)):
                return
            frame_header = decode_header(header)
            payload = bytearray(frame_header.payload_bytes)
            if not self._fill(memoryview(payload)):
                return
            frame = decode_frame(frame_header, payload, copy=False)
            self.cpu_ns.append(time.thread_time_ns() - started)
            self.frames.append(frame)

    def _fill(self, view: memoryview) -> bool:
        got = 0
        while got < len(view):
            n = self.sock.recv_into(view[got:])
            if n == 0:
                return False
            got += n
        return True


def weld_cpu(scenario_name: str, part_name: str, frames: int = FRAMES) -> dict[str, list[int]]:
    """CPU per frame (ns) of every stage over ``frames`` frames along the part's first seam."""
    scenario = load_vision_scenario(REPO / "config" / "vision" / f"{scenario_name}.yaml")
    part = load_true_part(REPO / "config" / "parts" / f"{part_name}.yaml", scenario)
    seam = part.seams[0]
    assert seam.path is not None
    at = {"s": 5.0}

    def tool_pose() -> Pose:
        return Pose(*seam.path.extended_point(at["s"]))

    sensor = SimulatedSensor(
        part, tool_pose, lookahead_mm=30.0, frame_rate_hz=125.0, camera=CameraModel(),
        disturbances=Disturbances(**scenario.disturbances), seed=scenario.seed,
    )  # fmt: skip
    calibration = Calibration.load(REPO / "config" / "sensor-calibration.yaml")
    calibration.pixel_tables()
    finder = JointFinder(calibration, seam.joint, seam.work_angle_deg)
    spent: dict[str, list[int]] = {stage: [] for stage in SIM_STAGES + VISION_STAGES}
    finder.extractor.extract = _Timed(finder.extractor.extract, spent["stripe"])
    finder.calibration.stripe_to_sensor = _Timed(
        finder.calibration.stripe_to_sensor, spent["triangulate"]
    )
    finder.detector.detect = _Timed(finder.detector.detect, spent["joint"])
    server = socket.create_server(("127.0.0.1", 0))
    sender = socket.create_connection(server.getsockname())
    sender.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    receiving, _ = server.accept()
    server.close()
    receiver = _Receiver(receiving)
    receiver.start()
    try:
        for number in range(1, frames + 1):
            at["s"] = 5.0 + number * TRAVEL_MM_PER_FRAME
            t0 = time.thread_time_ns()
            _, _, view = sensor.look()
            t1 = time.thread_time_ns()
            rendered = sensor.renderer.render(view)
            t2 = time.thread_time_ns()
            data = encode_frame(Frame(number, number, rendered.pixels, rendered.laser_on))
            t3 = time.thread_time_ns()
            sender.sendall(data)
            t4 = time.thread_time_ns()
            for stage, took in zip(SIM_STAGES, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
                spent[stage].append(took)
            while len(receiver.frames) < number:  # the frame through before the next one
                time.sleep(0.0002)
            started = time.thread_time_ns()
            finder.measure(receiver.frames[-1].pixels, number)
            spent["measure"].append(time.thread_time_ns() - started)
            receiver.frames[-1] = None  # type: ignore[call-overload]  # its memory back
    finally:
        sender.close()
        receiver.join(5)
        receiving.close()
    spent["receive"] = receiver.cpu_ns
    return spent


def _figures(spent: dict[str, list[int]]) -> dict[str, dict[str, float]]:
    p50 = {stage: float(np.percentile(v, 50)) for stage, v in spent.items() if v}
    sides = {"simulator": SIM_STAGES, "controller": ("receive", "measure")}
    totals = {side: sum(p50[s] for s in stages) for side, stages in sides.items()}
    out = {}
    for stage, values in spent.items():
        if not values:
            continue
        side = "simulator" if stage in SIM_STAGES else "controller"
        out[stage] = {
            "p50_us": p50[stage] / 1e3,
            "p99_us": float(np.percentile(values, 99)) / 1e3,
            "share_of_side": p50[stage] / totals[side] if totals[side] else math.nan,
        }
    out["_totals_p50_us"] = {side: total / 1e3 for side, total in totals.items()}
    return out


def main() -> dict:
    from cellctl.sensing.vision import stripe

    print(f"CPU per frame (thread time, us), {FRAMES} frames at 640x480 per weld; "
          f"compiled stripe pass: {stripe.COMPILED}")  # fmt: skip
    results = {}
    for scenario, part in WELDS:
        figures = _figures(weld_cpu(scenario, part))
        results[f"{scenario}/{part}"] = figures
        print(f"\n{scenario} on {part}:")
        for stage in SIM_STAGES + VISION_STAGES:
            f = figures[stage]
            print(f"  {stage:12s} p50 {f['p50_us']:8.1f}  p99 {f['p99_us']:8.1f}"
                  f"  {100 * f['share_of_side']:5.1f}% of its side")  # fmt: skip
        totals = figures["_totals_p50_us"]
        print(f"  simulator total p50 {totals['simulator']:.1f} us, "
              f"controller total p50 {totals['controller']:.1f} us")  # fmt: skip
    return results


if __name__ == "__main__":
    main()
