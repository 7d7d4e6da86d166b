"""The OPC UA server's doors: who may hold a TCP connection, how long a silent one may wait, and
the login check taken off asyncua's synchronous path.

asyncua 2.1 accepts up to 1000 connections and closes one that has not activated a session after
30 s: 1000 sockets that never say a word fill it, and a real client is turned away for up to
30 s at a time. ``CellServer`` is asyncua's ``Server`` whose connections are ``GuardedConnection``s:

- Admission (``ConnectionBook``): at most ``max_connections`` at once; at most
  ``max_connections_per_address`` from any one other machine; the last
  ``reserved_local_connections`` only for clients on this machine (the HMI). A client is on this
  machine when it connects from the address it connects to (127.0.0.1 to 127.0.0.1, or the
  plant address to itself). At a limit, the oldest connection under that limit that has not
  said Hello yet is closed to make room: a real client says Hello within a round trip of
  connecting, so a connection that has not is the cheapest to lose. A newcomer from another
  machine only ever displaces connections from other machines. With nobody to displace, the
  newcomer is closed at once.
- A connection that has not said Hello ``hello_timeout_s`` after connecting is closed.
- A connection that has not activated a session ``hello_timeout_s + failed_login_pause_max_s +
  ACTIVATION_ALLOWANCE_S`` after connecting is closed (asyncua's own watchdog, shortened from
  its 30 s; long enough for a refusal held for the longest back-off).
- An ActivateSession with a user name first awaits ``CellUserManager.login`` in the connection's
  own task (``LoginProcessor``); asyncua's synchronous call of the user manager then reads that
  verdict (``cellctl.plant.opcua.login``).
- A password crosses only encrypted: on a SignAndEncrypt channel, or on a Sign channel inside a
  token encrypted with the cell's key; never on a None channel. Any other user-name login is
  refused unchecked with ``BadSecurityModeInsufficient`` and audited ("password on an
  unencrypted channel"); so is every session on an unsecured (None) channel unless
  ``none_endpoint`` allows anonymous ones (asyncua itself would let a client that opened a None
  channel for discovery create a session on it whatever endpoints the server offers).
- With ``trusted_clients`` set, a session (created or activated) only on a channel opened with
  one of those client certificates: else ``BadCertificateUntrusted``, audited with the
  certificate's fingerprint.

Connections refused, closed to make room or for want of a Hello are counted and logged at most
once per ``DOOR_LOG_PERIOD_S`` (``DoorLog``); asyncua's own per-connection and per-refusal lines
are rate limited the same way (``QuietLogs``), so that a flood does not flood the log.
"""

from __future__ import annotations

import asyncio
import logging
import math
import socket
import time
from collections import Counter
from collections.abc import Iterable
from typing import Any

from asyncua import Server, ua
from asyncua.common.connection import TransportLimits
from asyncua.common.utils import Buffer, ServiceError
from asyncua.crypto import uacrypto
from asyncua.server.binary_server_asyncio import BinaryServer, OPCUAProtocol
from asyncua.server.internal_server import InternalServer
from asyncua.server.internal_session import SessionState
from asyncua.server.uaprocessor import UaProcessor
from asyncua.ua.ua_binary import struct_from_binary

from cellctl.config.models import OpcUaSettings
from cellctl.plant.opcua.certs import TrustedClients, fingerprint
from cellctl.plant.opcua.login import CellUserManager

log = logging.getLogger(__name__)

# Beyond the Hello and the longest back-off: a check queued behind others, a slow client.
ACTIVATION_ALLOWANCE_S = 5.0
DOOR_LOG_PERIOD_S = 10.0
# asyncua's loggers that write a line per connection, per refused login or per refused request,
# and how many of their lines pass per DOOR_LOG_PERIOD_S each.
CHATTY_ASYNCUA_LOGGERS = (
    "asyncua.server.binary_server_asyncio",
    "asyncua.server.uaprocessor",
    "asyncua.server.internal_session",
    "asyncua.server.internal_server",
)
ASYNCUA_LINES_PER_PERIOD = 20

_ACTIVATE_SESSION = ua.NodeId(ua.ObjectIds.ActivateSessionRequest_Encoding_DefaultBinary)
_CREATE_SESSION = ua.NodeId(ua.ObjectIds.CreateSessionRequest_Encoding_DefaultBinary)


class DoorLog:
    """Counts of what the doors did, logged at most once per ``period_s``: the first event after
    a quiet period at once, the ones after it with their counts at the period's end (``run``),
    the rest on ``flush``."""

    def __init__(self, period_s: float = DOOR_LOG_PERIOD_S) -> None:
        self.period_s = period_s
        self.totals: Counter[str] = Counter()  # since start, for tests and the health of the door
        self._since_logged: Counter[str] = Counter()
        self._logged_at = -float("inf")

    def count(self, event: str) -> None:
        self.totals[event] += 1
        self._since_logged[event] += 1
        if time.monotonic() - self._logged_at >= self.period_s:
            self.flush()

    async def run(self) -> None:
        """Log the counts of each period at its end (events alone would log them only at the
        next event), until cancelled."""
        while True:
            await asyncio.sleep(self.period_s / 4)
            if time.monotonic() - self._logged_at >= self.period_s:
                self.flush()

    def flush(self) -> None:
        if self._since_logged:
            what = ", ".join(f"{n} {event}" for event, n in sorted(self._since_logged.items()))
            log.warning("OPC UA connections: %s", what)
            self._since_logged.clear()
            self._logged_at = time.monotonic()


class QuietLogs(logging.Filter):
    """Lets at most ``lines`` records of a logger through per ``period_s``; the first line of the
    next period says how many were held back."""

    def __init__(
        self, lines: int = ASYNCUA_LINES_PER_PERIOD, period_s: float = DOOR_LOG_PERIOD_S
    ) -> None:
        super().__init__()
        self.lines = lines
        self.period_s = period_s
        self._period_start = -float("inf")
        self._passed = 0
        self._held = 0

    def filter(self, record: logging.LogRecord) -> bool:
        now = time.monotonic()
        if now - self._period_start >= self.period_s:
            if self._held:
                record.msg = (
                    f"{record.msg} [and {self._held} more lines of {record.name} held back "
                    f"in the {self.period_s:g} s before]"
                )
            self._period_start, self._passed, self._held = now, 0, 0
        if self._passed < self.lines:
            self._passed += 1
            return True
        self._held += 1
        return False

    @classmethod
    def install(
        cls, names: Iterable[str] = CHATTY_ASYNCUA_LOGGERS
    ) -> list[tuple[logging.Logger, QuietLogs]]:
        """One filter on each logger named; what ``uninstall`` takes off again."""
        installed = []
        for name in names:
            logger, quiet = logging.getLogger(name), cls()
            logger.addFilter(quiet)
            installed.append((logger, quiet))
        return installed

    @staticmethod
    def uninstall(installed: Iterable[tuple[logging.Logger, QuietLogs]]) -> None:
        for logger, quiet in installed:
            logger.removeFilter(quiet)


class ConnectionBook:
    """The server's open connections, oldest first, and the admission rules of the module
    docstring. Owned by the event loop."""

    def __init__(self, max_connections: int, max_per_address: int, reserved_local: int) -> None:
        self.max_connections = max_connections
        self.max_per_address = max_per_address
        self.reserved_local = reserved_local
        self._open: dict[GuardedConnection, None] = {}  # insertion order: oldest first

    def __len__(self) -> int:
        return len(self._open)

    def admit(self, new: GuardedConnection) -> bool:
        """Whether ``new`` may stay, after closing silent connections to make room if need be."""
        if new.local:
            limit, displaceable = self.max_connections, list(self._open)
        else:
            same = [c for c in self._open if c.host == new.host]
            if not self._make_room(len(same), self.max_per_address, same):
                return False
            limit = self.max_connections - self.reserved_local
            displaceable = [c for c in self._open if not c.local]
        # Silent connections from other machines go before silent ones from this machine.
        displaceable.sort(key=lambda c: c.local)
        if not self._make_room(len(self._open), limit, displaceable):
            return False
        self._open[new] = None
        return True

    def closed(self, connection: GuardedConnection) -> None:
        self._open.pop(connection, None)

    def _make_room(self, holding: int, limit: int, candidates: list[GuardedConnection]) -> bool:
        """Close the first silent ``candidates`` until fewer than ``limit`` hold a slot; False
        (closing none) if there are not enough."""
        excess = holding - limit + 1
        if excess <= 0:
            return True
        silent = [c for c in candidates if not c.said_hello]
        if len(silent) < excess:
            return False
        for connection in silent[:excess]:
            self._open.pop(connection, None)
            connection.drop()
        return True


class Doors:
    """What every connection of one server shares: the settings, the book, the user manager and
    the log of what was refused."""

    def __init__(
        self,
        settings: OpcUaSettings,
        users: CellUserManager,
        trusted: TrustedClients | None = None,
    ) -> None:
        self.settings = settings
        self.users = users
        self.trusted = trusted  # the client certificates accepted; None: any
        self.book = ConnectionBook(
            settings.max_connections,
            settings.max_connections_per_address,
            settings.reserved_local_connections,
        )
        self.door_log = DoorLog()

    @property
    def hello_timeout_s(self) -> float:
        return self.settings.hello_timeout_s

    @property
    def activation_timeout_s(self) -> float:
        s = self.settings
        return s.hello_timeout_s + s.failed_login_pause_max_s + ACTIVATION_ALLOWANCE_S


class LoginProcessor(UaProcessor):
    """asyncua's processor of one connection's messages, which runs the login check of an
    ActivateSession (awaited here, in this connection's task) before asyncua activates it."""

    def __init__(
        self,
        iserver: InternalServer,
        transport: asyncio.Transport,
        limits: TransportLimits,
        users: CellUserManager,
        trusted: TrustedClients | None = None,
    ) -> None:
        super().__init__(iserver, transport, limits)
        self._users = users
        self._trusted = trusted
        peer = transport.get_extra_info("peername")
        self.client_address = str(peer[0]) if peer else "unknown"

    async def _process_message(
        self, typeid: ua.NodeId, requesthdr: ua.RequestHeader, seqhdr: Any, body: Buffer
    ) -> Any:
        mode = self._connection.security_policy.Mode
        unsecured = mode == ua.MessageSecurityMode.None_
        patience_s = requesthdr.TimeoutHint / 1000  # the client's timeout; 0: none
        if typeid in (_CREATE_SESSION, _ACTIVATE_SESSION) and unsecured:
            if not self._users.none_endpoint:
                await self._users.refuse_unsecured_session(self.client_address, patience_s)
                raise ServiceError(ua.StatusCodes.BadSecurityModeInsufficient)
        elif typeid in (_CREATE_SESSION, _ACTIVATE_SESSION) and self._trusted is not None:
            # The certificate the channel was opened with: the one that signs every message.
            der = self._connection.security_policy.peer_certificate
            if not self._trusted.trusts(der):
                shown = fingerprint(der) if der else "none"
                await self._users.refuse_untrusted_client(self.client_address, shown, patience_s)
                raise ServiceError(ua.StatusCodes.BadCertificateUntrusted)
        if typeid == _ACTIVATE_SESSION:
            login = self._user_and_password(requesthdr, body.copy())
            if login is not None:
                username, password, token_encrypted = login
                # On a None channel never (the endpoint asks for no password), whatever the token.
                if unsecured or (mode == ua.MessageSecurityMode.Sign and not token_encrypted):
                    await self._users.refuse_plaintext(username, self.client_address, patience_s)
                    raise ServiceError(ua.StatusCodes.BadSecurityModeInsufficient)
                user = await self._users.login(username, password, self.client_address, patience_s)
                with self._users.verdict(username, password, user):
                    return await super()._process_message(typeid, requesthdr, seqhdr, body)
        return await super()._process_message(typeid, requesthdr, seqhdr, body)

    def _user_and_password(
        self, requesthdr: ua.RequestHeader, body: Buffer
    ) -> tuple[str, str, bool] | None:
        """The name and password of an ActivateSession that asyncua would put to its user
        manager, and whether the password came encrypted in its token; None for anything else
        (anonymous, no such session, a token it cannot read),
        which asyncua answers itself without asking for a user."""
        try:
            params = struct_from_binary(ua.ActivateSessionParameters, body)
        except Exception:
            return None
        token = params.UserIdentityToken
        if not isinstance(token, ua.UserNameIdentityToken):
            return None
        session = self.session or self.iserver.lookup_external_session(
            requesthdr.AuthenticationToken
        )
        if session is None or session.state == SessionState.Closed:
            return None
        try:
            username, password = self.iserver.decrypt_user_token(session, token)
        except Exception:
            return None
        if not username:
            return None
        encrypted = bool(token.EncryptionAlgorithm)
        return str(username), "" if password is None else str(password), encrypted


class GuardedConnection(OPCUAProtocol):
    """One TCP connection of the OPC UA server, admitted by the ``ConnectionBook``, closed if
    it does not say Hello within ``hello_timeout_s``; its messages go to a ``LoginProcessor``."""

    def __init__(self, doors: Doors, **asyncua_arguments: Any) -> None:
        super().__init__(**asyncua_arguments)
        self.doors = doors
        self.host = ""
        self.local = False
        self.said_hello = False
        self._hello_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        peer = transport.get_extra_info("peername")
        own = transport.get_extra_info("sockname")
        self.host = str(peer[0]) if peer else ""
        self.local = bool(peer and own and peer[0] == own[0])
        if not self.doors.book.admit(self):
            self.doors.door_log.count("refused at a limit")
            transport.close()
            return
        super().connection_made(transport)
        if self.processor is None:  # asyncua's own limit refused it
            self.doors.book.closed(self)
            return
        self.processor = LoginProcessor(
            self.iserver, self.transport, self.limits, self.doors.users, self.doors.trusted
        )
        self.processor.set_policies(self.policies)
        self._hello_deadline = asyncio.get_running_loop().call_later(
            self.doors.hello_timeout_s, self._no_hello
        )

    def connection_lost(self, ex: BaseException | None) -> None:
        self._cancel_hello_deadline()
        self.doors.book.closed(self)
        super().connection_lost(ex)

    def drop(self) -> None:
        """Close this silent connection to make room for another."""
        self.doors.door_log.count("silent closed to make room")
        self._close()

    async def _process_one_msg(self, header: Any, buf: Buffer) -> bool:
        if not self.said_hello and header.MessageType == ua.MessageType.Hello:
            self.said_hello = True
            self._cancel_hello_deadline()
        return await super()._process_one_msg(header, buf)

    def _no_hello(self) -> None:
        self._hello_deadline = None
        if not self.said_hello:
            self.doors.door_log.count(f"closed without Hello in {self.doors.hello_timeout_s:g} s")
            self._close()

    def _close(self) -> None:
        self._cancel_hello_deadline()
        # Out of asyncua's count at once, not at connection_lost (the next loop iteration):
        # the newcomer it makes room for is counted against asyncua's limit right now.
        if self in self.clients:
            self.clients.remove(self)
        if self.transport is not None:
            self.transport.close()

    def _cancel_hello_deadline(self) -> None:
        if self._hello_deadline is not None:
            self._hello_deadline.cancel()
            self._hello_deadline = None


class GuardedBinaryServer(BinaryServer):
    """asyncua's TCP server making ``GuardedConnection``s."""

    def __init__(
        self,
        internal_server: InternalServer,
        hostname: str | None,
        port: int | None,
        limits: TransportLimits,
        doors: Doors,
    ) -> None:
        super().__init__(internal_server, hostname, port, limits)  # type: ignore[arg-type]
        self.doors = doors

    def _make_protocol(self) -> GuardedConnection:
        return GuardedConnection(
            self.doors,
            iserver=self.iserver,
            policies=self._policies,
            clients=self.clients,
            closing_tasks=self.closing_tasks,
            limits=self.limits,
        )


class CellServer(Server):
    """asyncua's ``Server`` behind the doors of the module docstring."""

    def __init__(self, doors: Doors) -> None:
        super().__init__(user_manager=doors.users)  # type: ignore[arg-type]
        self.doors = doors
        self.iserver.max_connections = doors.settings.max_connections
        self.iserver.max_pending_activation_seconds = doors.activation_timeout_s
        request_bytes = doors.settings.max_request_bytes
        self.limits = TransportLimits(
            max_recv_buffer=self.limits.max_recv_buffer,
            max_send_buffer=self.limits.max_send_buffer,
            max_chunk_count=math.ceil(request_bytes / self.limits.max_recv_buffer),
            max_message_size=request_bytes,
        )

    def _set_endpoints(self, policy: Any, mode: ua.MessageSecurityMode, level: int) -> None:
        """asyncua's endpoint description, but an unsecured (None) endpoint offers the anonymous
        token only: no password is ever asked for on it (asyncua would offer the user-name token
        there, with a warning that the password may cross in plain text)."""
        if mode != ua.MessageSecurityMode.None_:
            super()._set_endpoints(policy, mode, level)
            return
        tokens = self.iserver.supported_tokens
        self.iserver.supported_tokens = tuple(t for t in tokens if t is ua.AnonymousIdentityToken)
        try:
            super()._set_endpoints(policy, mode, level)
        finally:
            self.iserver.supported_tokens = tokens

    async def start(self) -> None:
        """asyncua's ``Server.start`` (2.1), with the guarded binary server."""
        if self.iserver.certificate is not None:
            uacrypto.check_certificate(
                self.iserver.certificate, self._application_uri, socket.gethostname()
            )
        await self._setup_server_nodes()
        await self.iserver.start()
        try:
            hostname, port = self._get_bind_socket_info()
            self.bserver = GuardedBinaryServer(
                self.iserver, hostname, port, self.limits, self.doors
            )
            self.bserver.set_policies(self._policies)
            await self.bserver.start()
        except Exception:
            await self.iserver.stop()
            raise
