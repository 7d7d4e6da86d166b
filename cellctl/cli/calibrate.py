"""``cellctl calibrate``: the sensor's calibration file from frames of the chessboard target.

    cellsim calibration-frames --out /tmp/target          # the simulator renders the target
    cellctl calibrate --frames /tmp/target --out config/sensor-calibration.yaml

On a real sensor the frames are taken the same way: view 00 with the board in the jig, the
others with the board held in different tilts and heights under the laser; each view as a
pair, ``lit_NN.png`` (sensor light on, laser off) and ``laser_NN.png`` (laser only).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def run_calibrate(args: argparse.Namespace) -> int:
    # Imported here (OpenCV): the parser of every command is built without them.
    import cv2

    from cellctl.sensing.vision.calibration import CalibrationError, CalibrationTarget, calibrate

    folder = Path(args.frames)
    views = []
    for lit_path in sorted(folder.glob("lit_*.png")):
        laser_path = lit_path.with_name(lit_path.name.replace("lit_", "laser_"))
        lit = cv2.imread(str(lit_path), cv2.IMREAD_GRAYSCALE)
        laser = cv2.imread(str(laser_path), cv2.IMREAD_GRAYSCALE)
        if lit is None or laser is None:
            print(
                f"cellctl calibrate: {lit_path} or {laser_path} is missing or unreadable",
                file=sys.stderr,
            )
            return 2
        views.append((lit, laser))
    try:
        target = CalibrationTarget.load(Path(args.target))
        calibration = calibrate(views, target)
    except CalibrationError as error:
        print(f"cellctl calibrate: {error}", file=sys.stderr)
        return 1
    out = Path(args.out)
    calibration.save(out, note=f"{len(views)} views from {folder}")
    print(
        f"{out}: {calibration.width_px}x{calibration.height_px} px, f {calibration.fx:.1f} px, "
        f"reprojection {calibration.reprojection_rms_px:.3f} px RMS, laser plane "
        f"{calibration.laser_plane_rms_mm:.4f} mm RMS"
    )
    return 0


def add_parser(commands: Any) -> None:
    calibrate = commands.add_parser(
        "calibrate", help="compute the laser sensor's calibration from frames of the target"
    )
    calibrate.add_argument(
        "--frames", required=True, help="folder of lit_NN.png / laser_NN.png pairs (view 00: jig)"
    )
    calibrate.add_argument("--target", default="config/vision/calibration-target.yaml")
    calibrate.add_argument("--out", default="config/sensor-calibration.yaml")
    calibrate.set_defaults(handler=run_calibrate)
