"""Every task and thread the controller starts, watched: nothing dies silently.

A controller that runs for three shifts must never sit in a running state with a dead task
behind it: a weld cycle that ended with an exception nobody expected, an acting state whose
store write failed, a scan loop or a sensor thread that stopped. The ``Supervisor`` starts the
controller's asyncio tasks and wraps its threads so that:

- an exception nobody expected is logged once, with its traceback, and handed to
  ``on_internal_error(where, error)``: the controller raises F180 ("internal error in <task>")
  and takes its full safe reaction (arc off, robot hold, abort);
- an exception the task's owner expects (``expected``: e.g. ``StoreError``) goes to its own
  handler instead, which raises the fault that names it (F160, "record not written");
- a task that must run as long as the controller does (``forever``: the PLC scan) and ends
  anyway is an internal error too, and is started again after ``RESTART_DELAY_S``: the cell
  never goes on without its interlocks, and a bug that fires at once does not spin.

Threads report from wherever they are: ``thread_failed`` hands the report to the event loop.

Cancellation is not a failure: the controller cancels tasks on purpose (the fault reaction
stops the weld cycle, shutdown stops everything).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)

InternalErrorHandler = Callable[[str, BaseException], None]
RESTART_DELAY_S = 1.0
STOP_TIMEOUT_S = 5.0


class Supervisor:
    """Starts and watches the controller's tasks; see the module docstring.

    Owned by the event loop: every method but ``thread_failed`` and ``watched`` is called
    on it. ``thread_failed`` may be called from any thread.
    """

    def __init__(self, on_internal_error: InternalErrorHandler) -> None:
        self.on_internal_error = on_internal_error
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False
        self.failures = 0  # internal errors reported, from tasks and threads

    def spawn(
        self,
        work: Coroutine[Any, Any, Any] | Callable[[], Coroutine[Any, Any, Any]],
        name: str,
        *,
        expected: tuple[type[BaseException], ...] = (),
        on_expected: Callable[[BaseException], None] | None = None,
        forever: bool = False,
    ) -> asyncio.Task[Any]:
        """Run ``work`` (a coroutine, or a function that makes one) as a task named ``name``,
        watched.

        ``expected`` exceptions go to ``on_expected`` (the owner's fault), every other one is
        an internal error. ``forever``: the task must not end while the controller runs; if
        it does (with an error or without), it is reported and started again (``work`` must
        then be a function: a coroutine runs once).
        """
        if forever and not callable(work):
            raise TypeError(f"{name}: a task that runs forever is restarted; give a function")
        factory = work if callable(work) else None
        self._loop = asyncio.get_running_loop()
        task = asyncio.create_task(work() if callable(work) else work, name=name)
        self._tasks.add(task)

        def done(finished: asyncio.Task[Any]) -> None:
            self._tasks.discard(finished)
            if finished.cancelled() or self._stopping:
                return
            error = finished.exception()
            if error is not None and isinstance(error, expected) and on_expected is not None:
                on_expected(error)
                return
            if error is None and not forever:
                return
            if error is None:
                error = RuntimeError("it ended, but must run as long as the controller does")
            self._report(name, error)
            if factory is not None and forever:
                self.spawn(
                    lambda: _after(RESTART_DELAY_S, factory),
                    name,
                    expected=expected,
                    on_expected=on_expected,
                    forever=True,
                )

        task.add_done_callback(done)
        return task

    def watched(self, target: Callable[..., None], name: str) -> Callable[..., None]:
        """``target`` for a thread of the controller's, reporting an exception that escapes it
        (the thread then ends: its owner's ``on_internal_error`` makes the cell safe)."""

        def run(*args: Any) -> None:
            try:
                target(*args)
            except Exception as error:
                self.thread_failed(name, error)

        return run

    def thread_failed(self, where: str, error: BaseException) -> None:
        """From any thread: ``error`` escaped ``where``; logged here, reported on the loop."""
        loop = self._loop
        if loop is None or self._stopping:
            log.error("internal error in %s", where, exc_info=error)
            return
        if _on_thread_of(loop):
            self._report(where, error)
            return
        with contextlib.suppress(RuntimeError):  # the loop has closed: shutting down anyway
            loop.call_soon_threadsafe(self._report, where, error)

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """The event loop reports go to (set by the first ``spawn``; threads may start first)."""
        self._loop = loop

    def _report(self, where: str, error: BaseException) -> None:
        self.failures += 1
        log.error("internal error in %s: %r", where, error, exc_info=error)
        try:
            self.on_internal_error(where, error)
        except Exception:  # the report must not take the loop down with it
            log.exception("the report of an internal error in %s failed", where)

    @property
    def tasks(self) -> set[asyncio.Task[Any]]:
        """The tasks running now (a copy)."""
        return set(self._tasks)

    async def stop(self, keep: asyncio.Task[Any] | None = None) -> None:
        """Cancel every task (but ``keep``) and wait for them, boundedly: shutdown never
        hangs. From here on nothing is reported or restarted."""
        self._stopping = True
        for _ in range(3):  # a task may start another while it is being cancelled
            tasks = {t for t in self._tasks if not t.done() and t is not keep}
            if not tasks:
                return
            for task in tasks:
                task.cancel()
            _, stuck = await asyncio.wait(tasks, timeout=STOP_TIMEOUT_S)
            for task in stuck:
                log.error("task %s did not stop within %g s", task.get_name(), STOP_TIMEOUT_S)


async def _after(delay_s: float, factory: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    await asyncio.sleep(delay_s)
    return await factory()


def _on_thread_of(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


def start_thread(
    supervisor: Supervisor, target: Callable[..., None], name: str, *args: Any
) -> threading.Thread:
    """A daemon thread running ``target(*args)``, watched by ``supervisor``."""
    thread = threading.Thread(
        target=supervisor.watched(target, name), args=args, name=name, daemon=True
    )
    thread.start()
    return thread
