"""Contract tests: the real PLC driver against the simulated PLC over real loopback TCP.

Each test starts a simulated PLC (pymodbus server) on a free port and a driver on the same
register map as the shipped config/cell.yaml, then checks one promise of the driver.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest

from drivers.codecs.modbus_map import RegisterTable
from drivers.codecs.settings import ModbusRtuLinkSettings, PlcSettings
from drivers.errors import DeviceError, DeviceRejected, DeviceTimeout, LinkDown, WriteRefused
from drivers.plc import PlcDriver
from sim.cellfile import load_cell_devices
from sim.clock import SimClock
from sim.devices.plc import SimulatedPlc
from tests.waiting import eventually

logging.getLogger("pymodbus").setLevel(logging.CRITICAL)


def plc_settings(repo, port: int, **heartbeat) -> PlcSettings:
    """The shipped PLC settings, on ``port``, with short timeouts so failures show quickly."""
    settings = load_cell_devices(repo / "config" / "cell.yaml").plc
    link = settings.link.model_copy(
        update={
            "port": port,
            "timeout_ms": 100,
            "retries": 0,
            "reconnect_delay_min_ms": 20,
            "reconnect_delay_max_ms": 100,
        }
    )
    beat = settings.heartbeat.model_copy(update=heartbeat)
    return settings.model_copy(update={"link": link, "heartbeat": beat})


@pytest.fixture
async def cell(repo, unused_tcp_port) -> AsyncIterator[tuple[SimulatedPlc, PlcDriver]]:
    settings = plc_settings(repo, unused_tcp_port)
    plc = SimulatedPlc(settings, SimClock(20))
    await plc.start()
    driver = PlcDriver(settings)
    await driver.connect()
    await driver.wait_connected(2)
    yield plc, driver
    await driver.close()
    await plc.close()


async def test_full_input_scan_is_one_request_and_decodes_every_input(cell):
    plc, driver = cell
    before = driver.stats.requests
    inputs = await driver.read_inputs()
    # One request per block of the map: %IW0..7, and the torch's inputs at %IW20 (issue 20).
    assert driver.stats.requests - before == driver.input_blocks == 2
    assert set(inputs) == set(driver.registers.inputs)
    assert inputs["estop_chain_ok"] is True
    assert inputs["gas_pressure_bar"] == pytest.approx(4.5)
    plc.set_gas_pressure_bar(1.2)
    plc.set_estop(True)
    inputs = await driver.read_inputs()
    assert inputs["estop_chain_ok"] is False
    assert inputs["gas_pressure_ok"] is False
    assert inputs["gas_pressure_bar"] == pytest.approx(1.2)


async def test_bits_of_one_word_are_written_without_disturbing_each_other(cell):
    plc, driver = cell
    await driver.write_output("stack_light_green", True)
    await driver.write_output("door_lock_request", True)
    await driver.write_output("stack_light_green", False)
    assert plc.output("door_lock_request") is True
    assert plc.output("stack_light_green") is False
    # Several outputs in adjacent registers go out as one function-16 request.
    before = len(plc.writes_seen)
    await driver.write_outputs({"robot_enable_request": True, "cell_state": 6})
    assert len(plc.writes_seen) == before + 1
    assert plc.writes_seen[-1][0] == 101
    assert plc.output("cell_state") == 6


async def test_a_new_driver_reads_the_output_image_back_before_writing_a_bit(repo, cell):
    plc, driver = cell
    await driver.write_outputs({"stack_light_red": True, "buzzer": True})
    second = PlcDriver(driver.settings)
    await second.connect(heartbeat=False)
    await second.wait_connected(2)
    try:
        await second.write_output("stack_light_amber", True)
        # Red and buzzer survived: the new driver read the word back first.
        assert plc.output("stack_light_red") is True
        assert plc.output("buzzer") is True
        assert plc.output("stack_light_amber") is True
    finally:
        await second.close()


async def test_writes_outside_the_map_are_refused_before_the_wire(cell):
    plc, driver = cell
    before = len(plc.writes_seen)
    with pytest.raises(WriteRefused, match=r"plc at 127\.0\.0\.1:\d+ unit 1: write to spare_lamp"):
        await driver.write_output("spare_lamp", True)
    with pytest.raises(WriteRefused, match=r"heartbeat: 70000 is out of range 0\.\.65535"):
        await driver.write_output("heartbeat", 70000)
    with pytest.raises(WriteRefused, match="expected a bool"):
        await driver.write_output("buzzer", 3)
    # A raw write to an input register, and to a register nobody mapped.
    with pytest.raises(WriteRefused, match=r"register 0: write to register\(s\) \[0\] refused"):
        await driver.link.write_registers(0, [1], driver.registers.output_registers())
    with pytest.raises(WriteRefused, match=r"\[250\]"):
        await driver.link.write_registers(250, [1], driver.registers.output_registers())
    # A write that mixes a good output and a bad one sends nothing at all.
    with pytest.raises(WriteRefused):
        await driver.write_outputs({"buzzer": True, "cell_state": -1})
    assert len(plc.writes_seen) == before
    assert plc.output("buzzer") is False
    assert driver.stats.refused_writes == 6


async def test_no_answer_raises_a_timeout_that_names_device_and_address(cell):
    plc, driver = cell
    plc.faults.set("stall")
    with pytest.raises(DeviceTimeout, match=r"plc at 127\.0\.0\.1:\d+ unit 1 register 0: no valid"):
        await driver.read_inputs()
    assert driver.stats.timeouts == 1
    plc.faults.clear()
    await eventually(lambda: driver.connected, what="link back up")
    assert (await driver.read_inputs())["estop_chain_ok"] is True


async def test_garbled_and_truncated_answers_are_survived(cell):
    plc, driver = cell
    good = await driver.read_inputs()
    # Modbus TCP has no checksum (TCP's own protects the bytes); what a broken gateway garbles
    # that the client can notice is the MBAP header: a wrong protocol id, a wrong length.
    for corrupt_at in (2, 5):
        plc.faults.set("corrupt", frames=1, corrupt_at=corrupt_at)
        # A wrong protocol id is dropped (timeout); a wrong length yields a short answer.
        with pytest.raises(DeviceError, match=r"no valid answer|answered with \d+ registers"):
            await driver.read_inputs()
        await eventually(lambda: driver.connected, what="link back up")
        assert await driver.read_inputs() == {**good, **_volatile(driver.inputs)}
    plc.faults.set("truncate", frames=1)
    with pytest.raises(DeviceTimeout):
        await driver.read_inputs()
    await eventually(lambda: driver.connected, what="link back up")
    assert (await driver.read_inputs())["estop_chain_ok"] is True
    plc.faults.set("garbage", frames=1)
    with pytest.raises(DeviceError):
        await driver.read_inputs()
    await eventually(lambda: driver.connected, what="link back up")
    assert (await driver.read_inputs())["door_closed"] is True
    assert driver.stats.errors >= 4


def _volatile(inputs: dict) -> dict:
    """Inputs that change by themselves between two reads."""
    return {k: inputs[k] for k in ("plc_cycle_count", "heartbeat_echo")}


async def test_exception_responses_raise_rejected_with_the_code(cell):
    plc, driver = cell
    illegal_address = r"register 40: .*exception 2 \(illegal data address\)"
    with pytest.raises(DeviceRejected, match=illegal_address):
        await driver.link.read_registers(RegisterTable.INPUT, 40, 2)
    plc.exception_code = 6
    with pytest.raises(DeviceRejected) as rejected:
        await driver.read_inputs()
    assert rejected.value.code == 6
    assert "server device busy" in str(rejected.value)
    plc.exception_code = None
    assert (await driver.read_inputs())["part_present"] is True
    assert driver.stats.rejections == 2


async def test_reconnects_after_the_plc_restarts(repo, cell):
    plc, driver = cell
    await driver.write_output("stack_light_green", True)
    await plc.close()
    await eventually(lambda: not driver.connected, what="link to go down")
    with pytest.raises(LinkDown, match="link is down"):
        await driver.read_inputs()
    restarted = SimulatedPlc(driver.settings, SimClock(20))
    await restarted.start()
    try:
        await driver.wait_connected(3)
        assert driver.stats.reconnects == 1
        assert (await driver.read_inputs())["estop_chain_ok"] is True
        # The restarted PLC forgot the lamp; the driver re-reads its image before a bit write.
        await driver.write_output("buzzer", True)
        assert restarted.output("stack_light_green") is False
        assert restarted.output("buzzer") is True
    finally:
        await restarted.close()


async def test_the_plc_watchdog_never_trips_while_the_heartbeat_runs(repo, unused_tcp_port):
    settings = plc_settings(repo, unused_tcp_port, period_ms=20, watchdog_timeout_ms=150)
    plc = SimulatedPlc(settings, SimClock(20))
    await plc.start()
    driver = PlcDriver(settings)
    try:
        await driver.connect()
        await driver.wait_connected(2)
        await driver.write_output("robot_enable_request", True)
        await eventually(lambda: plc.logic.robot_enabled, what="robot enabled")
        beats = driver.heartbeat.beats_written
        await asyncio.sleep(0.6)  # four watchdog periods
        assert driver.heartbeat.beats_written > beats + 10
        assert plc.logic.watchdog_trips == 0
        assert plc.logic.robot_enabled
        assert (await driver.read_inputs())["heartbeat_echo"] == driver.heartbeat.last_value
    finally:
        await driver.close()
    # The controller is gone: the PLC's watchdog drops robot enable by itself.
    await eventually(lambda: plc.logic.watchdog_tripped, what="watchdog trip")
    assert not plc.logic.robot_enabled
    # A new controller beats again: the watchdog clears, but the robot stays disabled until
    # enable is requested anew (a rising edge): nothing restarts by itself.
    driver = PlcDriver(settings)
    try:
        await driver.connect()
        await driver.wait_connected(2)
        await eventually(lambda: not plc.logic.watchdog_tripped, what="watchdog to clear")
        assert (await driver.read_inputs())["robot_enabled"] is False
        await driver.write_output("robot_enable_request", False)
        await driver.write_output("robot_enable_request", True)
        await eventually(lambda: plc.logic.robot_enabled, what="robot enabled again")
    finally:
        await driver.close()
        await plc.close()


async def test_interlocks_drop_robot_enable_until_requested_again(cell):
    plc, driver = cell
    await driver.write_output("robot_enable_request", True)
    await eventually(lambda: plc.logic.robot_enabled, what="robot enabled")
    for open_, close in (
        (lambda: plc.set_door_open(True), lambda: plc.set_door_open(False)),
        (lambda: plc.set_estop(True), lambda: plc.set_estop(False)),
        (
            lambda: plc.set_light_curtain_blocked(True),
            lambda: plc.set_light_curtain_blocked(False),
        ),
    ):
        open_()
        assert (await driver.read_inputs())["robot_enabled"] is False
        close()
        await asyncio.sleep(0.03)
        assert (await driver.read_inputs())["robot_enabled"] is False, "re-enabled by itself"
        await driver.write_output("robot_enable_request", False)
        await driver.write_output("robot_enable_request", True)
        assert (await driver.read_inputs())["robot_enabled"] is True


async def test_clamps_close_only_on_a_part_and_buttons_read_while_pressed(cell):
    plc, driver = cell
    plc.set_part_loaded(False)
    await driver.write_output("clamp_close_request", True)
    await asyncio.sleep(0.1)  # 2 s simulated: far longer than the clamps' travel
    assert (await driver.read_inputs())["clamps_closed"] is False
    plc.set_part_loaded(True)
    await eventually(lambda: plc.logic.clamp_position >= 1.0, what="clamps closed")
    assert (await driver.read_inputs())["clamps_closed"] is True
    plc.press("start_button")
    assert (await driver.read_inputs())["start_button"] is True
    with pytest.raises(ValueError, match="no button"):
        plc.press("big_red_button")


async def test_the_same_map_works_over_modbus_rtu(repo, unused_tcp_port):
    """RTU frames (with CRC) through a serial port URL: socket:// to an RTU-over-TCP server."""
    tcp = plc_settings(repo, unused_tcp_port)
    rtu_link = ModbusRtuLinkSettings(
        port=f"socket://127.0.0.1:{unused_tcp_port}",
        baud=115200,
        unit_id=tcp.link.unit_id,
        timeout_ms=200,
        retries=0,
    )
    settings = tcp.model_copy(update={"link": rtu_link})
    plc = SimulatedPlc(settings, SimClock(20), port=unused_tcp_port, rtu_framing=True)
    await plc.start()
    driver = PlcDriver(settings)
    try:
        await driver.connect(heartbeat=False)
        await driver.wait_connected(2)
        assert (await driver.read_inputs())["estop_chain_ok"] is True
        await driver.write_output("stack_light_amber", True)
        assert plc.output("stack_light_amber") is True
        assert "socket://127.0.0.1" in driver.address
        # On RTU a garbled byte fails the CRC: the answer is dropped and the request times out.
        plc.faults.set("corrupt", frames=1)
        with pytest.raises(DeviceTimeout):
            await driver.read_inputs()
        assert (await driver.read_inputs())["door_closed"] is True
    finally:
        await driver.close()
        await plc.close()


async def test_requests_on_a_link_that_never_came_up_fail_at_once(repo, unused_tcp_port):
    driver = PlcDriver(plc_settings(repo, unused_tcp_port))  # nobody listens there
    await driver.connect()
    try:
        assert not driver.connected
        with pytest.raises(LinkDown, match=r"plc at 127\.0\.0\.1:\d+ unit 1 register 0: link is"):
            await driver.read_inputs()
        with pytest.raises(LinkDown, match="not connected within"):
            await driver.wait_connected(0.2)
    finally:
        await driver.close()
