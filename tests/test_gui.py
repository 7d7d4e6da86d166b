"""The operator HMI (pytest-qt, offscreen) against a real controller welding in the simulator.

Every screen shows live data, the buttons change the cell's state, role gating holds, and the
HMI survives the controller restarting. Screenshots of every screen are saved (see gui_rig).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import numpy as np
import pytest
from PySide6.QtGui import QImage

from cellctl.cell.packml import State
from cellctl.plant.opcua.certs import ClientTrust, make_certificate
from tests.gui_rig import CellInThread, artifacts, hmi, pump, screenshots
from tests.opcua_rig import SilentFlood
from tests.process_cell import ProcessCell

pytestmark = pytest.mark.slow


def _weld_trace_points(window) -> int:
    return min(len(plot.buffer) for plot in window.weld.plots.values())


async def _feed_tracking(server, stop: asyncio.Event) -> None:
    """What the vision work will do through the server's setters: a profile with its joint and
    the correction at the torch, here a V-groove profile drifting slowly sideways."""
    y = np.linspace(-15, 15, 301)
    position = 0.0
    while not stop.is_set():
        drift = 0.5 * np.sin(position / 20)
        z = np.minimum(0.0, np.abs(y - drift) - 4.0)
        server.publish_profile(y, z, (drift, -4.0))
        server.publish_tracking(drift, 0.1 * np.cos(position / 15), position_mm=position)
        position = (position + 2.0) % 150
        await asyncio.sleep(0.05)


def test_every_screen_live_buttons_and_faults(tmp_path, qapp):
    with CellInThread(tmp_path) as cell:
        rig, server = cell.rig, cell.server
        cell.run(rig.to_idle())
        stop_feed = cell.call(asyncio.Event)
        feed = cell.call(asyncio.ensure_future, _feed_tracking(server, stop_feed))
        try:
            with hmi(qapp, server.endpoint, "olga") as window:
                pump(qapp, lambda: window.connected and window.cells_seen > 0, "connected")
                overview = window.overview
                assert overview.banner.text() == "IDLE"
                assert overview.buttons["Start"].isEnabled()
                assert not overview.buttons["Unhold"].isEnabled()  # not allowed in Idle
                assert not overview.set_mode.isEnabled()  # an operator may not change mode

                # Start from the screen: the cell starts welding.
                cell.call(rig.sim.plc.set_part_loaded, True)
                overview.buttons["Start"].click()
                pump(qapp, lambda: rig.state is State.EXECUTE, "Execute after Start")
                pump(qapp, lambda: _weld_trace_points(window) > 20, "weld samples")
                pump(
                    qapp,
                    lambda: overview.banner.text() == "EXECUTE" and overview.seam.text() != "–",
                    "the banner and seam while welding",
                )
                current = window.weld.plots["Weld.CurrentA"]
                assert current.band.isVisible()
                pump(qapp, lambda: current.buffer.view()[1].max() > 100, "the arc's current")
                pump(qapp, lambda: len(window.tracking.lateral) > 5, "corrections")
                window.redraw_all()
                assert len(window.tracking.profile.curve.getData()[0]) == 301
                shown_s, _ = current.curve.getData()  # drawn against time, over seconds
                assert len(shown_s) > 20
                assert shown_s[-1] - shown_s[0] > 0.5
                assert -current.window_s <= shown_s[0] < shown_s[-1] <= 0

                # Hold and Unhold from the screen. Held first, then the screenshots: taking them
                # lasts a second or more, and on a loaded machine the coupon's seam was welded
                # by then (Hold no longer allowed).
                assert overview.buttons["Hold"].isEnabled()
                overview.buttons["Hold"].click()
                pump(qapp, lambda: rig.state is State.HELD, "Held after Hold")
                screenshots(qapp, window, artifacts(tmp_path, "hmi-welding"))
                pump(qapp, lambda: overview.buttons["Unhold"].isEnabled(), "Unhold enabled")
                overview.buttons["Unhold"].click()
                pump(qapp, lambda: rig.state is not State.HELD, "Unhold")
                cell.run(rig.until_state(State.IDLE, 60))
                pump(
                    qapp,
                    lambda: window.production.figures["Counters.PartsProcessed"].text() == "1",
                    "the part on the Production screen",
                )
                window.redraw_all()
                x, _ = window.production.cycle_curve.getData()
                assert x is not None
                assert len(x) == 1
                assert len(window.weld.heat_bars.opts["height"]) == 2  # two seams' heat input

                # A fault: shown, acknowledged from the Faults screen, in history and Pareto.
                cell.call(rig.sim.plc.set_estop, True)
                faults = window.faults
                pump(qapp, lambda: faults.active.rowCount() == 1, "the e-stop fault")
                assert faults.active.item(0, 0).text() == "F100"
                assert faults.active.item(0, 3).text() == "NO"
                faults.active.selectRow(0)
                faults.acknowledge_selected.click()
                pump(
                    qapp,
                    lambda: (
                        faults.active.item(0, 3) is not None
                        and faults.active.item(0, 3).text() == "yes"
                    ),
                    "the acknowledgement",
                )

                def in_history() -> bool:
                    codes = [faults.history.item(r, 0) for r in range(faults.history.rowCount())]
                    return "F100" in [c.text() for c in codes if c is not None]

                pump(qapp, in_history, "F100 in the fault history")
                pump(qapp, lambda: "F100" in overview.faults.text(), "the fault on Overview")
                window.redraw_all()
                codes, counts = faults._pareto_drawn
                assert codes[0] == "F100" or counts[0] == counts[codes.index("F100")]
                assert sum(counts) == faults.history.rowCount()
                screenshots(qapp, window, artifacts(tmp_path, "hmi-after-part-and-fault"))
                cell.call(rig.sim.plc.set_estop, False)
        finally:
            cell.call(stop_feed.set)
            cell.run(asyncio.wait_for(feed, 5))

        rows = cell.run(rig.controller.store.audit_rows())
        rows = [r for r in rows if r["actor"].startswith("opcua:")]  # not the config's row
        assert [(r["actor"], r["action"], r["result"]) for r in rows] == [
            ("opcua:olga", "Start", "ok"),
            ("opcua:olga", "Hold", "ok"),
            ("opcua:olga", "Unhold", "ok"),
            ("opcua:olga", "AcknowledgeFault", "ok"),
        ]


def test_role_gating(tmp_path, qapp):
    with CellInThread(tmp_path) as cell:
        rig, server = cell.rig, cell.server
        cell.run(rig.to_idle())
        with hmi(qapp, server.endpoint, None) as anonymous:
            pump(qapp, lambda: anonymous.cells_seen > 0, "anonymous connected")
            buttons = anonymous.overview.buttons
            assert not any(b.isEnabled() for b in buttons.values())
            assert not anonymous.overview.acknowledge.isEnabled()
            assert not anonymous.faults.acknowledge_all.isEnabled()
            # Even a command sent past the disabled buttons is refused by the controller.
            anonymous.link.command("Start")
            pump(qapp, lambda: anonymous.last_answer is not None, "the refusal")
            assert anonymous.last_answer[1] == "BadUserAccessDenied"
            assert "BadUserAccessDenied" in anonymous.overview.answer.text()
            assert rig.state is State.IDLE

        with hmi(qapp, server.endpoint, "olga") as operator:
            pump(qapp, lambda: operator.cells_seen > 0, "operator connected")
            assert operator.overview.buttons["Start"].isEnabled()
            assert not operator.overview.set_mode.isEnabled()
            operator.link.command("SetMode", "manual")
            pump(qapp, lambda: operator.last_answer is not None, "the refusal")
            assert operator.last_answer[1] == "BadUserAccessDenied"
            assert str(rig.controller.machine.mode) == "production"

        with hmi(qapp, server.endpoint, "erik") as engineer:
            pump(qapp, lambda: engineer.cells_seen > 0, "engineer connected")
            assert engineer.overview.set_mode.isEnabled()
            choice = engineer.overview.mode_choice
            choice.setCurrentIndex(choice.findData("dry_run"))  # shown as "dry run"
            engineer.overview.set_mode.click()
            pump(qapp, lambda: engineer.overview.mode.text() == "dry run", "dry run on screen")
            assert str(rig.controller.machine.mode) == "dry_run"


def test_survives_the_controller_restarting(tmp_path, qapp):
    with ProcessCell(tmp_path) as cell, hmi(qapp, cell.endpoint, "olga") as window:
        pump(qapp, lambda: window.connected and window.cells_seen > 0, "connected", 30)

        # `cellctl gui --screenshot` against the same running controller: a PNG per screen.
        shots = artifacts(tmp_path, "cellctl-gui-screenshot")
        done = subprocess.run(
            [sys.executable, "-m", "cellctl.cli.main", "gui", "--endpoint", cell.endpoint,
             "--screenshot", str(shots), "--trust-dir", str(tmp_path / "hmi-trust")],
            capture_output=True, text=True, timeout=90,
            env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
        names = sorted(p.name for p in shots.glob("*.png"))
        assert names == ["faults.png", "overview.png", "production.png", "tracking.png",
                         "weld.png"]  # fmt: skip
        assert all(QImage(str(p)).width() == 1600 for p in shots.glob("*.png"))

        cell.stop_controller()
        pump(qapp, lambda: not window.connected, "the disconnected banner", 20)
        assert "NOT CONNECTED" in window.banner.text()
        assert not window.overview.buttons["Stop"].isEnabled()
        screenshots(qapp, window, artifacts(tmp_path, "hmi-disconnected"))
        seen = window.cells_seen
        cell.start_controller()
        pump(
            qapp,
            lambda: window.connected and window.cells_seen > seen,
            "reconnection after the restart",
            30,
        )
        # The screen shows what the restarted controller says (Stopped: the PLC's watchdog
        # that tripped while it was gone is no fault of the new session), and commands work.
        pump(
            qapp,
            lambda: window.overview.banner.text() == cell.state().upper(),
            "the restarted controller's state on the banner",
        )
        assert (
            window.overview.buttons["Reset"].isEnabled()
            or window.overview.buttons["Clear"].isEnabled()
        )


def test_the_hmi_refuses_a_changed_certificate_on_screen(tmp_path, qapp):
    """Issue 19: the HMI trusts the cell's certificate on first use; at an endpoint pinned to
    another certificate (the cell renewed, or a machine posing as it) it refuses, says so on
    the screen, and sends no password."""
    trust = ClientTrust(tmp_path / "hmi")
    other = tmp_path / "other.der"
    make_certificate(other, tmp_path / "other.pem", "urn:cellctl:other", ["127.0.0.1"])
    with CellInThread(tmp_path) as cell:
        endpoint = cell.server.endpoint
        trust.pins.check(endpoint, other.read_bytes())  # pinned to another certificate
        with hmi(qapp, endpoint, "olga", trust) as window:
            pump(qapp, lambda: "REFUSED" in window.banner.text(), "the certificate warning")
            assert window.banner.isVisible()
            assert "certificate" in window.banner.text()
            assert str(trust.pins.path) in window.banner.text()
            assert not window.connected
            shot = artifacts(tmp_path, "hmi-certificate-changed") / "overview.png"
            assert window.grab().save(str(shot))
        assert cell.call(lambda: cell.server.users.password_checks) == 0
        # Its pin removed (the cell's certificate renewed on purpose), the HMI trusts it anew.
        trust.pins.path.unlink()
        with hmi(qapp, endpoint, "olga", trust) as window:
            pump(qapp, lambda: window.connected, "connected")
            assert window.link.role == "operator"
        assert trust.pins.pinned(endpoint) == cell.server.certificate_fingerprint


def test_the_hmi_connects_during_a_flood_of_silent_connections(tmp_path, qapp):
    """Issue 14: 1000 TCP connections that never said Hello filled asyncua's 1000 and turned a
    real client away for up to 30 s at a time. Here 1000 silent connections from this machine
    and four others, each replaced as soon as the server closes it: the HMI (what `cellctl gui`
    runs) connects and shows the cell all the same; once the flood stops, every silent
    connection still open is closed within the Hello timeout of its opening."""
    hello_timeout_s = 1.0

    def doors(cell: dict) -> None:
        cell["opcua"]["hello_timeout_s"] = hello_timeout_s

    with CellInThread(tmp_path, edit=doors) as cell:
        server = cell.server
        port = int(server.endpoint.rsplit(":", 1)[1])
        sources = {"127.0.0.1": 200} | {f"127.0.0.{i}": 200 for i in range(2, 6)}
        flood = SilentFlood(port, sources)
        flood.start()
        try:
            with hmi(qapp, server.endpoint, "erik") as window:
                pump(qapp, lambda: window.connected and window.cells_seen > 0, "the HMI", 10)
                assert window.overview.set_mode.isEnabled()  # logged in as the engineer
        finally:
            survivors = flood.stop(drain_s=hello_timeout_s + 2)
        totals = cell.call(lambda: dict(server.doors.door_log.totals))
    assert flood.opened >= 1000
    assert survivors, "the flood held connections when it stopped"
    lived_s = [c.closed_at - c.opened_at for c in survivors if c.closed_at is not None]
    assert len(lived_s) == len(survivors), "the server left silent connections open"
    assert max(lived_s) <= hello_timeout_s + 1.0, sorted(lived_s)[-5:]
    assert totals["silent closed to make room"] > 0, totals


def test_the_tracking_screen_draws_a_circle_seam_round_with_its_corrections(qapp, tmp_path):
    # The taught path of a full circle as the controller publishes it (1 mm chords), and
    # corrections along it: the corrected path is the circle moved along its local normal.
    from cellctl.gui.tracking import TrackingScreen
    from cellctl.plant.opcua.server import TAUGHT_PATH_STEP_MM
    from drivers.codecs.seam_path import build_path

    radius = 50.0
    circle = build_path(
        (600.0, -radius, 20.0), [{"arc": {"centre": [600, 0, 20], "sweep_deg": 360}}]
    )
    taught = circle.sampled(TAUGHT_PATH_STEP_MM)
    screen = TrackingScreen()
    screen.resize(1400, 800)
    screen.show()
    try:
        cell = {
            "Tracking.LateralCorrectionMm": 0.0,
            "Tracking.VerticalCorrectionMm": 0.0,
            "Tracking.JointFound": True,
            "Tracking.ProfileCount": 0,
            "Tracking.ProfileYMm": [],
            "Tracking.PositionMm": 0.0,
            "Tracking.TaughtPathXMm": [p[0] for p in taught],
            "Tracking.TaughtPathYMm": [p[1] for p in taught],
            "Tracking.TaughtPathZMm": [p[2] for p in taught],
        }
        screen.show_cell(cell)
        positions = np.arange(0.0, circle.length_mm, 2.0)
        laterals = 0.8 * np.sin(2 * np.pi * positions / (circle.length_mm / 3))
        for count, (s, lateral) in enumerate(zip(positions, laterals, strict=True), start=1):
            screen.show_fast(
                0.0,
                {
                    "Tracking.CorrectionCount": count,
                    "Tracking.PositionMm": float(s),
                    "Tracking.LateralCorrectionMm": float(lateral),
                    "Tracking.VerticalCorrectionMm": 0.0,
                },
            )
        screen.redraw()
        qapp.processEvents()
        x, y = screen.corrected_curve.getData()
        radii = np.hypot(np.asarray(x) - 600.0, np.asarray(y))
        # Left of counter-clockwise travel is the centre: +lateral draws the circle smaller.
        # Magnified as much as keeps 0.8 mm within 5 % of the 100 mm circle: x5, and said so.
        assert screen.exaggeration == 5.0
        assert "×5)" in screen.path.plotItem.titleLabel.text
        np.testing.assert_allclose(radii, radius - 5.0 * laterals, atol=0.05)
        tx, ty = screen.taught_curve.getData()
        np.testing.assert_allclose(np.hypot(np.asarray(tx) - 600.0, np.asarray(ty)), radius)
        screen.grab().save(str(artifacts(tmp_path, "tracking-circle") / "circle-tracking.png"))
    finally:
        screen.close()
        screen.deleteLater()
        qapp.processEvents()


def test_the_plan_view_magnifies_corrections_only_as_far_as_they_stay_small():
    from cellctl.gui.tracking import path_exaggeration

    line = np.column_stack([np.full(151, 415.0), np.linspace(-75.0, 75.0, 151)])
    circle = np.column_stack(
        [600 + 50 * np.cos(np.linspace(0, 6.3, 315)), 50 * np.sin(np.linspace(0, 6.3, 315))]
    )
    assert path_exaggeration(line, np.array([0.0, 0.5, -0.3])) == 10.0  # 5 mm of 150
    assert path_exaggeration(circle, np.array([0.8, -0.8])) == 5.0
    assert path_exaggeration(circle, np.array([4.6])) == 1.0  # the live hinge boss: to scale
    assert path_exaggeration(circle, np.array([30.0])) == 1.0  # never below to scale
    assert path_exaggeration(line, np.array([])) == 10.0


def test_a_hair_back_in_position_keeps_the_seam_and_a_return_to_its_start_begins_one(qapp):
    from cellctl.gui.tracking import TrackingScreen

    screen = TrackingScreen()
    try:
        positions = [0.5, 10.0, 20.0, 19.7, 30.0, 40.0, 0.3, 5.0]  # 19.7: the estimate's jitter
        for count, position in enumerate(positions, start=1):
            screen.show_fast(
                0.0,
                {
                    "Tracking.CorrectionCount": count,
                    "Tracking.PositionMm": position,
                    "Tracking.LateralCorrectionMm": 0.1,
                    "Tracking.VerticalCorrectionMm": 0.0,
                },
            )
            if count == 6:
                assert list(screen.lateral.view()[0]) == positions[:6]
        assert list(screen.lateral.view()[0]) == [0.3, 5.0]  # the next seam
    finally:
        screen.close()
        screen.deleteLater()
        qapp.processEvents()


def test_a_full_live_trace_is_drawn_as_the_peaks_of_one_bin_a_pixel(qapp):
    """5,000 samples over the 30 s window on a plot a few hundred pixels wide: drawn as the
    least and greatest sample of each pixel's bin (the wide pen's line drawing was most of a
    frame when pyqtgraph drew ~5 samples a pixel), the peaks all there."""
    from cellctl.gui.live import LivePlot

    plot = LivePlot("current", "A", window_s=30.0)
    plot.widget.resize(600, 300)
    plot.widget.show()
    try:
        t = np.linspace(0.0, 30.0, 5_000)
        current = 200 + 10 * np.sin(t * 7.0)
        current[2_500] = 400.0  # one spike: a pixel's bin keeps it
        for ti, ci in zip(t, current, strict=True):
            plot.append(float(ti), float(ci))
        plot.redraw(30.0)
        qapp.processEvents()
        plot.redraw(30.0)  # the view's width known now
        x, y = plot.curve.curve.getData()
        width = plot.widget.getViewBox().width()
        assert 0 < width < 600
        assert len(x) <= 2.5 * width, (len(x), width)  # two a bin; bins whole samples wide
        assert np.max(y) == 400.0
    finally:
        plot.widget.close()
        plot.widget.deleteLater()
        qapp.processEvents()
