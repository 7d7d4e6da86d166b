"""The machine's own stalls, to read latency figures by (``MachineStalls``).

A virtual machine's cores are taken away by its host now and then, for milliseconds: on the
bench's 2-core machine, idle, a real-time thread that sleeps 1 ms woke 5-7.5 ms late a few
times a minute. No software in the cell can help a frame that was exposed or measured then.

While in use, a process of its own (``python -m bench.stalls``) runs a thread per core (pinned
to it, at real-time priority where it may) that sleeps ``SLEEP_S`` at a time and records every
wake-up later than ``threshold_s``. In a process of its own, the probes wait for no GIL but
their own: in the benchmark's process a waking probe would wait for whichever of the bench's
threads held the GIL (the frame tap, the operator), and count that thread's being preempted
by a CPU hog as the machine's stall.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

SLEEP_S = 0.002  # 500 wake-ups a second per core: some 1 % of a core
REALTIME_PRIORITY = 10  # as the controller's correction stream: it does not preempt that
SWITCH_INTERVAL_S = 0.0002


class MachineStalls:
    """``with MachineStalls() as stalls: ...``; then ``stalls.summary()``."""

    def __init__(self, threshold_s: float = 0.002) -> None:
        self.threshold_s = threshold_s
        self.stalls_s: list[float] = []  # how late each late wake-up was
        self._probe: subprocess.Popen | None = None

    def __enter__(self) -> MachineStalls:
        self._probe = subprocess.Popen(
            [sys.executable, "-m", "bench.stalls", str(self.threshold_s)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parent.parent,
        )
        assert self._probe.stdout is not None
        self._probe.stdout.readline()  # "probing": its threads run
        return self

    def __exit__(self, *exc_info) -> None:
        probe, self._probe = self._probe, None
        if probe is None:
            return
        out, _ = probe.communicate("", timeout=30)  # stdin closed: it stops and reports
        self.stalls_s = json.loads(out.strip().splitlines()[-1])

    def summary(self) -> dict[str, float]:
        """How many stalls, and the longest (ms; 0 with none)."""
        return {
            "count": len(self.stalls_s),
            "longest_ms": max(self.stalls_s, default=0.0) * 1e3,
        }


def _watch(core: int | None, threshold_s: float, stop: threading.Event, late: list[float]):
    if core is not None:
        os.sched_setaffinity(0, {core})  # 0: this thread
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(REALTIME_PRIORITY))
    except (AttributeError, OSError):
        pass  # a normal thread: it then also counts the cores being busy
    while not stop.is_set():
        before = time.monotonic()
        time.sleep(SLEEP_S)
        late_s = time.monotonic() - before - SLEEP_S
        if late_s > threshold_s:
            late.append(late_s)  # list.append is atomic under the GIL


def main(threshold_s: float) -> None:
    """The probe process: a probe per core until standard input closes; then the late
    wake-ups (s) as one JSON line."""
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [None]
    stop, late = threading.Event(), []
    threads = [
        threading.Thread(target=_watch, args=(core, threshold_s, stop, late), daemon=True)
        for core in cores
    ]
    for thread in threads:
        thread.start()
    print("probing", flush=True)
    sys.stdin.read()
    stop.set()
    for thread in threads:
        thread.join()
    print(json.dumps(late), flush=True)


if __name__ == "__main__":
    main(float(sys.argv[1]))
