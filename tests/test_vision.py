"""The laser sensor's frame codec, driver, vision and calibration, on rendered frames.

The simulator's renderer draws frames of joints whose truth it knows (root point, gap,
mismatch, the stripe's centre row in every column); the controller's vision must find them.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import socket
import threading
from pathlib import Path

import numpy as np
import pytest

from cellctl.config.sensor_models import StripeSettings, TrackingSettings
from cellctl.sensing.track import SeamTrack
from cellctl.sensing.vision.calibration import Calibration, CalibrationTarget, calibrate
from cellctl.sensing.vision.pipeline import JointFinder
from cellctl.sensing.vision.stripe import StripeExtractor, argmax_rows
from cellctl.testing import free_port
from drivers.codecs.robot_protocol import Pose
from drivers.codecs.sensor_protocol import (
    Frame,
    FrameFormatError,
    decode_frame,
    decode_header,
    encode_frame,
)
from drivers.errors import LinkDown
from drivers.sensor import SensorDriver, record_frame
from sim.devices.sensor import MAX_EXPOSURE_LAG_S, SimulatedSensor, next_trigger_s
from sim.devices.sensor_render import (
    CalibrationTarget as SimTarget,
)
from sim.devices.sensor_render import (
    CameraModel,
    Disturbances,
    JointView,
    StripeRenderer,
    render_calibration_views,
    seam_to_sensor,
)
from sim.truth.part import TruePart, TrueSeam
from tests.waiting import eventually

REPO = Path(__file__).resolve().parent.parent
CALIBRATION = Calibration.load(REPO / "config" / "sensor-calibration.yaml")
# Each joint type at both ends of the torch work angles used in practice (the sensor is
# tilted with the torch), and a lap seen straight down (its edge edge-on: the line jumps).
JOINTS = [
    ("fillet", 35.0),
    ("fillet", 55.0),
    ("lap", 40.0),
    ("lap", 70.0),
    ("lap", 0.0),
    ("v_groove_butt", 0.0),
    ("v_groove_butt", 15.0),
    ("square_butt", 0.0),
    ("square_butt", 15.0),
]
DIRTY = Disturbances(spatter_per_frame=3, speckle=0.12, dropout_probability=0.3)


# -- the frame codec ----------------------------------------------------------------------------


def test_frame_codec_round_trips_and_refuses_a_garbled_header():
    pixels = np.arange(64 * 48, dtype=np.uint32).astype(np.uint8).reshape(48, 64)
    data = encode_frame(Frame(7, 123_456_789, pixels))
    header = decode_header(data)
    assert (header.frame_number, header.exposure_ns, header.width_px, header.height_px) == (
        7,
        123_456_789,
        64,
        48,
    )
    frame = decode_frame(header, data[32:])
    assert np.array_equal(frame.pixels, pixels)
    spoiled = bytearray(data)
    spoiled[10] ^= 0xFF
    with pytest.raises(FrameFormatError, match="CRC"):
        decode_header(bytes(spoiled))
    with pytest.raises(FrameFormatError, match="magic"):
        decode_header(b"XXXX" + data[4:32])


# -- stripe and joints on rendered frames ---------------------------------------------------


def test_stripe_centres_are_sub_pixel_and_beat_the_plain_argmax():
    renderer = StripeRenderer(CameraModel(), Disturbances(), seed=4)
    rng = np.random.default_rng(4)
    errors, argmax_errors = [], []
    extractor = StripeExtractor()
    for _ in range(20):
        view = JointView("fillet", rng.uniform(-5, 5), rng.uniform(-3, 3), 0, 0, 45)
        frame = renderer.render(view)
        extractor.reset()
        rows = extractor.extract(frame.pixels).rows
        both = np.isfinite(rows) & np.isfinite(frame.stripe_rows)
        assert both.sum() > 0.95 * np.isfinite(frame.stripe_rows).sum()
        errors.append(rows[both] - frame.stripe_rows[both])
        argmax = argmax_rows(frame.pixels)
        ok = np.isfinite(argmax) & np.isfinite(frame.stripe_rows)
        argmax_errors.append(argmax[ok] - frame.stripe_rows[ok])
    rms = float(np.sqrt(np.mean(np.concatenate(errors) ** 2)))
    argmax_rms = float(np.sqrt(np.mean(np.concatenate(argmax_errors) ** 2)))
    assert rms < 0.1
    assert rms < argmax_rms / 2


def test_a_speck_of_spatter_on_a_face_does_not_cut_it_away():
    # Line on row 200 with a joint's gap (columns 300..339); a speck 15 rows below the line
    # at columns 280..284, where the line is hidden. The 15 columns between speck and gap
    # are too short to keep on their own: they must join the face across the speck.
    rows = np.arange(480)[:, None]
    image = (10 + 200 * np.exp(-((rows - 200.0) ** 2) / 2.0) * np.ones((1, 640))).astype(np.uint8)
    image[:, 300:340] = 10
    image[:, 280:285] = 10
    image[214:217, 280:285] = 250
    stripe = StripeExtractor().extract(image)
    assert np.isfinite(stripe.rows[285:300]).all()
    assert np.isnan(stripe.rows[280:285]).all()  # the speck itself is dropped
    assert np.isnan(stripe.rows[300:340]).all()  # the gap stays a gap


def test_the_line_is_kept_where_it_jumps_while_the_joint_moves_sideways():
    # A square butt at 15°: the line runs down the near plate's edge into the gap and jumps
    # back up to the far plate. The joint moving sideways brings the far plate's first
    # columns where the band, carried across the jump, lay at the bottom of the gap: they
    # were lost frame after frame (3-4 columns, the gap a quarter wider, the root 0.1 mm off).
    renderer = StripeRenderer(CameraModel(), Disturbances(), seed=9)
    extractor = StripeExtractor()
    for lateral in np.linspace(2.0, -1.0, 40):
        x, z = seam_to_sensor(lateral, 0.0, 15)
        frame = renderer.render(JointView("square_butt", x, z, 1.0, 0.0, 15))
        rows = extractor.extract(frame.pixels).rows
        missing = np.isfinite(frame.stripe_rows) & np.isnan(rows)
        assert np.count_nonzero(missing) <= 1, np.flatnonzero(missing)


@pytest.mark.parametrize(("joint", "work_angle"), JOINTS)
def test_each_joint_type_is_found_where_the_truth_is(joint, work_angle):
    renderer = StripeRenderer(CameraModel(), Disturbances(), seed=5)
    finder = JointFinder(CALIBRATION, joint, work_angle)
    rng = np.random.default_rng(5)
    for _ in range(25):
        lateral, vertical = rng.uniform(-6, 6), rng.uniform(-3, 3)
        gap, mismatch = rng.uniform(0.6, 2.5), rng.uniform(-0.5, 0.5)
        x, z = seam_to_sensor(lateral, vertical, work_angle)
        frame = renderer.render(JointView(joint, x, z, gap, mismatch, work_angle))
        finder.reset()
        found = finder.measure(frame.pixels)
        assert found.ok, found.reason
        assert abs(found.lateral_mm - lateral) < 0.15
        assert abs(found.vertical_mm - vertical) < 0.2
        if joint in ("square_butt", "v_groove_butt"):
            assert abs(found.gap_mm - gap) < 0.35
        if joint == "square_butt":
            assert abs(found.mismatch_mm - mismatch) < 0.1


@pytest.mark.parametrize(("joint", "work_angle"), JOINTS)
def test_spatter_and_dropouts_are_measured_right_or_refused(joint, work_angle):
    """A dirty frame is measured right, or says it has no trustworthy joint.

    Known short of "never": next to a butt joint's gap, a dropout or a spatter hole can make
    the gap look wider for a frame (a few per cent of frames, 0.3-1 mm off); the tracker's
    outlier gate takes those out, and the fillet (the bench's joint) shows none."""
    renderer = StripeRenderer(CameraModel(), DIRTY, seed=6)
    finder = JointFinder(CALIBRATION, joint, work_angle)
    rng = np.random.default_rng(6)
    found_ok = 0
    errors = []
    lateral, vertical = 1.0, 0.5
    for _ in range(40):
        # A seam seen frame after frame: the joint moves a little between frames.
        lateral += rng.normal(0, 0.05)
        x, z = seam_to_sensor(lateral, vertical, work_angle)
        frame = renderer.render(JointView(joint, x, z, 1.5, 0.3, work_angle))
        found = finder.measure(frame.pixels)
        if np.isnan(frame.stripe_rows).all():
            assert not found.ok  # the whole line dropped out
        if found.ok:
            found_ok += 1
            errors.append(math.hypot(found.lateral_mm - lateral, found.vertical_mm - vertical))
    assert found_ok >= 20
    assert np.median(errors) < 0.1
    wrong = sum(e > 0.3 for e in errors)
    assert wrong <= (0 if joint == "fillet" else 0.1 * len(errors))


def drawn_in_seam_frame(camera: CameraModel, view: JointView) -> tuple[np.ndarray, np.ndarray]:
    """The line the renderer draws for ``view``, back in the seam frame relative to the root
    (lateral, vertical; mm): each column's true centre row through the true camera, met with
    the laser plane (y = 0), the sensor's tilt undone."""
    rows = StripeRenderer(camera, Disturbances()).stripe_rows(view)
    columns = np.flatnonzero(np.isfinite(rows))
    rays = camera.rays(columns.astype(float), rows[columns])
    centre = camera.center_mm
    reach = -centre[1] / rays[:, 1]
    x = centre[0] + reach * rays[:, 0] - view.root_x_mm
    z = centre[2] + reach * rays[:, 2] - view.root_z_mm
    a = math.radians(view.work_angle_deg)
    return math.cos(a) * x + math.sin(a) * z, -math.sin(a) * x + math.cos(a) * z


def test_a_tilted_sensor_sees_plate_edges_and_the_shadows_they_cast():
    camera = CameraModel()
    # A lap welded at 45°: the upper plate's 3 mm edge faces the sensor and is drawn, whole.
    lateral, vertical = drawn_in_seam_frame(camera, JointView("lap", 0.0, 0.0, 0, 0, 45))
    edge = (np.abs(lateral) < 0.01) & (vertical > 0.05) & (vertical < 2.95)
    assert np.count_nonzero(edge) >= 20
    assert np.ptp(vertical[edge]) > 2.5
    # Straight down, the joint 5 mm right of the sensor: the edge faces away, and the upper
    # plate hides the lower one just beside it from the laser and the camera (~0.16 mm).
    x, z = seam_to_sensor(5.0, 0.0, 0)
    lateral, vertical = drawn_in_seam_frame(camera, JointView("lap", x, z, 0, 0, 0))
    lower = np.abs(vertical) < 0.01
    assert not np.any(lower & (lateral > 0.01) & (lateral < 0.14))
    assert np.any(lower & (lateral > 0.15) & (lateral < 0.3))
    assert not np.any((vertical > 0.05) & (vertical < 2.95))  # nothing of the edge face
    # A square butt at 15°, 1 mm gap: the sensor looks down the near plate's edge face until
    # the far plate's edge hides it, about gap / tan(15°) = 3.7 mm down.
    lateral, vertical = drawn_in_seam_frame(camera, JointView("square_butt", 0, 0, 1.0, 0, 15))
    face = np.abs(lateral + 0.5) < 0.01
    assert np.count_nonzero(face) >= 8
    assert 3.4 < -vertical[face].min() < 3.9
    assert not np.any(np.abs(lateral) < 0.45)  # nothing in the gap but that face


def test_a_flat_plate_has_no_joint():
    renderer = StripeRenderer(CameraModel(), Disturbances(), seed=7)
    frame = renderer.render(None)
    for joint, angle in JOINTS:
        found = JointFinder(CALIBRATION, joint, angle).measure(frame.pixels)
        assert not found.ok, joint
        assert found.reason


# -- calibration ------------------------------------------------------------------------------


def test_calibration_round_trip_recovers_the_true_optics(tmp_path):
    camera = CameraModel()
    views = render_calibration_views(camera, SimTarget(), count=8)
    target = CalibrationTarget.load(REPO / "config" / "vision" / "calibration-target.yaml")
    calibration = calibrate(views, target)
    calibration.save(tmp_path / "calibration.yaml")
    loaded = Calibration.load(tmp_path / "calibration.yaml")
    f, _, cx, cy = camera.intrinsics
    assert loaded.fx == pytest.approx(f, rel=0.005)
    assert loaded.cx == pytest.approx(cx, abs=2)
    assert loaded.cy == pytest.approx(cy, abs=3)
    assert np.allclose(loaded.camera_position_mm, camera.camera_position_mm, atol=0.5)
    # Pixels of a rendered joint back to millimetres: on the true profile.
    renderer = StripeRenderer(camera, Disturbances(), seed=8)
    rows = renderer.stripe_rows(JointView("fillet", 2.0, -1.0, 0, 0, 45))
    columns = np.nonzero(np.isfinite(rows))[0]
    x, z = loaded.triangulate(columns.astype(float), rows[columns])
    error = (z + 1.0) - np.abs(x - 2.0)  # the fillet's V: z - z0 = |x - x0|
    assert float(np.sqrt(np.mean(error**2))) < 0.06


@pytest.mark.parametrize(
    "calibration_file", ["sensor-calibration.yaml", "sensor-calibration-1280x1024.yaml"]
)
def test_stripe_points_from_the_pixel_tables_match_the_exact_triangulation(calibration_file):
    # The per-frame path interpolates per-pixel tables; the exact one undistorts each point.
    calibration = Calibration.load(REPO / "config" / calibration_file)
    rng = np.random.default_rng(3)
    columns = np.arange(calibration.width_px)
    rows = rng.uniform(0, calibration.height_px - 1, calibration.width_px)
    rows[:3] = (0.0, calibration.height_px - 1.0, 17.5)  # the first and last rows too
    exact_x, exact_z = calibration.triangulate(columns.astype(float), rows)
    x, z = calibration.stripe_to_sensor(columns, rows)
    assert np.abs(x - exact_x).max() < 1e-4
    assert np.abs(z - exact_z).max() < 1e-4


def test_a_broken_calibration_file_is_named(tmp_path):
    path = tmp_path / "calibration.yaml"
    path.write_text("camera: {fx: 1}\n")
    with pytest.raises(Exception, match=r"calibration\.yaml"):
        Calibration.load(path)


# -- the look-ahead buffer ----------------------------------------------------------------------


def test_seam_track_rejects_a_lone_outlier_but_follows_a_real_step():
    track = SeamTrack(TrackingSettings(outlier_gate_mm=0.5, outlier_persistence=4))
    for i in range(20):
        track.add(i * 0.2, 1.0, 0.0, 0.0)
    assert not track.add(4.0, 3.0, 0.0, 0.0)  # spatter taken for the joint, once
    for i in range(21, 40):
        track.add(i * 0.2, 1.0, 0.0, 0.0)
    assert track.deviation_at(4.0) == pytest.approx((1.0, 0.0))
    for i in range(40, 60):  # the joint steps by 2 mm and stays there
        track.add(i * 0.2, 3.0, 0.0, 0.0)
    assert track.deviation_at(11.0) == pytest.approx((3.0, 0.0))
    assert track.deviation_at(6.0) == pytest.approx((1.0, 0.0))
    assert track.rejected >= 1


# -- the driver against the simulated sensor ------------------------------------------------


def _sensor(port: int, rate: float = 100.0) -> SimulatedSensor:
    seam = TrueSeam("s", "fillet", 45.0, (0.0, 0.0, 0.0), (100.0, 0.0, 0.0), [])
    return SimulatedSensor(
        TruePart([seam]),
        lambda: Pose(10.0, 0.0, 0.0, 0.0, 0.0, 0.0),
        lookahead_mm=30,
        frame_rate_hz=rate,
        port=port,
    )


@pytest.mark.parametrize("stall_s", [0.0, 0.003, 0.0183, 0.0307, 0.5])
def test_the_simulated_cameras_trigger_keeps_its_clock_through_a_stall(stall_s):
    period_s = 0.008
    woke_s = 10 * period_s + stall_s  # the trigger thread meant to wake at 10 periods
    next_s = next_trigger_s(9 * period_s, woke_s, period_s)
    # On the camera's clock (a whole number of periods), the ones missed skipped: fired
    # at once if the instant is recent enough to expose at, else waited for.
    assert next_s / period_s == pytest.approx(round(next_s / period_s), abs=1e-9)
    assert woke_s - MAX_EXPOSURE_LAG_S <= next_s < woke_s - MAX_EXPOSURE_LAG_S + period_s
    assert next_s >= 10 * period_s


async def test_tcp_driver_hands_out_the_newest_frame_and_survives_a_lost_link():
    port = free_port()
    sensor = _sensor(port)
    await sensor.start()
    driver = SensorDriver(
        "tcp",
        f"127.0.0.1:{port}",
        frame_timeout_ms=300,
        reconnect_delay_min_ms=20,
        reconnect_delay_max_ms=100,
    )
    try:
        await driver.connect()
        await driver.wait_connected(5)
        first = await driver.next_frame()
        assert first.pixels.shape == (480, 640)
        # The controller is busy for a while: it must then get the newest frame, not the
        # next one in a queue.
        await asyncio.sleep(0.3)
        newest = await driver.next_frame(first.frame_number)
        assert newest.frame_number >= sensor.frames_exposed - 2
        assert newest.frame_number > first.frame_number + 10
        # Joint seen in the streamed frame: the truth says x0 = 0 at the seam's line.
        found = JointFinder(CALIBRATION, "fillet", 45).measure(newest.pixels)
        assert found.ok
        assert abs(found.lateral_mm) < 0.1
        sensor.unplug()
        down_error = None
        for _ in range(100):
            try:
                driver.latest()
            except LinkDown as error:
                down_error = error
                break
            await asyncio.sleep(0.01)
        assert down_error is not None, "the lost link was never reported"
        assert "sensor at 127.0.0.1" in str(down_error)
        await driver.wait_connected(5)  # reconnected by itself
        assert driver.stats.reconnects >= 1
    finally:
        await driver.close()
        await sensor.close()


async def test_the_vision_is_handed_the_newest_frame_not_a_backlog():
    # A sensor on a real socket: frame 1, then, while the vision is still busy with it,
    # frames 2 and 3. The vision is next handed 3: 2 is stale before it could start on it.
    server = socket.create_server(("127.0.0.1", 0))
    server.setblocking(False)
    port = server.getsockname()[1]
    pixels = np.zeros((48, 64), np.uint8)
    busy, go_on = threading.Event(), threading.Event()
    handed: list[int] = []

    def on_frame(frame: Frame) -> None:
        handed.append(frame.frame_number)
        busy.set()
        go_on.wait(5)

    driver = SensorDriver("tcp", f"127.0.0.1:{port}", frame_timeout_ms=5000)
    driver.on_frame = on_frame
    try:
        # connect() returns once the first frame has come (or the attempt failed).
        connecting = asyncio.create_task(driver.connect())
        connection, _ = await asyncio.get_running_loop().sock_accept(server)
        connection.setblocking(True)
        with connection:
            connection.sendall(encode_frame(Frame(1, 1_000_000, pixels)))
            await connecting
            await eventually(busy.is_set, 5, "the vision busy with frame 1")
            connection.sendall(
                encode_frame(Frame(2, 9_000_000, pixels))
                + encode_frame(Frame(3, 17_000_000, pixels))
            )
            await asyncio.sleep(0.2)  # both are in the kernel's buffer well before this
            go_on.set()
            await eventually(lambda: len(handed) >= 2, 2, "a second frame handed to the vision")
            # Read while the sensor is still connected: its hang-up ends the newest frame.
            assert driver.latest().frame_number == 3
        assert handed == [1, 3]
        assert driver.frames_stale == 1
    finally:
        go_on.set()
        await driver.close()
        server.close()


async def test_replay_backend_plays_a_recorded_run(tmp_path):
    renderer = StripeRenderer(CameraModel(), Disturbances(), seed=9)
    start_ns = 1_000_000_000
    for number in range(1, 6):
        x, z = seam_to_sensor(0.5 * number, 0.0, 45)
        rendered = renderer.render(JointView("fillet", x, z, 0, 0, 45))
        record_frame(tmp_path, Frame(number, start_ns + number * 50_000_000, rendered.pixels))
    driver = SensorDriver("replay", str(tmp_path))
    try:
        await driver.connect()
        frames = []
        after = -1
        with contextlib.suppress(LinkDown):  # the recording's end ends the link
            while True:
                frame = await driver.next_frame(after)
                after = frame.frame_number
                frames.append(frame)
        # Played whole, in order, at its pace (the newest frame each time the loop looks: a
        # loaded machine may see fewer of them, never an older one after a newer).
        assert driver.frames_received == 5
        numbers = [f.frame_number for f in frames]
        assert numbers == sorted(set(numbers)), numbers
        assert frames, "no frame of the recording seen"
        found = JointFinder(CALIBRATION, "fillet", 45).measure(frames[-1].pixels)
        assert found.ok
        assert math.isclose(found.lateral_mm, 0.5 * frames[-1].frame_number, abs_tol=0.1)
    finally:
        await driver.close()


def test_config_check_names_a_missing_calibration_file(tmp_path):
    import shutil

    from cellctl.config import ConfigInvalid, load_cell_config

    shutil.copytree(REPO / "config", tmp_path / "config")
    cell = tmp_path / "config" / "cell.yaml"
    text = cell.read_text().replace("  enabled: false", "  enabled: true", 1)
    cell.write_text(text.replace("sensor-calibration.yaml", "missing.yaml"))
    with pytest.raises(ConfigInvalid) as invalid:
        load_cell_config(cell)
    message = str(invalid.value.errors[0])
    assert "cell.yaml:" in message
    assert "sensor.calibration_file" in message
    assert "missing.yaml" in message


async def test_opencv_backend_reads_a_video_file(tmp_path):
    import cv2

    renderer = StripeRenderer(CameraModel(), Disturbances(), seed=10)
    path = tmp_path / "seam.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 50, (640, 480), False)
    assert writer.isOpened()
    x, z = seam_to_sensor(1.5, 0.0, 45)
    for _ in range(30):
        writer.write(renderer.render(JointView("fillet", x, z, 0, 0, 45)).pixels)
    writer.release()
    driver = SensorDriver("opencv", str(path))
    try:
        await driver.connect()
        await driver.wait_connected(5)
        frame = await driver.next_frame()
        assert frame.pixels.shape == (480, 640)
        found = JointFinder(CALIBRATION, "fillet", 45).measure(frame.pixels)
        assert found.ok
        assert abs(found.lateral_mm - 1.5) < 0.1  # through JPEG compression
    finally:
        await driver.close()


@pytest.mark.parametrize(
    ("joint", "work_angle", "width", "height"),
    [("fillet", 45.0, 6.0, 1.2), ("v_groove_butt", 0.0, 12.0, 1.5), ("square_butt", 0.0, 7.0, 1.0)],
)
def test_post_weld_profile_gives_the_beads_width_and_height(joint, work_angle, width, height):
    from cellctl.sensing.bead import measure_bead

    renderer = StripeRenderer(CameraModel(), Disturbances(), seed=12)
    finder = JointFinder(CALIBRATION, joint, work_angle)
    bare = renderer.render(JointView(joint, 0.5, 0.2, 1.5, 0.0, work_angle))
    x, z, _ = finder.profile(bare.pixels)
    assert not measure_bead(x, z, joint).ok  # no bead on an unwelded joint
    view = JointView(joint, 0.5, 0.2, 1.5, 0.0, work_angle, width, height)
    finder.reset()
    x, z, _ = finder.profile(renderer.render(view).pixels)
    bead = measure_bead(x, z, joint)
    assert bead.ok, bead.reason
    assert bead.width_mm == pytest.approx(width, rel=0.06)
    assert bead.height_mm == pytest.approx(height, abs=0.1)


def test_the_compiled_stripe_passes_are_built_and_give_the_numpy_results_exactly():
    """`make venv` builds the stripe's inner loops (_stripe.c); a recording made with them
    replays bit for bit where they are not built, and the other way round: the band's peaks,
    the centres and the short pieces of line dropped."""
    from cellctl.sensing.vision import stripe

    assert stripe.COMPILED, "cellctl/sensing/vision/_stripe.c is not built: run `make venv`"
    dirty = Disturbances(
        spatter_per_frame=6, glare=0.5, reflection=0.35, speckle=0.15, dropout_probability=0.1
    )
    renderer = StripeRenderer(CameraModel(), dirty, seed=5)
    profiles = []
    for i in range(40):
        x, z = seam_to_sensor(4 * math.sin(i / 7), 0.5, 45.0)
        image = np.ascontiguousarray(renderer.render(JointView("fillet", x, z, 1, 0, 45)).pixels)
        width = image.shape[1]
        columns = np.arange(width, dtype=np.intp)
        whole = image.argmax(axis=0).astype(np.intp)  # near the edges too: clamped
        results = []
        for centres in (stripe.centres, stripe._centres_numpy):
            peak_rows, rows = whole.copy(), np.empty(width)
            heights = np.empty(width, np.float32)
            centres(image, width, peak_rows, columns, 4, 0.25, 35.0, 7, rows, heights)
            results.append((rows, heights, peak_rows))
        (rows_c, heights_c, peaks_c), (rows_n, heights_n, peaks_n) = results
        assert np.array_equal(rows_c, rows_n, equal_nan=True)
        assert np.array_equal(heights_c, heights_n)
        assert np.array_equal(peaks_c, peaks_n)
        centre = np.clip(whole, 10, image.shape[0] - 11)
        band_c, band_n = np.empty(width, np.intp), np.empty(width, np.intp)
        stripe.band_peaks(image, width, centre, 10, band_c)
        stripe._band_peaks_numpy(image, width, centre, 10, band_n)
        assert np.array_equal(band_c, band_n)
        profiles.append(rows_c)
    # The short pieces of line dropped (spatter, specks): on these frames' rows and on rows
    # of every kind of piece, hole and jump, with the settings' values and others.
    rng = np.random.default_rng(6)
    for _ in range(500):
        rows = np.cumsum(rng.choice([0.0, 0.3, 1.0, 4.0, 30.0], 640, p=[0.6, 0.2, 0.1, 0.06, 0.04]))
        rows[rng.random(640) < rng.choice([0.0, 0.05, 0.3, 0.8])] = np.nan
        profiles.append(rows)
    for rows in profiles:
        for settings in (
            StripeSettings(),
            StripeSettings(max_run_gap_columns=1, min_run_columns=3),
        ):
            extractor = StripeExtractor(settings)
            compiled, numpy_rows = rows.copy(), rows.copy()
            index_c = extractor._reject_short_runs(compiled)
            index_n = extractor._reject_short_runs_numpy(numpy_rows)
            assert np.array_equal(compiled, numpy_rows, equal_nan=True)
            assert np.array_equal(index_c, index_n)
            assert index_c.dtype == index_n.dtype
    with pytest.raises(ValueError, match="half a band"):  # a band leaving the image: refused
        stripe.band_peaks(image, width, np.zeros(width, np.intp), 10, band_c)


def test_the_compiled_line_fits_give_the_numpy_fits_exactly():
    """Joint detection's robust line fit and its split between two faces (``_stripe.fit_line``,
    ``_stripe.split``) are the numpy ones bit for bit, so that a recording replays the same
    with them built or not: on faces of every slope with noise, stray points and ties, and
    on the profiles of rendered joints, dirty ones included."""
    from cellctl.sensing.vision import joint

    assert joint.COMPILED, "cellctl/sensing/vision/_stripe.c is not built: run `make venv`"
    rng = np.random.default_rng(8)
    faces = []
    for _ in range(1500):
        n = int(rng.integers(2, 300))
        along, angle = rng.uniform(-20, 20, n), rng.uniform(0, math.pi)
        x = np.sort(along * math.cos(angle))
        z = along * math.sin(angle) + rng.normal(0, rng.choice([0.0, 0.01, 0.1]), n)
        stray = rng.integers(0, n, int(rng.integers(0, n // 4 + 1)))
        z[stray] += rng.normal(0, 1, len(stray))
        faces.append((x, np.round(z, 1) if rng.random() < 0.1 else z))
    for joint_type, angle in (("fillet", 45.0), ("v_groove_butt", 0.0), ("lap", 0.0)):
        renderer = StripeRenderer(CameraModel(), DIRTY, seed=9)
        finder = JointFinder(CALIBRATION, joint_type, angle)
        for i in range(20):
            x0, z0 = seam_to_sensor(3 * math.sin(i / 5), 0.3, angle)
            pixels = renderer.render(JointView(joint_type, x0, z0, 1.2, 0.2, angle)).pixels
            x, z, count = finder.profile(pixels)
            if count >= 8:
                faces += [(x[: count // 2], z[: count // 2]), (x, z)]
    compiled, numpy_fit = np.empty(6), np.empty(6)
    for x, z in faces:
        joint.fit_line(x, z, 0.03, compiled)
        joint._fit_line_numpy(x, z, 0.03, numpy_fit)
        assert np.array_equal(compiled, numpy_fit), (len(x), compiled - numpy_fit)
        # Where two faces meet (here, at most: these are single faces as often as not).
        for min_points in (1, 4, 12):
            if len(x) >= 2 * min_points:
                assert joint.split(x, z, min_points) == joint._split_numpy(x, z, min_points)
    # A face with a speck of spatter over it: the speck dropped, the face fitted exactly.
    x = np.linspace(-5.0, 5.0, 41)
    z = 0.5 * x + 2.0
    z[7] += 1.0
    line = joint.fit_line_robust(x, z)
    assert line.points == 40
    assert line.rms == pytest.approx(0.0, abs=1e-12)
    assert line.z_at(4.0) == pytest.approx(4.0)
    for fit in (joint.fit_line, joint._fit_line_numpy):
        with pytest.raises(ValueError, match="2 points"):
            fit(np.zeros(1), np.zeros(1), 0.03, compiled)
    for split in (joint.split, joint._split_numpy):
        with pytest.raises(ValueError, match="2 min_points"):
            split(np.zeros(5), np.zeros(5), 3)
