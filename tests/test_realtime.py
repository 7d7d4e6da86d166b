"""Real-time scheduling of the controller's threads (``drivers.realtime``), in a process of
its own: a policy set here would stay with the test process."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading

import pytest

from drivers.realtime import REALTIME_ENV, ask_for_realtime, gil_kept

# The suite turns real-time scheduling off (tests/conftest.py); these children test it on.
REALTIME_ON = {name: value for name, value in os.environ.items() if name != REALTIME_ENV}

CHILD = textwrap.dedent(
    """
    import os, threading
    from drivers.realtime import ask_for_realtime, make_process_realtime, realtime_priority

    probe = []  # may this process have real-time threads at all?
    asking = threading.Thread(target=lambda: probe.append(ask_for_realtime(1)))
    asking.start(); asking.join()
    if probe[0] is not None:
        print("False"); raise SystemExit(0)
    ready, done = threading.Event(), threading.Event()
    seen = {}

    def worker(name, priority):
        if priority:
            assert ask_for_realtime(priority) is None
        ready.set() if name == "plain" else None
        done.wait()
        seen[name] = realtime_priority()

    plain = threading.Thread(target=worker, args=("plain", 0))
    high = threading.Thread(target=worker, args=("high", 7))
    plain.start(); high.start(); ready.wait()
    refused = make_process_realtime(3)
    later = threading.Thread(target=lambda: seen.__setitem__("later", realtime_priority()))
    later.start(); later.join()
    done.set(); plain.join(); high.join()
    print(refused is None, realtime_priority(), seen["plain"], seen["high"], seen["later"])
    """
)


def test_the_controller_process_goes_real_time_and_threads_that_asked_for_more_keep_it():
    out = subprocess.run(
        [sys.executable, "-c", CHILD],
        capture_output=True, text=True, timeout=60, check=False, env=REALTIME_ON,
    )  # fmt: skip
    if out.stdout.startswith("False"):
        pytest.skip("no real-time privilege here (CAP_SYS_NICE or an rtprio limit)")
    assert out.returncode == 0, out.stderr
    granted, main, plain, high, later = out.stdout.split()
    assert granted == "True"
    assert (main, plain, later) == ("3", "3", "3")  # all of them, and a thread started later
    assert high == "7"  # a thread that asked for more keeps it


SCOPED = textwrap.dedent(
    """
    import threading
    from drivers.realtime import ask_for_realtime, realtime_priority, realtime_process_while

    probe = []
    asking = threading.Thread(target=lambda: probe.append(ask_for_realtime(1)))
    asking.start(); asking.join()
    if probe[0] is not None:
        print("False"); raise SystemExit(0)
    release = threading.Event()
    seen = {}

    def lives_on():  # a thread started inside the block, still alive after it
        release.wait()
        seen["after"] = realtime_priority()

    with realtime_process_while(4) as refused:
        inside = realtime_priority()
        survivor = threading.Thread(target=lives_on)
        survivor.start()
    after = realtime_priority()
    release.set(); survivor.join()
    print(refused is None, inside, after, seen["after"])
    """
)


def test_a_test_process_is_real_time_only_while_its_cell_runs():
    # The cell rigs run the controller real-time as `cellctl run` does; the worker then goes
    # on with other tests, which must get a normal process back, threads started inside too.
    out = subprocess.run(
        [sys.executable, "-c", SCOPED],
        capture_output=True, text=True, timeout=60, check=False, env=REALTIME_ON,
    )  # fmt: skip
    if out.stdout.startswith("False"):
        pytest.skip("no real-time privilege here (CAP_SYS_NICE or an rtprio limit)")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "4", "0", "0"]


def test_real_time_turned_off_by_the_environment_is_refused_and_says_why(monkeypatch):
    """``CELLCTL_REALTIME=0`` (the suite's own setting): every request is refused, naming
    the variable, and the thread stays a normal one."""
    monkeypatch.setenv(REALTIME_ENV, "0")
    refused = ask_for_realtime(1)
    assert refused is not None
    assert f"{REALTIME_ENV}=0" in str(refused)
    assert os.sched_getscheduler(0) == os.SCHED_OTHER


def test_a_stretch_that_keeps_the_gil_lengthens_the_switch_interval_and_gives_it_back():
    """``gil_kept``: inside, another thread asking for the GIL waits up to the stretch's time
    (the switch interval at least that); afterwards, and after a failure inside, the
    interval is what it was; a longer one already set is kept. (CPython keeps the interval
    in whole microseconds.)"""
    before = sys.getswitchinterval()
    try:
        sys.setswitchinterval(0.0002)
        with gil_kept(0.001):
            assert sys.getswitchinterval() == pytest.approx(0.001, abs=2e-6)
        assert sys.getswitchinterval() == pytest.approx(0.0002, abs=2e-6)
        interval = sys.getswitchinterval()
        for _ in range(1000):  # a frame at a time: the interval does not creep down
            with gil_kept(0.001):
                pass
        assert sys.getswitchinterval() == interval
        with pytest.raises(RuntimeError), gil_kept(0.001):
            raise RuntimeError("the vision failed")
        assert sys.getswitchinterval() == pytest.approx(0.0002, abs=2e-6)
        sys.setswitchinterval(0.005)
        with gil_kept(0.001):
            assert sys.getswitchinterval() == pytest.approx(0.005, abs=2e-6)
    finally:
        sys.setswitchinterval(before)


def test_stretches_of_two_threads_that_overlap_give_the_interval_back_once_both_end():
    """The simulated camera and the controller's reader keep the GIL in one process (a test
    rig): the second block opens while the first is open and closes after it. Each restoring
    the interval it had found left it raised for good; the last one out restores it."""
    before = sys.getswitchinterval()
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()

    def second() -> None:
        first_in.wait()
        with gil_kept(0.002):
            second_in.set()
            first_out.wait()
            assert sys.getswitchinterval() == pytest.approx(0.002, abs=2e-6)

    try:
        sys.setswitchinterval(0.0002)
        other = threading.Thread(target=second)
        other.start()
        with gil_kept(0.001):
            first_in.set()
            second_in.wait()
        first_out.set()
        other.join()
        assert sys.getswitchinterval() == pytest.approx(0.0002, abs=2e-6)
    finally:
        sys.setswitchinterval(before)
