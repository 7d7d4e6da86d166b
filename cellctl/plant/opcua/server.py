"""The controller's OPC UA interface (asyncua): the Cell object for the HMI, MES and SCADA.

Served by ``cellctl run`` on the controller's own event loop at the config's ``opcua.endpoint``
(default ``opc.tcp://127.0.0.1:4840``). The Cell object's variables
(``cellctl.plant.opcua.nodes``) are refreshed from the cell's read model
(``cellctl.cell.events.CellView``) every ``publish_period_ms``, only those that changed are
written (so subscriptions see changes, not ticks); figures from the production records
(counters, OEE, fault history) every ``STORE_REFRESH_S``.

Methods (Start, Hold, Unhold, Stop, Reset, Abort, Clear, Suspend, Unsuspend, AcknowledgeFault,
SetMode, TorchService) go through ``CellCommands.command`` / ``acknowledge_fault(s)`` /
``set_mode`` / ``torch_service``, the same
path as the PLC panel's buttons, so they are refused the same way. Each method returns one
output argument, a message; a refused call returns a Bad status *and* that message:

- ``BadUserAccessDenied``: the caller's role may not (anonymous may only read; an operator may
  command; only an engineer may SetMode);
- ``BadInvalidState``: the state machine or the cell refuses it now (the message names the state
  and what is allowed);
- ``BadInvalidArgument``: an unknown mode or a fault code that is not active.

Every call, accepted or refused, is written to the production store's audit table (who, what,
result) before the call returns.

Security (``cellctl.plant.opcua.certs``): every endpoint is Basic256Sha256, Sign and
SignAndEncrypt, with the cell's application certificate; an unsecured None endpoint, for
anonymous reading, only if ``none_endpoint`` says so. A password is accepted only encrypted
(``cellctl.plant.opcua.doors``).

Users come from config with scrypt hashes (``cellctl.plant.opcua.users``). Their logins are
checked off the event loop, with a back-off per user name and per client address, and every
failed login is audited (``cellctl.plant.opcua.login``). The server's connections are limited, a
silent one is closed, and the last slots are kept for the HMI (``cellctl.plant.opcua.doors``).

The vision work fills the tracking part through ``publish_tracking`` and ``publish_profile``
(cheap: they store the values; the publish loop writes them at its own rate).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import datetime
import logging
import math
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
from asyncua import Server, ua
from asyncua.crypto.permission_rules import USER_TYPES, PermissionRuleset, User, UserRole
from asyncua.server.internal_session import InternalSession
from cryptography.hazmat.primitives import serialization

from cellctl.cell.events import CellCommands
from cellctl.cell.faults import UnknownFault
from cellctl.cell.packml import CommandRefused, Mode
from cellctl.config.load import LoadedConfig
from cellctl.config.models import OpcUaSettings
from cellctl.plant.opcua.certs import (
    CertificatePair,
    TrustedClients,
    application_uri,
    cell_certificate,
    fingerprint,
    host_names,
)
from cellctl.plant.opcua.doors import CellServer, Doors, QuietLogs
from cellctl.plant.opcua.downtime import DowntimeDesk, NotStanding, UnknownReason
from cellctl.plant.opcua.login import CellUserManager, FailedLoginAudit
from cellctl.plant.opcua.nodes import (
    LINK_VARIABLES,
    METHODS,
    NAMESPACE_URI,
    OBJECT,
    STATE_COMMANDS,
    TRACE_COMMANDS,
    VARIABLES,
    VariableSpec,
)
from cellctl.plant.opcua.users import Role
from cellctl.records.oee import throughput
from cellctl.records.store import AsyncStore
from cellctl.trace.identity import TraceRefused

TAUGHT_PATH_STEP_MM = 1.0  # an arc of the taught path, published as chords this long

log = logging.getLogger(__name__)

STORE_REFRESH_S = 2.0
AUDIT_FLUSH_TIMEOUT_S = 5.0
RECENT_SEAMS = 40
FAULT_HISTORY = 200
AUDIT_DETAIL_CHARS = 200


def _bounded_repr(argument: object) -> str:
    """``repr`` of a method argument, never of more than the audit keeps: a string or byte
    string of a megabyte is cut before it is copied, not after."""
    if isinstance(argument, str | bytes):
        return repr(argument[:AUDIT_DETAIL_CHARS])
    if isinstance(argument, list):
        return f"[{len(argument)} values]"
    return repr(argument)[:AUDIT_DETAIL_CHARS]


# The user of the session whose service call is being handled (see _session_factory).
_caller: contextvars.ContextVar[User | None] = contextvars.ContextVar("opcua_caller", default=None)


class OpcUaStartFailed(RuntimeError):
    """The server could not start (e.g. its port is taken); the message names the endpoint."""


class CellPermissions(PermissionRuleset):
    """Which OPC UA services a session may use, whoever it is.

    Everyone may browse, read, subscribe and call; what a call may do is decided per method by
    role (so that a refused call gets its message and its audit row). Nobody may write
    attributes or change the address space: commands are methods, never writes.
    """

    _ALLOWED = frozenset(ua.NodeId(t) for t in USER_TYPES) - {
        ua.NodeId(ua.ObjectIds.WriteRequest_Encoding_DefaultBinary),
        ua.NodeId(ua.ObjectIds.HistoryReadRequest_Encoding_DefaultBinary),
    }

    def check_validity(self, user: User, action_type_id: ua.NodeId, body: Any) -> bool:
        return action_type_id in self._ALLOWED


class _PublishedValue(ua.DataValue):
    """A value the publish loop writes: built for that one write and never changed after.

    asyncua keeps a deep copy of every value written, for every monitored item of it, in case
    the writer changes the value afterwards (``MonitoredItemValues.set_current_datavalue``).
    Walking a DataValue in Python costs some 25 us a scalar and 150 us a 640-point profile
    (this machine), on the event loop, and it was the largest Python on that loop with the
    HMI subscribed (py-spy, issue 16): the loop then held the GIL while a correction was due.
    Nothing changes these after the write, so the copy may be the value itself.
    """

    def __deepcopy__(self, memo: dict[int, Any]) -> _PublishedValue:
        return self


@dataclass(frozen=True)
class _CorrectionShown:
    """The last correction sent. Replaced whole by its one writer, the correction stream's
    thread; the event loop reads whichever is there (one attribute: never half of each)."""

    lateral_mm: float = 0.0
    vertical_mm: float = 0.0
    position_mm: float = math.nan
    count: int = 0


@dataclass(frozen=True)
class _ProfileShown:
    """The last laser profile and its joint. Replaced whole by its one writer, the sensor's
    reader thread, so that y and z always come from the same frame."""

    y_mm: list[float] | None = None
    z_mm: list[float] | None = None
    joint: tuple[float, float] | None = None
    count: int = 0


class CellOpcUaServer:
    """The Cell object on an asyncua server; ``await start()``, ``await stop()``."""

    def __init__(
        self,
        cell: CellCommands,
        store: AsyncStore,
        config: LoadedConfig,
        settings: OpcUaSettings,
    ) -> None:
        """``cell`` is read through its ``view()`` and commanded through its methods; ``store``
        gives the counters, the shift's figures and the audit table."""
        self.cell = cell
        self.store = store
        self.config = config
        self.settings = settings
        self.login_audit = FailedLoginAudit(store.audit)
        self.users = CellUserManager(settings, self.login_audit)
        trusted = None
        if settings.trusted_clients is not None:
            trusted = TrustedClients(config.resolve(settings.trusted_clients))
        self.doors = Doors(settings, self.users, trusted)
        self._quieted: list[tuple[logging.Logger, QuietLogs]] = []
        self.namespace_index = 0
        self._server: Server | None = None
        self._nodes: dict[str, ua.NodeId] = {}
        self._types: dict[str, ua.VariantType] = {}
        self._written: dict[str, Any] = {}
        self._from_store: dict[str, Any] = {}
        self._resume_values: dict[str, Any] = {}  # the publish loop's and method calls' (one loop)
        self._correction = _CorrectionShown()
        self._profile = _ProfileShown()
        self._profile_written = -1
        self._last_status: Any = None
        self._last_command = ""
        self.downtime = DowntimeDesk(store, settings.downtime_reason_after_s)
        self._tasks: list[asyncio.Task[None]] = []
        self._audit_writer: asyncio.Task[None] | None = None
        self.certificate_fingerprint = ""

    @property
    def endpoint(self) -> str:
        return self.settings.endpoint

    # -- the vision work's setters ----------------------------------------------------------

    def publish_tracking(
        self, lateral_mm: float, vertical_mm: float, position_mm: float | None = None
    ) -> None:
        """The correction just sent to the robot (mm), at ``position_mm`` along the seam."""
        self._correction = _CorrectionShown(
            float(lateral_mm),
            float(vertical_mm),
            math.nan if position_mm is None else float(position_mm),
            self._correction.count + 1,
        )

    def publish_profile(
        self, y_mm: np.ndarray, z_mm: np.ndarray, joint: tuple[float, float] | None
    ) -> None:
        """The latest laser profile (lateral ``y_mm`` and height ``z_mm``, same length) and the
        joint found in it (y, z in mm) or None. The arrays are copied."""
        y = np.asarray(y_mm, dtype=np.float64).ravel()
        z = np.asarray(z_mm, dtype=np.float64).ravel()
        if y.shape != z.shape:
            raise ValueError(f"profile y ({y.size} points) and z ({z.size} points) differ")
        self._profile = _ProfileShown(
            y.tolist(),
            z.tolist(),
            None if joint is None else (float(joint[0]), float(joint[1])),
            self._profile.count + 1,
        )

    # -- life cycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Build the address space and listen. ``OpcUaStartFailed`` if the port is taken."""
        server = CellServer(self.doors)
        await server.init()
        server.set_endpoint(self.settings.endpoint)
        server.set_server_name(f"cellctl {self.config.cell.cell.name}")
        # Off the loop: making a key pair on the first start takes a while.
        pair = await asyncio.to_thread(self.certificate)
        await server.set_application_uri(application_uri(self.config.cell.cell.name))
        await server.load_certificate(str(pair.certificate))
        await server.load_private_key(str(pair.private_key))
        self.certificate_fingerprint = fingerprint(
            server.iserver.certificate.public_bytes(serialization.Encoding.DER)
        )
        policies = [
            ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt,
            ua.SecurityPolicyType.Basic256Sha256_Sign,
        ]
        if self.settings.none_endpoint:
            policies.append(ua.SecurityPolicyType.NoSecurity)
        server.set_security_policy(policies, permission_ruleset=CellPermissions())
        tokens: list[type] = [ua.UserNameIdentityToken]
        if self.settings.allow_anonymous:
            tokens.insert(0, ua.AnonymousIdentityToken)
        server.set_identity_tokens(tokens)
        _remember_callers(server)
        self.namespace_index = await server.register_namespace(NAMESPACE_URI)
        await self._build(server)
        try:
            await server.start()
        except OSError as error:
            with contextlib.suppress(Exception):
                await server.stop()
            raise OpcUaStartFailed(f"OPC UA server at {self.endpoint}: {error}") from error
        self._server = server
        self._quieted = QuietLogs.install()
        await self.downtime.start(time.time())
        await self._publish()
        await self._refresh_from_store()
        self._tasks = [
            asyncio.create_task(self._publish_loop(), name="opcua publish"),
            asyncio.create_task(self._store_loop(), name="opcua store refresh"),
            asyncio.create_task(self.doors.door_log.run(), name="opcua door log"),
        ]
        self._audit_writer = asyncio.create_task(self.login_audit.run(), name="opcua login audit")
        log.info(
            "OPC UA server listening at %s (Basic256Sha256 Sign, SignAndEncrypt%s; certificate "
            "%s, SHA-256 %s)",
            self.endpoint,
            ", anonymous None" if self.settings.none_endpoint else "",
            pair.certificate,
            self.certificate_fingerprint,
        )

    def certificate(self) -> CertificatePair:
        """The cell's certificate and key (``cellctl.plant.opcua.certs.cell_certificate``):
        the config's, else the pair in ``certificate_dir``, made there on the first start."""
        settings, config = self.settings, self.config
        configured = None
        if settings.certificate is not None and settings.private_key is not None:
            configured = (
                config.resolve(settings.certificate),
                config.resolve(settings.private_key),
            )
        return cell_certificate(
            configured,
            config.resolve(settings.certificate_dir),
            application_uri(config.cell.cell.name),
            host_names(settings.endpoint),
        )

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self._server is not None:
            server, self._server = self._server, None
            await server.stop()
            # Its connections are closed: no login is waiting any more.
            await self.users.close()
            self.doors.door_log.flush()
            QuietLogs.uninstall(self._quieted)
            self._quieted = []
        if self._audit_writer is not None:
            # Not cancelled: it writes the period's counts, then returns (unless the store
            # does not answer: shutdown does not wait for ever).
            self.login_audit.close()
            try:
                await asyncio.wait_for(self._audit_writer, AUDIT_FLUSH_TIMEOUT_S)
            except TimeoutError:
                log.error("failed logins not all audited: the store did not answer in time")
            self._audit_writer = None

    async def _build(self, server: Server) -> None:
        ns = self.namespace_index
        cell = await server.nodes.objects.add_object(
            ua.NodeId(OBJECT, ns), ua.QualifiedName(OBJECT, ns)
        )
        folders: dict[str, Any] = {"": cell}
        for spec in VARIABLES:
            folder_path, _, name = spec.path.rpartition(".")
            parent = folders.get(folder_path)
            if parent is None:
                parent = await cell.add_folder(
                    ua.NodeId(f"{OBJECT}.{folder_path}", ns), ua.QualifiedName(folder_path, ns)
                )
                folders[folder_path] = parent
            vtype = getattr(ua.VariantType, spec.type)
            node = await parent.add_variable(
                ua.NodeId(f"{OBJECT}.{spec.path}", ns),
                ua.QualifiedName(name, ns),
                ua.Variant(_initial(spec), vtype),
                varianttype=vtype,
            )
            if spec.description:
                await node.write_attribute(
                    ua.AttributeIds.Description,
                    ua.DataValue(ua.Variant(ua.LocalizedText(spec.description))),
                )
            self._nodes[spec.path] = node.nodeid
            self._types[spec.path] = vtype
        for method, (_role, argument) in METHODS.items():
            inputs = []
            if argument is not None:
                arg = ua.Argument()
                arg.Name = argument
                arg.DataType = ua.NodeId(ua.ObjectIds.String)
                arg.ValueRank = -1
                inputs.append(arg)
            result = ua.Argument()
            result.Name = "Message"
            result.DataType = ua.NodeId(ua.ObjectIds.String)
            result.ValueRank = -1
            await cell.add_method(
                ua.NodeId(f"{OBJECT}.{method}", ns),
                ua.QualifiedName(method, ns),
                self._method_handler(method),
                inputs,
                [result],
            )

    # -- methods ------------------------------------------------------------------------------

    def _method_handler(self, method: str) -> Any:
        async def handler(parent: ua.NodeId, *args: ua.Variant) -> ua.CallMethodResult:
            return await self._call(
                method, [a.Value if isinstance(a, ua.Variant) else a for a in args]
            )

        return handler

    async def _call(self, method: str, args: list[Any]) -> ua.CallMethodResult:
        user = _caller.get()
        role = self.users.role_of(user)
        who = user.name if user is not None and user.name else "anonymous"
        actor = f"opcua:{who}"
        if method == "WhoAmI":  # a question, not a command: no audit row
            return ua.CallMethodResult(
                StatusCode=ua.StatusCode(ua.StatusCodes.Good),
                OutputArguments=[ua.Variant(f"{who} {role.label}", ua.VariantType.String)],
            )
        needed = Role[METHODS[method][0].upper()]
        # The audit keeps what was asked, bounded: a client may send any string.
        detail = ", ".join(_bounded_repr(a) for a in args[:8])[:AUDIT_DETAIL_CHARS]
        if role < needed:
            status = ua.StatusCodes.BadUserAccessDenied
            message = (
                f"{method} refused: user {who} ({role.label}) may not; it needs the "
                f"{needed.label} role"
            )
        else:
            status, message = await self._carry_out(method, args, actor)
        result = "ok" if status == ua.StatusCodes.Good else f"refused: {message}"
        self._last_command = f"{actor} {method}({detail}): {result}"
        log.info("%s", self._last_command)
        try:
            await self.store.audit(actor, method, detail, result)
        except Exception as error:  # the command stands; the missing row is logged loudly
            log.error("audit row for %s %s not written: %s", actor, method, error)
        return ua.CallMethodResult(
            StatusCode=ua.StatusCode(status),
            OutputArguments=[ua.Variant(message, ua.VariantType.String)],
        )

    async def _carry_out(self, method: str, args: list[Any], actor: str) -> tuple[int, str]:
        cell = self.cell
        argument = METHODS[method][1]
        if argument is not None and (len(args) != 1 or not isinstance(args[0], str)):
            return ua.StatusCodes.BadInvalidArgument, f"{method} takes one string, {argument}"
        if argument is None and args:
            return ua.StatusCodes.BadInvalidArgument, f"{method} takes no arguments"
        try:
            if method in STATE_COMMANDS:
                state = await cell.command(method.lower(), by=actor)
                return ua.StatusCodes.Good, f"{method} accepted: state {state.label}"
            if method == "AcknowledgeFault":
                code = args[0].strip()
                if not code:
                    count = await cell.acknowledge_faults(by=actor)
                    return ua.StatusCodes.Good, f"{count} fault(s) acknowledged"
                await cell.acknowledge_fault(code, by=actor)
                return ua.StatusCodes.Good, f"fault {code} acknowledged"
            if method == "TorchService":
                try:
                    done = await cell.torch_service(args[0].strip(), by=actor)
                except ValueError as error:
                    return ua.StatusCodes.BadInvalidArgument, str(error)
                return ua.StatusCodes.Good, done
            if method == "SetMode":
                mode = args[0].strip()
                if mode not in {m.value for m in Mode}:
                    known = ", ".join(m.value for m in Mode)
                    message = f"unknown mode {mode[:40]!r} ({known})"
                    return ua.StatusCodes.BadInvalidArgument, message
                cell.set_mode(mode, by=actor)
                return ua.StatusCodes.Good, f"mode {cell.view().mode}"
            if method in TRACE_COMMANDS:
                answer = await cell.trace_command(method, args[0] if args else "", by=actor)
                if method == "ResumePart":
                    # The screen shows the confirmed part armed at once, not a refresh later
                    # (a store that fails here does not turn the accepted call into a refusal).
                    try:
                        await self._refresh_resume()
                    except Exception:
                        log.exception("OPC UA Resume variables not refreshed")
                return ua.StatusCodes.Good, answer
            if method == "RecordDowntimeReason":
                reason = await self.downtime.give(args[0], actor, cell.view(), time.time())
                return ua.StatusCodes.Good, f"downtime reason {reason} recorded"
        except TraceRefused as refused:
            return ua.StatusCodes.BadInvalidArgument, f"{method} refused: {refused}"
        except UnknownReason as unknown:
            return ua.StatusCodes.BadInvalidArgument, str(unknown)
        except NotStanding as not_standing:
            return ua.StatusCodes.BadInvalidState, str(not_standing)
        except CommandRefused as refused:
            return ua.StatusCodes.BadInvalidState, str(refused)
        except UnknownFault:
            active = ", ".join(f.code for f in cell.view().faults) or "none"
            return (
                ua.StatusCodes.BadInvalidArgument,
                f"fault {args[0][:40]!r} is not active (active: {active})",
            )
        except Exception as error:
            log.exception("OPC UA %s by %s failed", method, actor)
            return ua.StatusCodes.BadInternalError, f"{method} failed: {error}"
        raise AssertionError(f"method {method} has no handler")

    # -- publishing ---------------------------------------------------------------------------

    async def _publish_loop(self) -> None:
        period_s = self.settings.publish_period_ms / 1000
        deadline = time.monotonic()
        while True:
            deadline += period_s
            await asyncio.sleep(max(0.0, deadline - time.monotonic()))
            if time.monotonic() - deadline > period_s:
                deadline = time.monotonic()
            try:
                await self._publish()
            except Exception:
                log.exception("OPC UA publish failed")

    async def _store_loop(self) -> None:
        while True:
            await asyncio.sleep(STORE_REFRESH_S)
            try:
                await self._refresh_from_store()
            except Exception:
                log.exception("OPC UA refresh from the production store failed")

    async def _publish(self) -> None:
        now = time.time()
        try:
            await self.downtime.observe(self.cell.view(), now)
        except Exception:  # a store that fails here must not stop the publishing
            log.exception("downtime span not recorded")
        values = {
            **self._live_values(),
            **self.downtime.values(now),
            **self._from_store,
            **self._resume_values,
        }
        server = self._server
        if server is None:
            return
        profile = self._profile
        if profile.count != self._profile_written and profile.y_mm is not None:
            self._profile_written = profile.count
            values["Tracking.ProfileYMm"] = profile.y_mm
            values["Tracking.ProfileZMm"] = profile.z_mm
        # One timestamp per publish: clients plot live values against it (a DataValue written
        # directly carries none of its own).
        now = datetime.datetime.now(datetime.UTC)
        for path, value in values.items():
            if _same(self._written.get(path, _UNSET), value):
                continue
            self._written[path] = value
            await server.write_attribute_value(
                self._nodes[path],
                _PublishedValue(
                    ua.Variant(value, self._types[path]), SourceTimestamp=now, ServerTimestamp=now
                ),
            )

    def _live_values(self) -> dict[str, Any]:
        """Everything that comes from the cell's view (cheap: no I/O)."""
        view = self.cell.view()
        procedure = view.procedure
        seam = view.seam
        values: dict[str, Any] = {
            "State": view.state.label,
            "StateNumber": int(view.state),
            "Mode": str(view.mode),
            "Phase": view.phase,
            "AllowedCommands": [str(cmd) for cmd in view.allowed_commands],
            "Part": view.part_program or "",
            "PartId": view.part_id or 0,
            "Seam": seam.name if seam is not None and view.cycle_running else "",
            "LastCommand": self._last_command,
            "Faults.ActiveCodes": [f.code for f in view.faults],
            "Faults.ActiveTexts": [f.kind.text for f in view.faults],
            "Faults.ActiveDetails": [f.detail for f in view.faults],
            "Faults.ActiveSeverities": [str(f.severity) for f in view.faults],
            "Faults.ActiveRaisedUnixS": [f.raised_at for f in view.faults],
            "Faults.ActiveAcknowledged": [f.acknowledged for f in view.faults],
        }
        status = view.power_source
        if status is not None and status is not self._last_status:
            # Only a new reading is news: an unchanged one is not republished.
            self._last_status = status
            values["Weld.ArcOn"] = bool(status.arc_established)
            values["Weld.CurrentA"] = float(status.actual_current_a)
            values["Weld.VoltageV"] = float(status.actual_voltage_v)
            values["Weld.WireFeedMPerMin"] = float(status.actual_wire_feed_m_per_min)
            values["Weld.SampleUnixS"] = time.time()
        if procedure is not None:
            bands = procedure.bands
            values["Weld.Procedure"] = procedure.name
            values["Weld.CurrentBandA"] = [bands.current_a.min, bands.current_a.max]
            values["Weld.VoltageBandV"] = [bands.voltage_v.min, bands.voltage_v.max]
            values["Weld.WireFeedBandMPerMin"] = [
                bands.wire_feed_m_per_min.min,
                bands.wire_feed_m_per_min.max,
            ]
        if seam is not None:
            # The taught path of the seam being (or last) welded, in the part frame: its
            # vertices, and its arcs (circles, blended corners) as 1 mm chords.
            taught = seam.taught_path().sampled(TAUGHT_PATH_STEP_MM)
            values["Tracking.TaughtPathXMm"] = [float(p[0]) for p in taught]
            values["Tracking.TaughtPathYMm"] = [float(p[1]) for p in taught]
            values["Tracking.TaughtPathZMm"] = [float(p[2]) for p in taught]
        correction, profile = self._correction, self._profile
        values["Tracking.LateralCorrectionMm"] = correction.lateral_mm
        values["Tracking.VerticalCorrectionMm"] = correction.vertical_mm
        values["Tracking.PositionMm"] = correction.position_mm
        values["Tracking.CorrectionCount"] = correction.count
        values["Tracking.ProfileCount"] = profile.count
        values["Tracking.JointFound"] = profile.joint is not None
        joint = profile.joint or (math.nan, math.nan)
        values["Tracking.JointYMm"], values["Tracking.JointZMm"] = joint
        trace = view.trace
        if trace:
            values["Trace.Serial"] = trace["serial"]
            values["Trace.Welder"] = trace["welder"]
            values["Trace.Qualification"] = trace["qualification"]
            values["Trace.WireLot"] = trace["wire_lot"]
            values["Trace.GasLot"] = trace["gas_lot"]
            values["Orders.InProgress"] = trace["order"]
            values["Orders.Queue"] = list(trace["queue"])
        for device, state in view.links.items():
            if device in LINK_VARIABLES:
                values[LINK_VARIABLES[device]] = str(state)
        return values

    async def _refresh_resume(self) -> None:
        """The ``Resume`` variables: the interrupted parts the operator may confirm now."""
        offers = await self.cell.resumable_parts()
        self._resume_values = {
            "Resume.PartIds": [o.part_id for o in offers],
            "Resume.Serials": [o.serial for o in offers],
            "Resume.Programs": [o.program for o in offers],
            "Resume.Seams": [o.seam for o in offers],
            "Resume.NextPasses": [o.next_pass for o in offers],
            "Resume.PassCounts": [o.passes for o in offers],
            "Resume.Armed": self.cell.resume_armed() or 0,
        }

    async def _refresh_from_store(self) -> None:
        """Counters, shift figures, fault history and recent seams from the records; then the
        parts offered for resume (last: a failure there leaves the figures refreshed)."""
        store = self.store
        now = time.time()
        shift_start = now - self.settings.shift_length_h * 3600
        counters = await store.counters()
        parts = await store.parts(shift_start)
        faults = await store.faults(shift_start)
        seams = await store.recent_seams(RECENT_SEAMS)
        downtimes = await store.downtimes(shift_start)
        # The figures' window starts with the shift's first part: hours before it, with the
        # cell switched off, are not the cell's performance.
        window_start = min((p["started_at"] for p in parts), default=now)
        if downtimes:  # a standstill before the first part is the shift's too
            window_start = min(window_start, *(d["started_at"] for d in downtimes))
        window_start = max(window_start, shift_start)
        figures = throughput(
            parts,
            faults,
            window_start,
            now,
            self.config.active_part.planned_cycle_time_s,
            downtimes=downtimes,
        )
        by_reason = sorted(figures.downtime_by_reason_s.items(), key=lambda item: -item[1])
        finished = [p for p in parts if p["status"] == "complete" and p["finished_at"] is not None]
        history = faults[-FAULT_HISTORY:]
        pareto = Counter(f["code"] for f in faults).most_common()
        self._from_store = {
            "Counters.PartsProcessed": counters.parts_processed,
            "Counters.PartsGood": counters.parts_good,
            "Counters.PartsDefective": counters.parts_bad,
            "Counters.PartsIncomplete": counters.parts_incomplete,
            "Counters.SeamsWelded": counters.seams_welded,
            "Production.ShiftStartUnixS": window_start,
            "Production.PartsPerHour": figures.parts_per_hour if parts else 0.0,
            "Production.CycleTimeS": _number(finished[-1]["cycle_time_s"] if finished else None),
            "Production.CycleTimeMeanS": _number(figures.cycle_time_mean_s),
            "Production.ArcOnRatio": _number(figures.arc_on_ratio),
            "Production.Oee": figures.oee,
            "Production.Availability": figures.availability,
            "Production.Performance": figures.performance,
            "Production.Quality": figures.quality,
            "Production.PartFinishedUnixS": [float(p["finished_at"]) for p in finished],
            "Production.PartCycleTimeS": [_number(p["cycle_time_s"]) for p in finished],
            "Production.PartArcTimeS": [_number(p["arc_time_s"]) for p in finished],
            "Production.PartVerdicts": [p["verdict"] or "" for p in finished],
            "Faults.HistoryCodes": [f["code"] for f in history],
            "Faults.HistoryTexts": [f["text"] for f in history],
            "Faults.HistorySeverities": [f["severity"] for f in history],
            "Faults.HistoryRaisedUnixS": [float(f["raised_at"]) for f in history],
            "Faults.HistoryClearedUnixS": [_number(f["cleared_at"]) for f in history],
            "Faults.ParetoCodes": [code for code, _ in pareto],
            "Faults.ParetoCounts": [count for _, count in pareto],
            "Weld.SeamNames": [f"{s['part_id']}/{s['seam']}" for s in seams],
            "Weld.SeamHeatInputKjPerMm": [_number(s["heat_input_kj_per_mm"]) for s in seams],
            "Weld.SeamVerdicts": [s["verdict"] for s in seams],
            "Downtime.ShiftReasons": [reason for reason, _ in by_reason],
            "Downtime.ShiftSeconds": [float(seconds) for _, seconds in by_reason],
            "Production.PlannedStopS": figures.planned_stop_s,
        }
        await self._refresh_resume()


_UNSET = object()
_ANONYMOUS = User(role=UserRole.Anonymous)


def _number(value: float | None) -> float:
    return math.nan if value is None else float(value)


def _same(old: Any, new: Any) -> bool:
    """Equal, counting NaN equal to NaN (so that an unchanged NaN is not rewritten)."""
    if old is _UNSET:
        return False
    if isinstance(new, float) and isinstance(old, float):
        return old == new or (math.isnan(old) and math.isnan(new))
    if isinstance(new, list) and isinstance(old, list):
        return len(old) == len(new) and all(_same(a, b) for a, b in zip(old, new, strict=True))
    return bool(old == new)


def _initial(spec: VariableSpec) -> Any:
    if spec.array:
        return []
    return {
        "String": "",
        "Boolean": False,
        "Double": math.nan,
        "Int64": 0,
        "Int32": 0,
        "UInt16": 0,
        "UInt32": 0,
    }[spec.type]


def _remember_callers(server: Server) -> None:
    """Make the calling session's user visible to method handlers.

    asyncua passes a method handler only the object and the arguments, not who called. Every
    client session is made by ``InternalServer.create_session``; ours sets the ``_caller``
    context variable around its ``call`` service, which awaits the handler in the same task.
    """
    iserver = server.iserver

    class CallerAwareSession(InternalSession):
        async def call(self, params: list[ua.CallMethodRequest]) -> list[ua.CallMethodResult]:
            token = _caller.set(self.user)
            try:
                return await super().call(params)
            finally:
                _caller.reset(token)

    def create_session(
        name: str,
        user: User = _ANONYMOUS,
        external: bool = False,
    ) -> InternalSession:
        return CallerAwareSession(
            iserver,
            iserver.aspace,
            iserver.subscription_service,
            name,
            user=user,
            external=external,
        )

    iserver.create_session = create_session  # type: ignore[method-assign]
