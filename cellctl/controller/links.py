"""Watching the device links: ``LinkWatch``.

A link can be lost in two ways: its transport breaks (the supervised link goes down and says
so at once), or the device stops answering while its connection stays open (hung, stalled,
half-open). The first is a fault the moment it happens; the second after
``LINK_FAILURES_TO_FAULT`` failed requests in a row, whoever made them (the PLC scan, the
weld cycle's polls, the device watch): one garbled or lost answer on a noisy line is ridden
out, the second is not. Outside the cycle, the device watch asks the robot and the power
source for their status every few scans, so a dead link or a device's own error is noticed in
Idle too.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable, Mapping

from cellctl.cell.faults import (
    LINK_FAULTS,
    FaultCode,
    FaultReporter,
    power_source_fault,
    robot_fault,
)
from cellctl.controller.events import CellEvents
from cellctl.controller.supervision import Supervisor
from drivers.codecs.power_source_protocol import PowerSourceStatus
from drivers.codecs.robot_protocol import RobotState, RobotStatus
from drivers.errors import DeviceError
from drivers.link import DeviceLink, LinkState
from drivers.power_source import PowerSourceDriver
from drivers.robot import Robot

log = logging.getLogger(__name__)

# Failed requests in a row before a polled device's link is a fault: one garbled or lost
# answer on a noisy line is ridden out, the second is not.
LINK_FAILURES_TO_FAULT = 2
DEVICE_WATCH_EVERY_STATUS_PERIODS = 5


class LinkWatch:
    """Owns the link listeners, each device's failed requests in a row, the device watch, and
    making the power source safe again when its link returns (see the module).

    ``cycle_running()`` says whether the weld cycle polls the devices itself (then the watch
    stays quiet); ``drives_in_use()`` whether the robot's drives should be on (then their
    absence is a fault, once the robot has shown them on: see ``on_status``).
    """

    def __init__(
        self,
        links: Mapping[str, DeviceLink],
        *,
        power_source: PowerSourceDriver,
        robot: Robot,
        faults: FaultReporter,
        events: CellEvents,
        supervisor: Supervisor,
        watch_period_s: float,
        cycle_running: Callable[[], bool],
        drives_in_use: Callable[[], bool],
    ) -> None:
        self.links = dict(links)
        self.power_source = power_source
        self.robot = robot
        self.faults = faults
        self.events = events
        self.supervisor = supervisor
        self.watch_period_s = watch_period_s
        self.cycle_running = cycle_running
        self.drives_in_use = drives_in_use
        self._failures: dict[str, int] = collections.defaultdict(int)
        self._closed = False
        # Whether a robot status has shown the drives on since they were last asked for
        # (on the event loop only, like every other member).
        self._drives_seen_on = False

    def attach(self) -> None:
        """Listen to every link's state (before they connect)."""
        for device, link in self.links.items():
            link.add_state_listener(self._state_listener(device))

    def close(self) -> None:
        """Shutting down: links going down now are no faults."""
        self._closed = True

    # -- what the cell asks --------------------------------------------------------------------

    def blockers(self) -> list[str]:
        """Why nothing may start now as far as the links go (empty: every link is up)."""
        return [
            f"{device} link {link.stats.state}"
            for device, link in self.links.items()
            if not link.connected
        ]

    def not_back(self) -> set[FaultCode]:
        """Link faults whose cause is still there: a link down, or held silent for its
        device's watchdog (up, but not back for the cell yet)."""
        return {
            LINK_FAULTS[device]
            for device, link in self.links.items()
            if not link.connected or link.silent
        }

    def link_fault_seen(self, device: str) -> None:
        """Whoever found ``device``'s link dead raised its fault: its next answer is the link
        coming back."""
        self._failures[device] = max(self._failures[device], LINK_FAILURES_TO_FAULT)

    # -- counting (``cellctl.motion.moves.DeviceHealth``) --------------------------------------

    def failed(self, device: str, error: DeviceError) -> None:
        """A request to ``device`` failed; counted here, faulted by whoever asked."""
        self._failures[device] += 1
        log.debug("%s request failed: %s", device, error)

    def answered(self, device: str) -> None:
        """A request to ``device`` was answered. A device that had stopped answering while
        its connection stayed open (hung, stalled, half-open) is back: said as for a
        reconnect."""
        if self._failures[device] >= LINK_FAILURES_TO_FAULT:
            self._link_back(device)
        self._failures[device] = 0

    def failed_too_often(self, device: str) -> bool:
        return self._failures[device] >= LINK_FAILURES_TO_FAULT

    # -- link states ---------------------------------------------------------------------------

    def _state_listener(self, device: str) -> Callable[[LinkState], None]:
        def on_change(state: LinkState) -> None:
            if state is LinkState.DOWN and not self._closed:
                self.faults.raise_fault(
                    LINK_FAULTS[device], f"{device} link down", time.monotonic()
                )
            if state in (LinkState.UP, LinkState.DOWN):
                self.events.notify("link_changed", device, state is LinkState.UP)
            if state is LinkState.UP and self._failures[device] < LINK_FAILURES_TO_FAULT:
                self._link_back(device)
            # After a lost link, connected is not yet answering (a PLC behind a switch accepts
            # the connection before its program runs): its first answer says it is back
            # (``answered``).

        return on_change

    def _link_back(self, device: str) -> None:
        self.events.event(f"{device} link up")
        if device == "power_source" and not self._closed:
            # The arc-off of a fault's reaction may never have reached it, and a power source
            # keeps its arc-on command through a lost link (its watchdog latches an error that
            # a reset will not clear while the command stands). Say it again.
            self.supervisor.spawn(self._power_source_safe_again(), "power source arc off again")

    async def _power_source_safe_again(self) -> None:
        if self.cycle_running():
            return  # a weld owns the power source (it cannot be in one: a lost link stops it)
        try:
            await self.power_source.make_safe()
        except DeviceError as error:
            self.events.event(
                f"power source arc off after its link came back not delivered: {error}"
            )

    # -- the device watch ----------------------------------------------------------------------

    async def watch_devices(self) -> None:
        """The robot's and the power source's status every few status periods while the
        cycle does not poll them (until cancelled: the supervisor's task)."""
        period_s = DEVICE_WATCH_EVERY_STATUS_PERIODS * self.watch_period_s
        while True:
            await asyncio.sleep(period_s)
            if self.cycle_running():
                continue
            for device, read in (
                ("power_source", self.power_source.read_status),
                ("robot", self.robot.read_status),
            ):
                if not self.links[device].connected:
                    continue
                try:
                    status = await read()
                except DeviceError as error:
                    self.failed(device, error)
                    if self.failed_too_often(device):
                        self.faults.raise_fault(LINK_FAULTS[device], str(error), time.monotonic())
                    continue
                self.answered(device)
                self.on_status(device, status)

    def on_status(self, device: str, status: RobotStatus | PowerSourceStatus) -> None:
        """A status the device watch read: the device's own error is its fault."""
        seen = time.monotonic()
        if isinstance(status, PowerSourceStatus):
            if status.error:
                self.faults.raise_fault(
                    power_source_fault(status.error_code),
                    f"error {status.error_code} ({status.error_text})",
                    seen,
                    device_answered=True,
                )
            return
        if status.state is RobotState.FAULT:
            self.faults.raise_fault(
                robot_fault(status.fault_code),
                f"robot fault {status.fault_code}: {status.fault_text}",
            )
        elif not self.drives_in_use():
            self._drives_seen_on = False
        elif status.state is not RobotState.DRIVES_OFF:
            self._drives_seen_on = True
        elif self._drives_seen_on:
            # Only drives that were on and went off: between Start's request and the robot
            # enabling them (some PLC scans, longer on a busy PC) a status says "off", and so
            # may one read before the request that comes back after it. Neither is a fault;
            # the enable's own wait has its timeout (part_run.DRIVES_ENABLED_TIMEOUT_S).
            self.faults.raise_fault(FaultCode.DRIVES_OFF, "the robot reports its drives off", seen)
