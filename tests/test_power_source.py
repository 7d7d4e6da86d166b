"""Contract tests: the real power source driver against the simulated power source over a pty
(and over socket://), Modbus RTU through pymodbus on both ends."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from drivers.codecs.modbus_map import RegisterTable
from drivers.codecs.power_source_protocol import PowerSourceError, PowerSourceStatus
from drivers.codecs.settings import PowerSourceSettings
from drivers.errors import (
    DeviceRejected,
    DeviceTimeout,
    LinkDown,
    ProtocolError,
    WriteRefused,
)
from drivers.power_source import PowerSourceDriver
from sim.cellfile import load_cell_devices
from sim.clock import SimClock
from sim.devices.power_source import SimulatedPowerSource
from tests.waiting import eventually

logging.getLogger("pymodbus").setLevel(logging.CRITICAL)


def source_settings(repo: Path, port: str) -> PowerSourceSettings:
    settings = load_cell_devices(repo / "config" / "cell.yaml").power_source
    link = settings.link.model_copy(
        update={
            "port": port,
            "timeout_ms": 100,
            "retries": 0,
            "reconnect_delay_min_ms": 20,
            "reconnect_delay_max_ms": 100,
        }
    )
    return settings.model_copy(update={"link": link})


async def status_until(driver: PowerSourceDriver, condition, what: str) -> PowerSourceStatus:
    deadline = asyncio.get_running_loop().time() + 3.0
    while True:
        status = await driver.read_status()
        if condition(status):
            return status
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"timed out waiting for {what}; last status {status}")
        await asyncio.sleep(0.01)


@pytest.fixture
async def welder(repo, tmp_path) -> AsyncIterator[tuple[SimulatedPowerSource, PowerSourceDriver]]:
    link = tmp_path / "power_source"
    settings = source_settings(repo, str(link))
    source = SimulatedPowerSource(settings, SimClock(20), link_path=link)
    await source.start()
    driver = PowerSourceDriver(settings)
    await driver.connect()
    await driver.wait_connected(2)
    yield source, driver
    await driver.close()
    await source.close()


async def test_status_is_one_request_and_says_the_machine_is_ready(welder):
    _source, driver = welder
    before = driver.stats.requests
    status = await driver.read_status()
    assert driver.stats.requests - before == driver.input_blocks == 1
    assert status.ready
    assert not status.arc_established
    assert not status.error
    assert status.error_text == "no error"
    assert status.gas_flow_ok is True


async def test_setpoints_arrive_in_one_write_and_the_arc_follows_them(welder):
    source, driver = welder
    before = len(source.image.writes_seen)
    await driver.set_setpoints(220.0, 24.5, 9.5)
    # The command word (job_mode bit), the job number (unchanged, known) and the 3 setpoints:
    # one function-16 request of 5 registers.
    assert len(source.image.writes_seen) == before + 1
    assert source.image.writes_seen[-1][0] == 0
    assert len(source.image.writes_seen[-1][1]) == 5
    assert source.commands.current_setpoint_a == pytest.approx(220.0)
    assert source.commands.job_mode is False
    await driver.arc_on()
    status = await status_until(driver, lambda s: s.arc_established, "arc established")
    await asyncio.sleep(0.05)  # let the actuals settle (lag, then noise)
    status = await driver.read_status()
    assert status.current_flowing
    assert status.actual_current_a == pytest.approx(220, rel=0.08)
    assert status.actual_voltage_v == pytest.approx(24.5, rel=0.05)
    assert status.actual_wire_feed_m_per_min == pytest.approx(9.5, rel=0.05)
    await driver.arc_off()
    await status_until(driver, lambda s: not s.arc_established and not s.current_flowing, "off")
    assert source.arc.arc_starts == 1


async def test_job_mode_welds_the_stored_job(welder):
    source, driver = welder
    await driver.set_job(2)
    assert source.commands.job_mode is True
    await driver.arc_on()
    await status_until(driver, lambda s: s.arc_established, "arc established")
    await asyncio.sleep(0.05)
    assert (await driver.read_status()).actual_current_a == pytest.approx(220, rel=0.08)
    await driver.arc_off()


async def test_ignition_failure_latches_until_reset(welder):
    source, driver = welder
    await driver.set_setpoints(220.0, 24.5, 9.5)
    source.inject("ignition_failure")
    await driver.arc_on()
    status = await status_until(driver, lambda s: s.error, "ignition error")
    assert status.error_code == PowerSourceError.IGNITION_FAILED
    assert not status.arc_established
    assert "ignition failed" in status.error_text
    await driver.arc_off()
    await driver.reset_error()
    status = await status_until(driver, lambda s: not s.error, "error cleared")
    assert status.ready
    await driver.arc_on()  # the next start works again
    await status_until(driver, lambda s: s.arc_established, "arc established")
    await driver.arc_off()


async def test_arc_break_wire_stick_and_gas_fault(welder):
    source, driver = welder
    await driver.set_setpoints(220.0, 24.5, 9.5)
    await driver.arc_on()
    await status_until(driver, lambda s: s.arc_established, "arc")
    source.inject("arc_break")
    status = await status_until(driver, lambda s: s.error, "arc break")
    assert (status.error_code, status.arc_established) == (PowerSourceError.ARC_BREAK, False)
    await driver.arc_off()
    await driver.reset_error()
    await status_until(driver, lambda s: not s.error, "reset")

    await driver.arc_on()
    await status_until(driver, lambda s: s.arc_established, "arc")
    source.inject("wire_stick")
    await driver.arc_off()
    status = await status_until(driver, lambda s: s.error, "wire stick")
    assert status.error_code == PowerSourceError.WIRE_STICK
    assert status.current_flowing  # the stuck wire shorts torch and work
    await driver.reset_error()
    assert (await driver.read_status()).error_code == PowerSourceError.WIRE_STICK
    source.clear_faults()  # the operator cuts the wire
    await driver.reset_error()
    await status_until(driver, lambda s: not s.error, "reset after the wire is cut")

    source.inject("gas_fault")
    await driver.arc_on()
    status = await status_until(driver, lambda s: s.error, "gas fault")
    assert status.error_code == PowerSourceError.GAS_FLOW
    assert status.gas_flow_ok is False
    await driver.arc_off()


async def test_gas_test_and_wire_inch_work_without_an_arc(welder):
    _source, driver = welder
    await driver.gas_test(True)
    status = await status_until(
        driver, lambda s: (s.actual_gas_flow_l_per_min or 0) > 10, "gas flowing"
    )
    assert not status.arc_established
    await driver.gas_test(False)
    await driver.wire_inch(True)
    status = await status_until(driver, lambda s: s.actual_wire_feed_m_per_min > 4, "wire inch")
    assert status.actual_current_a == pytest.approx(0, abs=1)
    await driver.wire_inch(False)


async def test_impossible_setpoints_and_unmapped_writes_never_reach_the_wire(welder):
    source, driver = welder
    before = len(source.image.writes_seen)
    with pytest.raises(WriteRefused, match=r"current_setpoint_a 450 A is above this machine's"):
        await driver.set_setpoints(450.0, 24.0, 9.0)
    with pytest.raises(WriteRefused, match="voltage_setpoint_v nan is not a setpoint"):
        await driver.set_setpoints(200.0, float("nan"), 9.0)
    with pytest.raises(WriteRefused, match="wire_feed_setpoint_m_per_min -1"):
        await driver.set_setpoints(200.0, 20.0, -1.0)
    with pytest.raises(WriteRefused, match=r"register\(s\) \[40\] refused"):
        await driver.link.write_registers(40, [1], driver.registers.output_registers())
    assert len(source.image.writes_seen) == before
    assert driver.stats.refused_writes == 4
    assert "power_source at" in driver.stats.last_error


async def test_a_silent_machine_times_out_naming_device_and_port(welder, tmp_path):
    source, driver = welder
    source.faults.set("stall")
    with pytest.raises(DeviceTimeout, match=f"power_source at {tmp_path}/power_source unit 1"):
        await driver.read_status()
    source.faults.clear()
    assert (await driver.read_status()).ready


async def test_garbled_and_truncated_answers_are_dropped_and_survived(welder):
    source, driver = welder
    for fault in ("corrupt", "truncate", "garbage"):
        source.faults.set(fault, frames=1)
        with pytest.raises(DeviceTimeout):  # RTU: a bad CRC or a short frame is no answer
            await driver.read_status()
        await eventually(lambda: driver.connected, what="link up")
        assert (await driver.read_status()).ready, f"after {fault}"
    assert driver.stats.timeouts == 3


async def test_a_late_answer_is_never_taken_for_the_next_requests(welder):
    """RTU has no transaction id: an answer that comes after its request timed out would look
    like the answer to the next request. A poll and its retry in a row must both fail."""
    source, driver = welder
    source.faults.set("delay", delay_s=0.2)  # every answer twice the link's 100 ms timeout
    for _poll in range(5):
        with pytest.raises(DeviceTimeout):
            await driver.read_status()
    source.faults.clear()
    assert (await driver.read_status()).ready


async def test_a_write_is_not_confirmed_by_the_late_answer_of_a_read(welder):
    source, driver = welder
    await driver.arc_off()  # the output image is known: the next write goes out without a read
    source.faults.set("delay", delay_s=0.15)  # the read's answer lands while the write waits
    with pytest.raises(DeviceTimeout):
        await driver.read_status()
    with pytest.raises(ProtocolError, match=r"register 0: .*answered with function 4: not its"):
        await driver.arc_off()
    assert driver.stats.mismatched_answers == 1
    source.faults.clear()
    assert (await driver.read_status()).ready
    await driver.arc_on()
    assert source.commands.arc_on is True


async def test_a_caller_cancelled_mid_read_does_not_cost_the_arc_off_that_follows(welder):
    """The fault reaction cancels the weld cycle while its status read is on the wire, then
    writes arc-off. The read must finish on its own (its answer consumed by it, not by the
    arc-off), and the arc-off must go out right after and be confirmed: no silenced link, no
    lost-link fault. Forced every time: the machine answers 60 ms late, the cancel comes at
    20 ms."""
    source, driver = welder
    await driver.arc_on()
    await status_until(driver, lambda s: s.arc_established, "arc established")
    source.faults.set("delay", delay_s=0.06)  # within the link's 100 ms timeout
    poll = asyncio.create_task(driver.read_status())
    await asyncio.sleep(0.02)  # the read is on the wire, its answer not yet back
    poll.cancel()
    with pytest.raises(asyncio.CancelledError):
        await poll
    await driver.make_safe()  # raises if not confirmed
    assert source.commands.arc_on is False
    assert driver.stats.mismatched_answers == 0
    assert not driver.link.silent
    assert driver.connected
    source.faults.clear()
    assert not (await driver.read_status()).arc_established


async def test_a_request_cancelled_before_it_is_sent_never_reaches_the_machine(welder):
    """The other half: a cycle's arc-on queued behind a read when the fault comes is dropped,
    not sent after the reaction's arc-off."""
    source, driver = welder
    await driver.arc_off()
    source.faults.set("delay", delay_s=0.06)
    poll = asyncio.create_task(driver.read_status())
    await asyncio.sleep(0.02)
    queued = asyncio.create_task(driver.arc_on())  # waits for the link behind the read
    await asyncio.sleep(0.01)
    queued.cancel()
    poll.cancel()
    await asyncio.gather(poll, queued, return_exceptions=True)
    writes_before = len(source.image.writes_seen)
    await driver.make_safe()
    source.faults.clear()
    await driver.read_status()
    assert source.image.writes_seen[writes_before:] == [(0, [0])]  # the arc-off only
    assert source.commands.arc_on is False


async def test_exception_responses_name_the_register_and_code(welder):
    source, driver = welder
    with pytest.raises(DeviceRejected, match=r"register 30: .*exception 2 \(illegal data"):
        await driver.link.read_registers(RegisterTable.INPUT, 30, 2)
    source.image.exception_code = 4
    with pytest.raises(DeviceRejected) as rejected:
        await driver.arc_on()
    assert rejected.value.code == 4
    source.image.exception_code = None
    assert source.commands.arc_on is False


async def test_other_units_on_the_line_get_no_answer(repo, tmp_path):
    link = tmp_path / "power_source"
    settings = source_settings(repo, str(link))
    source = SimulatedPowerSource(settings, SimClock(20), link_path=link)
    await source.start()
    other_link = settings.link.model_copy(update={"unit_id": 7})
    other = PowerSourceDriver(settings.model_copy(update={"link": other_link}))
    try:
        await other.connect()
        await other.wait_connected(2)
        with pytest.raises(DeviceTimeout):
            await other.read_status()
        assert source.image.answers_withheld_for_other_units == 1
    finally:
        await other.close()
        await source.close()


async def test_reconnects_after_the_power_source_restarts_on_a_new_pty(welder, repo, tmp_path):
    source, driver = welder
    await source.close()
    await eventually(lambda: not driver.connected, what="link down")
    with pytest.raises(LinkDown):
        await driver.read_status()
    restarted = SimulatedPowerSource(
        driver.settings, SimClock(20), link_path=tmp_path / "power_source"
    )
    await restarted.start()
    try:
        await driver.wait_connected(3)
        assert driver.stats.reconnects == 1
        assert (await driver.read_status()).ready
        await driver.set_setpoints(200.0, 22.0, 8.0)
        assert restarted.commands.current_setpoint_a == pytest.approx(200.0)
    finally:
        await restarted.close()


async def test_the_machine_switches_the_arc_off_when_the_controller_goes_quiet(welder):
    source, driver = welder
    await driver.set_setpoints(220.0, 24.5, 9.5)
    await driver.arc_on()
    await status_until(driver, lambda s: s.arc_established, "arc")
    await driver.close()  # the controller is gone, arc_on still set in the machine
    await eventually(lambda: source.interface_timeouts == 1, 3, "interface watchdog")
    assert not source.arc.burning
    assert source.arc.error == PowerSourceError.INTERFACE_TIMEOUT


async def test_make_safe_switches_everything_off_and_reports_a_dead_link(welder):
    source, driver = welder
    await driver.gas_test(True)
    await driver.wire_inch(True)
    await driver.make_safe()
    assert not any((source.commands.arc_on, source.commands.gas_test, source.commands.wire_inch))
    await source.close()
    await eventually(lambda: not driver.connected, what="link down")
    with pytest.raises(LinkDown):
        await driver.make_safe()


async def test_rtu_over_tcp_with_a_socket_url(repo, unused_tcp_port):
    settings = source_settings(repo, f"socket://127.0.0.1:{unused_tcp_port}")
    source = SimulatedPowerSource(settings, SimClock(20), rtu_over_tcp_port=unused_tcp_port)
    await source.start()
    driver = PowerSourceDriver(settings)
    try:
        await driver.connect()
        await driver.wait_connected(2)
        await driver.set_setpoints(180.0, 21.0, 7.0)
        await driver.arc_on()
        status = await status_until(driver, lambda s: s.arc_established, "arc over TCP")
        assert status.ready
        assert source.port == f"socket://127.0.0.1:{unused_tcp_port}"
        await driver.arc_off()
    finally:
        await driver.close()
        await source.close()


def test_status_decoding_names_and_optional_inputs():
    values = {
        "ready": True, "arc_established": False, "current_flowing": False, "error": True,
        "error_code": 104, "actual_current_a": 0.0, "actual_voltage_v": 0.0,
        "actual_wire_feed_m_per_min": 0.0,
    }  # fmt: skip
    status = PowerSourceStatus.from_inputs(values)
    assert status.gas_flow_ok is None
    assert status.error_text == "shielding gas flow below minimum"
    assert PowerSourceStatus.from_inputs({**values, "error_code": 999}).error_text == (
        "unknown error 999"
    )


async def test_make_safe_after_a_reconnect_writes_at_once_without_reading_first(welder):
    source, driver = welder
    await driver.set_job(2)  # job mode on: a bit the safe write must not need to know
    await driver.arc_on()
    driver._image_synced = False  # as right after a reconnect: the image is not trusted
    requests_before = driver.stats.requests
    await driver.make_safe()
    assert driver.stats.requests == requests_before + 1  # one write, no read-back
    assert source.commands.arc_on is False
    assert source.image.writes_seen[-1] == (0, [0])  # the whole word off: the safe state


async def test_the_machine_refuses_setpoints_beyond_its_range(welder):
    source, driver = welder
    # Past the driver's check (a raw write), the machine itself answers exception 3.
    with pytest.raises(DeviceRejected, match=r"exception 3 \(illegal data value\)"):
        await driver.link.write_registers(2, [9000], driver.registers.output_registers())
    assert source.commands.current_setpoint_a == 0.0
    with pytest.raises(WriteRefused, match="current_setpoint_a True is not a setpoint"):
        await driver.set_setpoints(True, 20.0, 8.0)


async def test_the_error_reset_pulse_is_long_enough_to_be_seen(welder):
    source, driver = welder
    source.inject("error:106")
    source.clear_faults()  # cooled down, error still latched
    started = asyncio.get_running_loop().time()
    await driver.reset_error()
    assert asyncio.get_running_loop().time() - started >= 0.05
    assert (await driver.read_status()).error is False
    assert source.commands.error_reset is False


async def test_an_undelivered_arc_off_is_never_undone_by_the_next_write(welder):
    """The arc-off of a fault's reaction answered with exception 6 (busy): once the machine
    answers again, the operator's error reset writes the command word; it must say the arc
    off, not the arc-on the image held (a power source keeps its arc-on command)."""
    source, driver = welder
    await driver.set_setpoints(220.0, 24.5, 9.5)
    await driver.arc_on()
    await status_until(driver, lambda s: s.arc_established, "arc")
    source.image.exception_code = 6
    with pytest.raises(DeviceRejected, match="exception 6"):
        await driver.make_safe()
    source.image.exception_code = None
    await eventually(lambda: not driver.link.silent, 3, "the link's silence to end")
    await driver.reset_error()
    assert source.commands.arc_on is False
    assert driver.output_value("arc_on") is False


async def test_a_write_staged_before_the_arc_off_cannot_switch_the_arc_on_again(welder):
    source, driver = welder
    await driver.set_setpoints(220.0, 24.5, 9.5)
    await driver.arc_on()
    # A write that reads the word back first (as after a reconnect: arc on in the machine),
    # asked for together with the arc-off: the arc-off goes out while the read-back is on
    # the wire, and the word staged from what it read went out after it, arc on again.
    driver._image_synced = False
    await asyncio.gather(driver.gas_test(False), driver.make_safe())
    assert source.commands.arc_on is False
    await driver.wire_inch(False)  # and any write after it
    assert source.commands.arc_on is False


async def test_a_reconnect_never_takes_the_machines_arc_on_into_the_image(welder):
    source, driver = welder
    await driver.set_setpoints(220.0, 24.5, 9.5)
    await driver.arc_on()
    driver._image_synced = False  # as right after a reconnect: the machine still says arc on
    await driver.gas_test(False)  # a bit of the same word: read back, then written
    assert source.commands.arc_on is False
