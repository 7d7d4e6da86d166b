"""Nothing the controller runs dies silently (issue: a weld cycle that raised an exception
nobody expected left the cell in Execute with a green light, for as long as anyone watched).

The ``Supervisor`` on its own, then exceptions injected into the real controller against the
simulated cell: into each acting state, each step of the weld cycle, each loop and each thread.
Every one must give F180 ("internal error in <where>"), the safe reaction at the devices (arc
off, robot standing), a log line with the traceback, and a cell that leaves its acting state.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any

import pytest

from cellctl.cell.packml import State
from cellctl.controller.supervision import Supervisor
from cellctl.records.store import ProductionStore
from cellctl.weld.cycle import WeldCycle
from rigs.cell import CellRig, running_cell
from tests.test_faults import arc_off, assert_nothing_moves, robot_still
from tests.waiting import eventually

TIME_SCALE = 20.0
PART = "coupon-fillet-80"


class Injected(RuntimeError):
    """The exception these tests put where nobody expects one."""


# -- the supervisor on its own ------------------------------------------------------------


async def test_an_unexpected_exception_is_reported_with_where_it_happened():
    reports: list[tuple[str, BaseException]] = []
    supervisor = Supervisor(lambda where, error: reports.append((where, error)))

    async def fails() -> None:
        raise Injected("boom")

    task = supervisor.spawn(fails(), "the task")
    await asyncio.gather(task, return_exceptions=True)
    await asyncio.sleep(0)
    assert [(where, type(error)) for where, error in reports] == [("the task", Injected)]
    assert supervisor.failures == 1


async def test_an_expected_exception_goes_to_its_owner_and_cancelling_is_no_failure():
    reports: list[str] = []
    owned: list[BaseException] = []
    supervisor = Supervisor(lambda where, error: reports.append(where))

    async def store_fails() -> None:
        raise KeyError("the owner knows this one")

    async def waits() -> None:
        await asyncio.sleep(10)

    failing = supervisor.spawn(
        store_fails(), "store write", expected=(KeyError,), on_expected=owned.append
    )
    waiting = supervisor.spawn(waits(), "waiting")
    await asyncio.sleep(0.01)
    waiting.cancel()
    await asyncio.gather(failing, waiting, return_exceptions=True)
    await asyncio.sleep(0)
    assert reports == []
    assert [type(e) for e in owned] == [KeyError]


async def test_a_loop_that_must_run_forever_is_reported_and_started_again(monkeypatch):
    monkeypatch.setattr("cellctl.controller.supervision.RESTART_DELAY_S", 0.01)
    reports: list[str] = []
    runs = 0
    supervisor = Supervisor(lambda where, error: reports.append(f"{where}: {error}"))

    async def scan() -> None:
        nonlocal runs
        runs += 1
        if runs == 1:
            raise Injected("first run")
        await asyncio.sleep(10)

    supervisor.spawn(scan, "PLC scan", forever=True)
    await eventually(lambda: runs == 2, 2, "the loop started again")
    assert reports == ["PLC scan: first run"]
    await supervisor.stop()
    assert not supervisor.tasks


async def test_a_thread_reports_on_the_event_loop():
    reports: list[tuple[str, bool]] = []
    loop_thread = threading.get_ident()
    supervisor = Supervisor(
        lambda where, error: reports.append((where, threading.get_ident() == loop_thread))
    )
    supervisor.bind(asyncio.get_running_loop())

    def worker() -> None:
        raise Injected("in a thread")

    thread = threading.Thread(target=supervisor.watched(worker, "worker thread"))
    thread.start()
    thread.join()
    await eventually(lambda: bool(reports), 2, "the report")
    assert reports == [("worker thread", True)]  # reported on the loop, not the thread


# -- the controller -------------------------------------------------------------------------


def coupon(cell: dict) -> None:
    cell["controller"]["cycle"]["active_part"] = PART


def raising(what: str) -> Callable[..., Any]:
    async def boom(*args: Any, **kwargs: Any) -> None:
        raise Injected(f"injected into {what}")

    return boom


async def expect_internal_error(rig: CellRig, where: str, caplog) -> None:
    """F180 naming ``where``, the devices safe, the traceback logged, no acting state left."""
    await rig.until(
        lambda: any(f.code == "F180" for f in rig.controller.faults.active), "fault F180"
    )
    fault = next(f for f in rig.controller.faults.active if f.code == "F180")
    assert where in fault.detail, fault.detail
    assert "Injected" in fault.detail
    await rig.until(lambda: arc_off(rig) and robot_still(rig), "arc off and the robot still", 3)
    await rig.until(lambda: fault.reaction_ms is not None, "the reaction")
    await rig.until_state(State.ABORTED, 5)
    await assert_nothing_moves(rig, 0.2)
    logged = [
        r
        for r in caplog.records
        if r.levelno >= logging.ERROR and "internal error in" in r.getMessage()
    ]
    assert logged, "no log line for the internal error"
    assert logged[0].exc_info is not None
    assert logged[0].exc_info[0] is Injected


async def back_to_work(rig: CellRig) -> None:
    """The operator resets (acknowledge, clear, reset) and the cell welds a good part."""
    await rig.reset_to_idle()
    await rig.weld_good_part()


async def into_execute(rig: CellRig) -> None:
    rig.sim.plc.set_part_loaded(True)
    rig.sim.plc.press("start_button")
    await rig.until(lambda: rig._step() == "welding" and rig.sim.power_source.arc.burning, "arc")


async def _abort(rig: CellRig) -> None:
    await rig.controller.command("abort")


async def _hold(rig: CellRig) -> None:
    await into_execute(rig)
    await rig.controller.command("hold")


async def _unhold(rig: CellRig) -> None:
    await _hold(rig)
    await rig.until_state(State.HELD)
    await rig.controller.command("unhold")


async def _suspend(rig: CellRig) -> None:
    await into_execute(rig)
    await rig.controller.command("suspend")


async def _stop(rig: CellRig) -> None:
    await into_execute(rig)
    await rig.controller.command("stop")


async def _clear(rig: CellRig) -> None:
    await rig.controller.command("abort")
    await rig.until_state(State.ABORTED)
    await rig.controller.command("clear")


async def _reset_from_stopped(rig: CellRig) -> None:
    await rig.controller.command("stop")
    await rig.until_state(State.STOPPED)
    await rig.controller.command("reset")


async def _start(rig: CellRig) -> None:
    rig.sim.plc.set_part_loaded(True)
    rig.sim.plc.press("start_button")


# acting state -> (the work to break, how to get there from Idle)
ACTING = {
    "Resetting": ("_resetting", _reset_from_stopped),
    "Starting": ("_starting", _start),
    "Execute": ("_execute", _start),
    "Completing": ("_completing", _start),
    "Complete": ("_complete", _start),
    "Holding": ("_holding", _hold),
    "Unholding": ("_unholding", _unhold),
    "Suspending": ("_suspending", _suspend),
    "Stopping": ("_stopping", _stop),
    "Aborting": ("_aborting", _abort),
    "Clearing": ("_clearing", _clear),
}


@pytest.mark.parametrize("state", list(ACTING))
async def test_an_exception_in_an_acting_state(state, tmp_path, monkeypatch, caplog):
    work, get_there = ACTING[state]
    async with running_cell(tmp_path, TIME_SCALE, edit=coupon) as rig:
        await rig.to_idle()
        monkeypatch.setattr(rig.controller.part_run, work, raising(work))
        await get_there(rig)
        await expect_internal_error(rig, f"acting state {state}", caplog)


# the weld cycle's step -> what to break (a WeldCycle method, or the sensing's or the store's)
CYCLE_STEPS = {
    "approach": "_approach",
    "seam finding": "find_seam",
    "arc start": "_arc_start",
    "welding": "_monitor_weld",
    "crater fill": "_crater_fill",
    "arc off": "_arc_off",
    "record": "record_seam",
}


@pytest.mark.parametrize("step", list(CYCLE_STEPS))
async def test_an_exception_at_each_step_of_the_weld_cycle(step, tmp_path, monkeypatch, caplog):
    target = CYCLE_STEPS[step]
    async with running_cell(tmp_path, TIME_SCALE, edit=coupon) as rig:
        await rig.to_idle()
        if target == "find_seam":
            monkeypatch.setattr(rig.controller.sensing, target, raising(target))
        elif target == "record_seam":

            def record_seam(*args: Any) -> None:  # on the store's worker thread
                raise Injected("injected into the store worker")

            monkeypatch.setattr(ProductionStore, target, record_seam)
        else:
            monkeypatch.setattr(WeldCycle, target, raising(target))
        await _start(rig)
        await expect_internal_error(rig, "weld cycle", caplog)
        parts = await rig.controller.store.parts()
        assert parts[-1]["status"] == "incomplete"  # never reported good
        monkeypatch.undo()
        await back_to_work(rig)


def _break_once(owner: object, name: str) -> Callable[..., Any]:
    """``owner.name`` raising ``Injected`` the first time it is called, then as it was."""
    original = getattr(owner, name)
    calls = 0

    def once(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise Injected(f"injected into {name}")
        return original(*args, **kwargs)

    return once


# loop -> (the piece that runs it, the method it calls every round)
LOOPS = {
    "PLC scan": ("panel", "check_interlocks"),
    "device watch": ("links", "on_status"),
    "health log": ("health", "line"),
}


@pytest.mark.parametrize("loop", list(LOOPS))
async def test_an_exception_in_a_loop_faults_and_the_loop_runs_again(
    loop, tmp_path, monkeypatch, caplog
):
    monkeypatch.setattr("cellctl.controller.supervision.RESTART_DELAY_S", 0.05)

    def often(cell: dict) -> None:
        coupon(cell)
        cell["controller"]["health_log_period_s"] = 1.0  # the least the config allows

    async with running_cell(tmp_path, TIME_SCALE, edit=often) as rig:
        await rig.to_idle()
        controller = rig.controller
        piece_name, name = LOOPS[loop]
        piece = getattr(controller, piece_name)
        monkeypatch.setattr(piece, name, _break_once(piece, name))
        await rig.until(
            lambda: any(f.code == "F180" for f in controller.faults.active), "fault F180", 5
        )
        fault = next(f for f in controller.faults.active if f.code == "F180")
        assert loop in fault.detail, fault.detail
        await rig.until_state(State.ABORTED, 5)
        assert any(r.exc_info and r.exc_info[0] is Injected for r in caplog.records)
        # Started again: the cell resets (the PLC scan sees the buttons) and welds.
        await back_to_work(rig)


async def test_an_exception_in_the_store_worker_outside_the_cycle(tmp_path, monkeypatch, caplog):
    """A state change's record fails on the store's thread with what nobody expected."""
    async with running_cell(tmp_path, TIME_SCALE, edit=coupon) as rig:
        await rig.to_idle()
        monkeypatch.setattr(
            ProductionStore,
            "record_state_change",
            _break_once(ProductionStore, "record_state_change"),
        )
        await _start(rig)
        await expect_internal_error(rig, "record state change", caplog)


# -- the sensing's threads --------------------------------------------------------------------


# a thread of the laser sensing -> (the class and the method it calls on every round)
SENSING_THREADS = {
    "the correction stream": ("cellctl.sensing.track.SeamTrack", "deviation_at"),
    "the frame handler": ("cellctl.sensing.laser.LaserSensing", "_on_frame"),
}


@pytest.mark.parametrize("thread", list(SENSING_THREADS))
async def test_an_exception_in_a_thread_of_the_sensing(thread, tmp_path, monkeypatch, caplog):
    from tests.test_tracking_cell import TIME_SCALE as TRACKING_SCALE
    from tests.test_tracking_cell import scenario, sensor_on

    owner, method = SENSING_THREADS[thread]
    monkeypatch.setattr(f"{owner}.{method}", raising_sync(thread))
    async with running_cell(
        tmp_path, TRACKING_SCALE, sensor_on(), vision=scenario("offset")
    ) as rig:
        await rig.to_idle()
        await _start(rig)
        await expect_internal_error(rig, thread, caplog)


def raising_sync(what: str) -> Callable[..., Any]:
    def boom(*args: Any, **kwargs: Any) -> None:
        raise Injected(f"injected into {what}")

    return boom


class OddFrames:
    """A sensor of our own on a real socket, with the sensor's real framing, but frames of a
    size the calibration does not fit (what a hostile or misconfigured sensor sends)."""

    def __init__(self, width_px: int, height_px: int) -> None:
        import socket

        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.size = (height_px, width_px)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, name="odd frames (test)")
        self.thread.start()

    def _serve(self) -> None:
        import time

        import numpy as np

        from drivers.codecs.sensor_protocol import Frame, encode_frame

        self.server.settimeout(0.1)
        while not self.stop.is_set():
            try:
                connection, _ = self.server.accept()
            except TimeoutError:
                continue
            number = 0
            with connection:
                while not self.stop.is_set():
                    number += 1
                    frame = Frame(number, time.monotonic_ns(), np.zeros(self.size, np.uint8))
                    try:
                        connection.sendall(encode_frame(frame))
                    except OSError:
                        break
                    time.sleep(0.01)

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        self.server.close()


@pytest.mark.parametrize(("width_px", "height_px"), [(1, 1), (4096, 8)])
async def test_frames_the_calibration_does_not_fit_are_refused_and_fault(
    width_px, height_px, tmp_path
):
    """The hostile tester's sensor: frames of 1×1 or 4096×8 px crashed the vision in seam
    finding, and the dead weld cycle left the cell in Execute. Now the driver refuses them,
    counts them, and the cell holds with F134 naming both sizes."""
    from tests.test_tracking_cell import TIME_SCALE as TRACKING_SCALE
    from tests.test_tracking_cell import sensor_on

    odd = OddFrames(width_px, height_px)
    edit = sensor_on()

    def to_odd_sensor(cell: dict) -> None:
        edit(cell)
        cell["sensor"]["source"] = f"127.0.0.1:{odd.port}"

    try:
        async with running_cell(
            tmp_path, TRACKING_SCALE, to_odd_sensor, simulate_sensor=False
        ) as rig:
            await rig.to_idle()
            await _start(rig)
            await rig.until(
                lambda: any(f.code == "F134" for f in rig.controller.faults.active), "F134", 20
            )
            fault = next(f for f in rig.controller.faults.active if f.code == "F134")
            assert f"sends frames of {width_px}×{height_px} px, calibrated for 640×480" in (
                fault.detail
            )
            await rig.until_state(State.HELD, 5)
            assert arc_off(rig)
            assert rig.sim.power_source.arc.arc_starts == 0
            assert rig.controller.sensing.sensor.frames_refused > 0
            assert not any(f.code == "F180" for f in rig.controller.faults.active)
    finally:
        odd.close()
