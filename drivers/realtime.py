"""Real-time scheduling for a thread that must answer on time: ``ask_for_realtime``.

On Linux a thread under SCHED_FIFO runs as soon as it is ready, ahead of every normal thread
and process on its core (a CPU hog, a compiler, the HMI); among real-time threads the higher
priority runs first. Without the privilege (CAP_SYS_NICE, or an rtprio limit) the request is
refused and the thread stays a normal one: it still works, only with less of a guarantee.

A thread created afterwards inherits its creator's policy and priority, so a process that
asks in its main thread before starting any other has every thread real-time; a thread that
asks for itself only changes itself. The kernel keeps 5 % of every second for normal work
(``/proc/sys/kernel/sched_rt_runtime_us``), so a runaway real-time thread cannot lock a
machine up for good.

``CELLCTL_REALTIME=0`` in the environment turns every request down (each refusal says so):
for a development PC, and for the test suite, which runs several cells, their simulated
devices and the tests' own code side by side on two cores. There, SCHED_FIFO does harm: a
real-time thread of one priority is never time-sliced against another of the same, so one
cell's busy stretch (a controller's first cycle, a rig loading its config) held the core from
another cell's simulated power source for over 100 ms, and every normal-priority cell beside
them waited behind both (F131 and lost tracking in full runs). The kernel's fair scheduler
wakes a thread that mostly sleeps, as a link's reader does, within a few milliseconds.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from collections.abc import Iterator

log = logging.getLogger(__name__)

# Which threads' refusals were said already: each once, not once per connection or weld.
# Asked from the threads themselves, so under a lock.
_said_lock = threading.Lock()
_refusals_said: set[str] = set()


# The environment variable that turns real-time scheduling off for a process and its children.
REALTIME_ENV = "CELLCTL_REALTIME"


def realtime_allowed() -> OSError | None:
    """None unless ``CELLCTL_REALTIME=0`` turns real-time scheduling off; the refusal then."""
    if os.environ.get(REALTIME_ENV, "").strip() == "0":
        return OSError(f"real-time scheduling turned off ({REALTIME_ENV}=0)")
    return None


def ask_for_realtime(priority: int) -> OSError | None:
    """Put the calling thread under SCHED_FIFO at ``priority`` (1..99). None when granted;
    the refusal otherwise (the thread then stays as it was)."""
    if (off := realtime_allowed()) is not None:
        return off
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
    except AttributeError as error:  # not Linux
        return OSError(f"no SCHED_FIFO here: {error}")
    except OSError as error:
        return error
    return None


def ask_for_realtime_or_say(priority: int, what: str) -> bool:
    """``ask_for_realtime``, and a refusal said in the log once per ``what`` (e.g. "sensor
    reader"): a thread that asks at every start would otherwise say it at every start. True
    when granted."""
    refused = ask_for_realtime(priority)
    if refused is None:
        return True
    with _said_lock:
        first = what not in _refusals_said
        _refusals_said.add(what)
    if first:
        log.info("%s runs without real-time priority: %s", what, refused)
    return False


def realtime_priority() -> int:
    """The calling thread's SCHED_FIFO priority; 0 for a normal thread."""
    try:
        if os.sched_getscheduler(0) != os.SCHED_FIFO:
            return 0
        return os.sched_getparam(0).sched_priority
    except (AttributeError, OSError):
        return 0


def make_process_realtime(priority: int) -> OSError | None:
    """Put every thread of this process that is still a normal one under SCHED_FIFO at
    ``priority``; threads that already have a real-time priority keep theirs. Threads started
    afterwards inherit their creator's. None when granted; the first refusal otherwise."""
    if (off := realtime_allowed()) is not None:
        return off
    try:
        threads = [int(tid) for tid in os.listdir("/proc/self/task")]
    except OSError as error:
        return error
    refused: OSError | None = None
    for tid in threads:
        try:
            if os.sched_getscheduler(tid) == os.SCHED_OTHER:
                os.sched_setscheduler(tid, os.SCHED_FIFO, os.sched_param(priority))
        except ProcessLookupError:
            continue  # it ended meanwhile
        except (AttributeError, OSError) as error:
            refused = refused or OSError(str(error))
    return refused


def _thread_ids() -> list[int]:
    return [int(tid) for tid in os.listdir("/proc/self/task")]


@contextlib.contextmanager
def realtime_process_while(priority: int) -> Iterator[OSError | None]:
    """``make_process_realtime(priority)`` for the block only, for a process that goes on with
    other work afterwards (a test worker that ran a cell rig). The block gets the refusal, or
    None. On leaving it, every thread of the process under SCHED_FIFO that was not before the
    block goes back to a normal thread: those the block made real-time, those started in it
    (they inherited the policy) and those that asked for themselves in it."""
    try:
        realtime_before = {
            tid for tid in _thread_ids() if os.sched_getscheduler(tid) != os.SCHED_OTHER
        }
    except (AttributeError, OSError) as error:  # not Linux, or no /proc
        yield OSError(str(error))
        return
    try:
        yield make_process_realtime(priority)
    finally:
        for tid in _thread_ids():
            if tid in realtime_before:
                continue
            try:
                if os.sched_getscheduler(tid) == os.SCHED_FIFO:
                    os.sched_setscheduler(tid, os.SCHED_OTHER, os.sched_param(0))
            except OSError:
                continue  # it ended meanwhile


# The interval ``gil_kept`` found, and how many of its blocks are open: the switch interval
# is process-wide, and two threads may keep the GIL at once in one process (the simulated
# camera and the controller's sensor reader, in a test rig). Each saving and restoring it
# alone let the later one put the raised interval back for good; the first block in saves,
# the last one out restores, under this lock.
_kept_lock = threading.Lock()
_kept_depth = 0
_kept_before_s = 0.0


@contextlib.contextmanager
def gil_kept(for_s: float) -> Iterator[None]:
    """``with gil_kept(0.001):`` a real-time thread's short stretch of Python (a frame's
    vision) keeps the GIL for up to ``for_s`` when other threads ask for it.

    A thread's SCHED_FIFO priority ranks it for the cores, not for the GIL: a normal thread
    waiting for the GIL makes the holder hand it over after the switch interval (0.2 ms in
    the controller, so that a waking real-time thread gets it that soon), and the holder then
    waits until the other has run. A frame's vision (0.2-0.5 ms) was so cut in two or three
    by the event loop, and took 2-3 times as long as alone. Inside the block the interval is
    ``for_s``: a thread that asks meanwhile waits for the block's end (at most ``for_s``);
    afterwards the interval is what it was before the first open block (blocks of several
    threads may overlap)."""
    global _kept_depth, _kept_before_s
    with _kept_lock:
        if _kept_depth == 0:
            _kept_before_s = sys.getswitchinterval()
        _kept_depth += 1
        sys.setswitchinterval(max(sys.getswitchinterval(), for_s))
    try:
        yield
    finally:
        with _kept_lock:
            _kept_depth -= 1
            if _kept_depth == 0:
                # Half a microsecond more: CPython keeps the interval in whole microseconds,
                # rounded down, and the interval as read back would otherwise come back a
                # microsecond shorter each time (a frame at a time, down to none).
                sys.setswitchinterval(_kept_before_s + 5e-7)
