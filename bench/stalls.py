"""The machine's own stalls, to read latency figures by (``MachineStalls``).

A virtual machine's cores are taken away by its host now and then, for milliseconds: on the
bench's 2-core machine, idle, a real-time thread that sleeps 1 ms woke 5-7.5 ms late a few
times a minute. No software in the cell can help a frame that was exposed or measured then.

While in use, a thread per core (pinned to it, at real-time priority where the process may)
sleeps ``SLEEP_S`` at a time and records every wake-up later than ``threshold_s``. The
process's GIL switch interval is 0.2 ms meanwhile, so that its other threads hold a waking
probe up for no longer than that.
"""

from __future__ import annotations

import os
import sys
import threading
import time

SLEEP_S = 0.002  # 500 wake-ups a second per core: some 1 % of a core
REALTIME_PRIORITY = 10  # as the controller's correction stream: it does not preempt that
SWITCH_INTERVAL_S = 0.0002


class MachineStalls:
    """``with MachineStalls() as stalls: ...``; then ``stalls.summary()``."""

    def __init__(self, threshold_s: float = 0.002) -> None:
        self.threshold_s = threshold_s
        self.stalls_s: list[float] = []  # how late each late wake-up was
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._switch_interval_s = 0.0  # the process's own, while in use

    def __enter__(self) -> MachineStalls:
        self._switch_interval_s = sys.getswitchinterval()
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [None]
        for core in cores:
            thread = threading.Thread(
                target=self._watch, args=(core,), name=f"stall probe {core}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()
        sys.setswitchinterval(self._switch_interval_s)

    def summary(self) -> dict[str, float]:
        """How many stalls, and the longest (ms; 0 with none)."""
        return {
            "count": len(self.stalls_s),
            "longest_ms": max(self.stalls_s, default=0.0) * 1e3,
        }

    def _watch(self, core: int | None) -> None:
        if core is not None:
            os.sched_setaffinity(0, {core})  # 0: this thread
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(REALTIME_PRIORITY))
        except (AttributeError, OSError):
            pass  # a normal thread: it then also counts the cores being busy
        while not self._stop.is_set():
            before = time.monotonic()
            time.sleep(SLEEP_S)
            late_s = time.monotonic() - before - SLEEP_S
            if late_s > self.threshold_s:
                self.stalls_s.append(late_s)  # list.append is atomic under the GIL
