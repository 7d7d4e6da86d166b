"""Fixtures for every test, above all the leak checks.

A test that leaves behind a thread, an asyncio task, an open socket, pty or pipe, or a child
process fails: a controller runs for three shifts, and a leak per cycle is a crash per week.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import inspect
import os
import sys
import threading
import time
from pathlib import Path

import pytest

from drivers.realtime import REALTIME_ENV

REPO = Path(__file__).resolve().parent.parent

# No SCHED_FIFO in this process or the controllers it starts (drivers.realtime): the workers
# run cells side by side on two cores, and among real-time threads of one priority none is
# time-sliced, so one cell's busy stretch held another's simulated power source off its core
# for over 100 ms (F131). Set before any test imports the code that asks.
os.environ[REALTIME_ENV] = "0"
LEAK_GRACE_S = 3.0  # closed transports and exiting threads may take a moment to go


def _open_fds() -> dict[int, str]:
    """Open file descriptors that are links, sockets, ptys or pipes, with what they are."""
    found = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            continue  # the listing's own fd, already closed
        if target.startswith(("socket:", "pipe:", "/dev/pts/", "/dev/ptmx", "anon_inode:")):
            found[int(name)] = target
    return found


def _children() -> set[int]:
    pids: set[int] = set()
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/children") as children:
                pids.update(int(p) for p in children.read().split())
        except OSError:
            continue
    return pids


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """No full garbage-collection pauses from what earlier tests left.

    The simulated devices (and in some tests the controller) run in this process, on
    real-time deadlines. Hundreds of tests leave a large heap; a full garbage collection of it
    stalls the event loop and the sensor's threads for long enough that a link times out (a
    308 ms collection, then F133, was seen in CI). Freezing what earlier tests left moves it
    out of the collector's reach, so a collection during a test scans only what that test
    made. A hook, not an autouse fixture: pytest sets up module- and session-scoped fixtures
    (a module's welded part) before any function-scoped one, and those must run frozen too.
    """
    gc.collect()
    gc.freeze()


@pytest.fixture(autouse=True)
def no_leaked_threads_fds_or_children():
    threads_before = set(threading.enumerate())
    fds_before = _open_fds()
    children_before = _children()
    yield
    deadline = time.monotonic() + LEAK_GRACE_S
    while True:
        threads = [t for t in threading.enumerate() if t not in threads_before and t.is_alive()]
        fds = {fd: what for fd, what in _open_fds().items() if fds_before.get(fd) != what}
        children = _children() - children_before
        if not (threads or fds or children):
            return
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    problems = []
    if threads:
        problems.append("threads: " + ", ".join(t.name for t in threads))
    if fds:
        problems.append("file descriptors: " + ", ".join(f"{fd}->{w}" for fd, w in fds.items()))
    if children:
        problems.append(f"child processes: {sorted(children)}")
    pytest.fail("test leaked " + "; ".join(problems))


TASK_DUMP_AFTER_S = 100.0  # before pytest-timeout's 120 s, whose dump shows no asyncio tasks


async def _dump_tasks_when_stuck(delay_s: float) -> None:
    """If the test is still running after ``delay_s``, print every task's stack to stderr."""
    await asyncio.sleep(delay_s)
    print(f"\n--- asyncio tasks still running after {delay_s:g} s ---", file=sys.stderr)
    for task in asyncio.all_tasks():
        if task is not asyncio.current_task():
            task.print_stack(limit=12, file=sys.stderr)


@pytest.fixture
async def no_leaked_tasks():
    """Added to every async test (see pytest_collection_modifyitems)."""
    watchdog = asyncio.create_task(_dump_tasks_when_stuck(TASK_DUMP_AFTER_S), name="task dump")
    yield
    watchdog.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await watchdog
    current = asyncio.current_task()
    deadline = time.monotonic() + LEAK_GRACE_S
    while True:
        tasks = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
        if not tasks:
            return
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(0.02)
    names = ", ".join(f"{t.get_name()} ({t.get_coro()!r})" for t in tasks)
    for task in tasks:
        task.cancel()
    pytest.fail(f"test leaked asyncio tasks: {names}")


# Modules whose cell runs in the test's own process with the simulated sensor rendering every
# frame and the vision finding the seam in it: the heaviest real-time rigs. ``make test`` runs
# the suite on two workers (most tests wait on a simulated cell's time); these share one
# worker, so that two of them never run side by side.
SENSING_CELLS = {
    "tests.test_tracking_cell",
    "tests.test_replay",
    "tests.test_demo",
    "tests.test_weave_cell",
    "tests.test_multipass_cell",
    "tests.test_curved_seams_cell",
    "tests.test_kuka_rsi_controller",
    "tests.test_abb_egm_cell",
    "tests.test_supervision",
    # (the arc's weave periods read in blocks from the power source at 4x: latency-bound)
    "tests.test_arc_tracking_cell",
    # (no sensor, but its touches are latched from the controller's polls: latency-bound)
    "tests.test_owned_touch",
    # (checks that this grouping holds under make test)
    "tests.test_xdist_groups",
}


# Modules whose cell serves OPC UA (with encryption) in the test's own process, some with a
# GUI or a flood of connections beside it: they share one worker too.
OPCUA_CELLS = {
    "tests.test_opcua",
    "tests.test_opcua_doors",
    "tests.test_opcua_security",
    "tests.test_opcua_fuzz",
    "tests.test_gui",
}


# First: xdist's own hook (its worker's, registered after this file) turns the groups into the
# "@group" suffix of each test's id that --dist loadgroup schedules by. Run after it, these
# groups were marked too late and never held: two sensing cells ran side by side.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    for item in items:
        module = getattr(item, "module", None)
        if module is not None and module.__name__ in SENSING_CELLS:
            item.add_marker(pytest.mark.xdist_group("sensing-cell"))
        elif module is not None and module.__name__ in OPCUA_CELLS:
            item.add_marker(pytest.mark.xdist_group("opcua-cell"))
        function = getattr(item, "function", None)
        if function is not None and inspect.iscoroutinefunction(function):
            # First, so that it is torn down after the test's own fixtures.
            item.fixturenames.insert(0, "no_leaked_tasks")


@pytest.fixture
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def postgres_server():
    """One throwaway PostgreSQL cluster for the whole run (see tests/plant_servers.py)."""
    from rigs.plant_servers import PostgresServer

    server = PostgresServer()
    yield server
    server.stop()
