"""Modbus RTU on a pty: the power source driver's overhead per 10-register read.

A pty carries no baud-rate timing: its bytes arrive as fast as the processes move them. So the
time a read takes on a pty is what software adds; on a real line the bytes' wire time comes on
top. The floor it is compared with is that wire time at 115200 baud, 8N1: the request (8 bytes)
and the answer (25 bytes) on the wire, plus the silence after each frame by which the other end
knows it has ended (t3.5: fixed at 1.75 ms above 19200 baud by the Modbus serial line spec).

In one run, in alternating blocks of reads against the simulated power source in its own
process (``cellsim welder``):

- bare pty: the request's bytes written to the pty and the answer read back, no library at all
  (what the device and the transport take);
- bare pymodbus: ``AsyncModbusSerialClient.read_input_registers``;
- driver: ``PowerSourceDriver.link.read_registers`` (pymodbus plus ModbusLink's lock, counters
  and error mapping).

The driver's overhead is driver minus bare pty. Goal (issue 2): under 10 % of the floor.
"""

from __future__ import annotations

import asyncio
import logging
import os
import struct
import subprocess
import sys
import tempfile
import time
import tty
from pathlib import Path

import yaml
from pymodbus.client import AsyncModbusSerialClient

from bench.stats import goal, summary_ms
from drivers.codecs.modbus_map import RegisterTable
from drivers.power_source import PowerSourceDriver
from sim.cellfile import load_cell_devices

REPO = Path(__file__).resolve().parent.parent
READS = 3000
BLOCK = 100
REGISTERS = 10
BAUD = 115200
UNIT = 1


def _crc16_modbus(frame: bytes) -> bytes:
    crc = 0xFFFF
    for byte in frame:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return struct.pack("<H", crc)


def floor_ms() -> dict[str, float]:
    request, answer = 8, 3 + 2 * REGISTERS + 2
    char_s = 10 / BAUD  # start + 8 data + stop
    bytes_ms = (request + answer) * char_s * 1e3
    return {
        "wire_bytes_ms": bytes_ms,
        "floor_ms": bytes_ms + 2 * 1.75,  # + t3.5 after each frame, fixed above 19200 baud
        "floor_char_gaps_ms": bytes_ms + 2 * 3.5 * char_s * 1e3,
    }


def _config_with_ten_inputs(folder: Path) -> Path:
    """The shipped cell config, the power source at ``folder/ps`` with 10 input registers."""
    cell = yaml.safe_load((REPO / "config" / "cell.yaml").read_text())
    link = cell["power_source"]["link"]
    link.update(port=str(folder / "ps"), baud=BAUD, timeout_ms=500, retries=0)
    inputs = cell["power_source"]["registers"]["inputs"]
    for address in range(6, REGISTERS):
        inputs[f"spare_{address}"] = {"address": address, "type": "uint16"}
    path = folder / "cell.yaml"
    for sub in ("parts", "procedures"):
        (folder / sub).symlink_to(REPO / "config" / sub)
    path.write_text(yaml.safe_dump(cell))
    return path


async def _measure(config: Path) -> dict:
    """Blocks of reads by each kind in turn; only one of them has the port open at a time (a
    pty, like a serial port, gives each answer to whichever reader takes it first)."""
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    settings = load_cell_devices(config).power_source
    port = settings.link.port
    request = struct.pack(">BBHH", UNIT, 4, 0, REGISTERS)
    request += _crc16_modbus(request)
    answer_length = 3 + 2 * REGISTERS + 2
    loop = asyncio.get_running_loop()

    async def bare_pty_block(count: int, samples: list[float]) -> None:
        fd = os.open(port, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(fd)
        try:
            for _ in range(count):
                started = time.perf_counter()
                os.write(fd, request)
                got = b""
                while len(got) < answer_length:
                    readable = loop.create_future()
                    loop.add_reader(fd, readable.set_result, None)
                    try:
                        await readable
                    finally:
                        loop.remove_reader(fd)
                    got += os.read(fd, 256)
                samples.append(time.perf_counter() - started)
        finally:
            os.close(fd)

    async def pymodbus_block(count: int, samples: list[float]) -> None:
        client = AsyncModbusSerialClient(port, baudrate=BAUD, parity="N", timeout=0.5, retries=0)
        await client.connect()
        try:
            for _ in range(count):
                started = time.perf_counter()
                await client.read_input_registers(0, count=REGISTERS, device_id=UNIT)
                samples.append(time.perf_counter() - started)
        finally:
            client.close()

    async def driver_block(count: int, samples: list[float]) -> None:
        driver = PowerSourceDriver(settings)
        await driver.connect()
        await driver.wait_connected(5)
        try:
            for _ in range(count):
                started = time.perf_counter()
                await driver.link.read_registers(RegisterTable.INPUT, 0, REGISTERS)
                samples.append(time.perf_counter() - started)
        finally:
            await driver.close()

    kinds = {"pty": bare_pty_block, "pymodbus": pymodbus_block, "driver": driver_block}
    samples: dict[str, list[float]] = {kind: [] for kind in kinds}
    for warm_up in kinds.values():
        await warm_up(100, [])
    for _ in range(READS // BLOCK):
        for kind, block in kinds.items():
            await block(BLOCK, samples[kind])
    return {kind: summary_ms(values) for kind, values in samples.items()}


def main() -> dict:
    global raw_fd
    with tempfile.TemporaryDirectory(prefix="bench-rtu-") as folder_name:
        folder = Path(folder_name)
        config = _config_with_ten_inputs(folder)
        server = subprocess.Popen(
            [sys.executable, "-m", "sim.cli", "welder", "--config", str(config)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert server.stdout is not None
            for line in server.stdout:
                if line.startswith("ready"):
                    break
            figures = asyncio.run(_measure(config))
        finally:
            server.terminate()
            server.wait(10)
    floor = floor_ms()
    figures.update(floor)
    for percentile in ("p50", "p99"):
        overhead = figures["driver"][f"{percentile}_ms"] - figures["pty"][f"{percentile}_ms"]
        figures[f"driver_overhead_{percentile}_ms"] = overhead
        figures[f"driver_overhead_{percentile}_pct_of_floor"] = overhead / floor["floor_ms"] * 100
    print(f"Modbus RTU, {REGISTERS}-register read on a pty, {READS} reads each, in turns")
    print(f"  {'':<34}{'p50 ms':>9}{'p99 ms':>9}")
    for label, key in (
        ("bare pty round trip (no library)", "pty"),
        ("bare pymodbus client", "pymodbus"),
        ("PowerSourceDriver (ModbusLink)", "driver"),
    ):
        row = figures[key]
        print(f"  {label:<34}{row['p50_ms']:>9.3f}{row['p99_ms']:>9.3f}")
    print(
        f"  wire-time floor at {BAUD} baud: {floor['floor_ms']:.3f} ms "
        f"({floor['wire_bytes_ms']:.3f} ms of bytes + 2 x 1.75 ms t3.5; "
        f"{floor['floor_char_gaps_ms']:.3f} ms with 3.5-character gaps)"
    )
    p50 = figures["driver_overhead_p50_pct_of_floor"]
    print(
        goal(
            "driver overhead under 10% of the floor",
            p50 < 10,
            f"p50 {figures['driver_overhead_p50_ms']:.3f} ms = {p50:.1f}%, p99 "
            f"{figures['driver_overhead_p99_ms']:.3f} ms = "
            f"{figures['driver_overhead_p99_pct_of_floor']:.1f}%",
        )
    )
    return figures


if __name__ == "__main__":
    main()
