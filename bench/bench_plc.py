"""Modbus TCP: the PLC driver's full input scan against a bare pymodbus read, in one run.

The simulated PLC runs in its own process (``cellsim plc``) on loopback, as a PLC would be on
its own hardware. In the same run, alternating in batches so that both see the same machine
load, we time:

- bare: ``AsyncModbusTcpClient.read_input_registers`` of the same registers the scan covers;
- driver: ``PlcDriver.read_inputs()``: the same read through ModbusLink (lock, counters,
  error mapping) plus decoding every named input.

Goal (issue 2): the driver adds at most 20 % over bare pymodbus, at p50 and at p99.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import time
from pathlib import Path

from pymodbus.client import AsyncModbusTcpClient

from bench.stats import goal, summary_ms
from cellctl.testing import free_port
from drivers.plc import PlcDriver
from sim.cellfile import load_cell_devices

REPO = Path(__file__).resolve().parent.parent
READS = 5000


async def _measure(port: int) -> dict:
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    settings = load_cell_devices(REPO / "config" / "cell.yaml").plc
    settings = settings.model_copy(
        update={"link": settings.link.model_copy(update={"port": port, "timeout_ms": 1000})}
    )
    driver = PlcDriver(settings)
    await driver.connect(heartbeat=False)
    await driver.wait_connected(5)
    (block,) = driver._scan.blocks  # the shipped map is one block: compare like with like
    bare = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=1, retries=0)
    await bare.connect()
    unit = settings.link.unit_id
    bare_s: list[float] = []
    driver_s: list[float] = []
    try:
        for _ in range(200):  # warm up both paths
            await driver.read_inputs()
            await bare.read_input_registers(block.start, count=block.count, device_id=unit)
        for _ in range(READS):
            started = time.perf_counter()
            await bare.read_input_registers(block.start, count=block.count, device_id=unit)
            bare_s.append(time.perf_counter() - started)
            started = time.perf_counter()
            await driver.read_inputs()
            driver_s.append(time.perf_counter() - started)
    finally:
        bare.close()
        await driver.close()
    return {
        "registers": block.count,
        "signals": len(settings.registers.inputs),
        "bare": summary_ms(bare_s),
        "driver": summary_ms(driver_s),
    }


def main() -> dict:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "sim.cli", "plc", "--port", str(port)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        for line in server.stdout:
            if line.startswith("ready"):
                break
        figures = asyncio.run(_measure(port))
    finally:
        server.terminate()
        server.wait(10)
    bare, driver = figures["bare"], figures["driver"]
    figures["overhead_p50_pct"] = (driver["p50_ms"] / bare["p50_ms"] - 1) * 100
    figures["overhead_p99_pct"] = (driver["p99_ms"] / bare["p99_ms"] - 1) * 100
    print(
        f"PLC full input scan on loopback: {figures['signals']} signals in "
        f"{figures['registers']} registers, {bare['n']} reads each, alternating"
    )
    print(f"  {'':<26}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    for label, row in (("bare pymodbus read", bare), ("PlcDriver.read_inputs()", driver)):
        print(f"  {label:<26}{row['p50_ms']:>9.3f}{row['p99_ms']:>9.3f}{row['max_ms']:>9.3f}")
    ok = figures["overhead_p50_pct"] <= 20 and figures["overhead_p99_pct"] <= 20
    print(
        goal(
            "driver adds at most 20% over bare pymodbus",
            ok,
            f"p50 {figures['overhead_p50_pct']:+.1f}%, p99 {figures['overhead_p99_pct']:+.1f}%",
        )
    )
    return figures


if __name__ == "__main__":
    main()
