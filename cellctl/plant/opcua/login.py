"""Logins at the controller's OPC UA server: who gets in, how fast a guesser may try, and the
audit rows of every login refused.

asyncua asks its user manager for a session's user synchronously, on the event loop that also
runs the PLC scan, the fault reaction and the weld cycle. A password check is scrypt (30-60 ms
here) and a pause after a failure must not hold that loop either. So the server's processor
(``cellctl.plant.opcua.doors``) awaits ``CellUserManager.login`` in the connection's own task before
asyncua activates the session, and the synchronous ``get_user`` only hands asyncua that verdict.

``login(user, password, address)``:

1. An address gets one check at a time, and none before its back-off has run out: the attempt
   waits in its connection's task (the loop goes on). If its turn has not come when the
   refusal is due (5.), it is refused without a check.
2. The password is checked with scrypt on the manager's own thread, one check at a time: an
   attack can take one core, never the event loop, and gets about 20 checks a second in all.
   A name nobody has is checked against a dummy hash of the same cost, so it is refused in the
   same time as a wrong password, with the same answer (BadUserAccessDenied).
3. A correct password logs in at once. Failures at other addresses never hold it back, whatever
   name they tried, its own included: only its own address's back-off (1.) does.
4. A wrong password, or a name nobody has, is a failure of that name and of that address. Each
   key's back-off is ``failed_login_pause_s`` after its first failure, doubled for each further
   one, at most ``failed_login_pause_max_s``; a key quiet for ``FORGET_AFTER_PAUSES`` longest
   pauses is forgotten.
5. A refusal is answered when the back-offs of its name and its address have run out, or at
   ``ANSWER_WITHIN_FRACTION`` of the client's own timeout (its request's TimeoutHint) if that
   comes first, so that an HMI with a wrong password hears "refused" and not its timeout; but
   never sooner than ``failed_login_pause_s`` after the request, whatever the client asks.

So a guesser at one address gets one check per back-off of that address, whatever names it
cycles. The back-off of a name holds the refusals of that name from anywhere, which slows a
client that waits for its answers; it does not hold the checks, which would keep the name's
owner out whenever somebody guesses at his name. A guesser at one name from many addresses is
bounded by the turns of those addresses, the connection limits (``cellctl.plant.opcua.doors``) and
the one checker thread.

Why hold the refusal instead of refusing at once: a refusal at once lets a client try again at
once, and each try costs the loop a connection, a secure channel and a session (about 2 ms of
the controller's CPU here: ``python -m bench opcua_doors``), so one client could take the loop
whole; held for ``failed_login_pause_s`` at least, a connection tries at most twice a second.

A password that came unencrypted (a None channel, or a Sign channel with a plain token) is
refused before any check (``refuse_plaintext``): it may have been read on the way, and checking
it would tell a listener whether it was right. So is a session on a None channel when the
config has no None endpoint (``refuse_unsecured_session``). Both count against the address's
back-off and are answered after ``failed_login_pause_s``, as a wrong password is.

Every failed login is audited by ``FailedLoginAudit``, in rows bounded whatever the attack.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import contextvars
import hashlib
import hmac
import logging
import math
import secrets
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from asyncua.crypto.permission_rules import User, UserRole

from cellctl.config.models import OpcUaSettings
from cellctl.plant.opcua.users import Role, hash_like, hash_password, verify_password

log = logging.getLogger(__name__)

# A key (name or address) with no failure for this many longest pauses starts again from the
# first pause.
FORGET_AFTER_PAUSES = 4
# Keys remembered per book; past this the longest quiet goes first, so that an attacker cycling
# names or addresses cannot grow the books without bound.
TRACKED_KEYS_MAX = 4_096
# Failures in a row beyond which the back-off cannot grow anyway (2**64 pauses); bounds the power.
_FAILURES_COUNTED_MAX = 64
# The audit's period and how many (name, address, reason) it itemises per period.
LOGIN_AUDIT_PERIOD_S = 10.0
LOGIN_AUDIT_PAIRS = 20
# A refused name as shown in the audit and the log: a client may send any string.
SHOWN_NAME_CHARS = 64
# A name as the back-off and the audit count it: longer than any user's (80, config), so that
# no two real names share a count, and short, so that the books stay small whatever is sent.
NAME_KEY_CHARS = 128
# A refusal comes by this much of the client's own timeout (its request's TimeoutHint).
ANSWER_WITHIN_FRACTION = 0.75
# Why a login was refused, in the audit.
WRONG_PASSWORD = "wrong password"
UNKNOWN_USER = "unknown user"
NOT_CHECKED = "not checked, its address in back-off"
PLAINTEXT = "password on an unencrypted channel, not checked"
UNSECURED_SESSION = "session on an unsecured (None) channel"
UNTRUSTED_CLIENT = "client certificate not trusted"

AuditWrite = Callable[[str, str, str, str], Awaitable[Any]]


class FailureBook:
    """Failed logins in a row per key (a user name, or a client address) and the back-off they
    earn: ``pause_s`` after the first failure, doubled for each further one, at most
    ``max_pause_s``. Times are ``time.monotonic()`` seconds, passed in."""

    def __init__(self, pause_s: float, max_pause_s: float, max_keys: int = TRACKED_KEYS_MAX):
        self.pause_s = pause_s
        self.max_pause_s = max_pause_s
        self._forget_after_s = FORGET_AFTER_PAUSES * max_pause_s
        self._max_keys = max_keys
        # key -> (failures in a row, end of its back-off); the most recent failure last.
        self._keys: collections.OrderedDict[str, tuple[int, float]] = collections.OrderedDict()

    def __len__(self) -> int:
        return len(self._keys)

    def back_off_end(self, key: str, now: float) -> float:
        """When ``key``'s back-off ends: ``now`` or earlier if it has none."""
        entry = self._current(key, now)
        return now if entry is None else entry[1]

    def failures(self, key: str, now: float) -> int:
        """Failures of ``key`` in a row (0 once forgotten)."""
        entry = self._current(key, now)
        return 0 if entry is None else entry[0]

    def failed(self, key: str, now: float) -> float:
        """Count a failure of ``key`` at ``now``; returns the end of the back-off it earns."""
        entry = self._current(key, now)
        count = min(_FAILURES_COUNTED_MAX, 1 if entry is None else entry[0] + 1)
        end = now + min(self.max_pause_s, self.pause_s * 2 ** (count - 1))
        self._keys[key] = (count, end)
        self._keys.move_to_end(key)
        while len(self._keys) > self._max_keys:
            self._keys.popitem(last=False)
        return end

    def _current(self, key: str, now: float) -> tuple[int, float] | None:
        entry = self._keys.get(key)
        if entry is not None and now - entry[1] > self._forget_after_s:
            del self._keys[key]
            return None
        return entry


def shown_name(name: str) -> str:
    """A user name as the audit and the log show it: as typed if short and printable, else
    quoted and cut."""
    if len(name) <= SHOWN_NAME_CHARS and name.isprintable() and name.strip() == name:
        return name
    return repr(name[:SHOWN_NAME_CHARS])


class FailedLoginAudit:
    """Every failed login into the audit table (and the log), in rows bounded whatever the
    attack.

    Failures are counted per (user name, client address, reason) in periods of ``period_s``.
    The first failure of each in a period is written at once (a mistyped password shows at once,
    with its address); the others of the period as one row at its end, with their count. At
    most ``pairs`` of them are itemised in a period; the failures of further ones make one row
    with their count. So an attack writes at most ``2 * pairs + 1`` rows and warnings per
    period, whatever its rate; every failure is in a count.

    Rows: actor ``opcua:<name as given>``, action ``login``, detail ``from <address>`` (``from
    <address>: <n> more failed logins in <period> s``), result ``refused: <reason>``: ``wrong
    password``, ``unknown user``, or ``not checked, its address in back-off``. The row of further
    ones has actor ``opcua:*`` and result ``refused: mixed``.

    ``failed`` is called on the login path: it only counts, never waits. ``run`` (a task of its
    own) writes; ``close`` has it end the period, write what is left and return.
    """

    def __init__(
        self,
        write: AuditWrite,
        period_s: float = LOGIN_AUDIT_PERIOD_S,
        pairs: int = LOGIN_AUDIT_PAIRS,
    ) -> None:
        self._write = write
        self.period_s = period_s
        self._max_pairs = pairs
        # (name, address, reason) -> failures after the one written at once, this period
        self._pairs: dict[tuple[str, str, str], int] = {}
        self._others = 0
        self._rows: collections.deque[tuple[str, str, str, str]] = collections.deque()
        self._wake = asyncio.Event()
        self._closing = False
        self.failures = 0  # counted since start
        self.rows_written = 0

    def failed(self, user: str, address: str, why: str) -> None:
        """Count one failed login of ``user`` from ``address``, refused for ``why``."""
        self.failures += 1
        key = (user, address, why)
        if key in self._pairs:
            self._pairs[key] += 1
        elif len(self._pairs) >= self._max_pairs:
            self._others += 1
        else:
            self._pairs[key] = 0
            self._rows.append((f"opcua:{shown_name(user)}", "login", f"from {address}", why))
            self._wake.set()

    async def run(self) -> None:
        """Write rows as they come and each period's counts at its end; after ``close``, end the
        period, write what is left and return. (Cancelled instead, it may lose the row it is
        writing and the counts not yet written.)"""
        loop = asyncio.get_running_loop()
        period_end = loop.time() + self.period_s
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(0.0, period_end - loop.time()))
            self._wake.clear()
            if loop.time() >= period_end or self._closing:
                self._end_period()
                period_end = loop.time() + self.period_s
            await self._write_rows()
            if self._closing and not self._rows:
                return

    def close(self) -> None:
        """Ask ``run`` to end the period now, write every row not yet written, and return."""
        self._closing = True
        self._wake.set()

    def _end_period(self) -> None:
        for (user, address, why), more in self._pairs.items():
            if more:
                detail = f"from {address}: {more} more failed logins in {self.period_s:g} s"
                self._rows.append((f"opcua:{shown_name(user)}", "login", detail, why))
        if self._others:
            detail = (
                f"{self._others} failed logins of further names or addresses (beyond "
                f"{self._max_pairs} pairs) in {self.period_s:g} s"
            )
            self._rows.append(("opcua:*", "login", detail, "mixed"))
        self._pairs.clear()
        self._others = 0

    async def _write_rows(self) -> None:
        while self._rows:
            actor, action, detail, why = self._rows.popleft()
            result = f"refused: {why}"
            log.warning("OPC UA login refused: %s %s (%s)", actor, detail, why)
            try:
                await self._write(actor, action, detail, result)
                self.rows_written += 1
            except Exception as error:  # the refusal stands; the missing row is logged loudly
                log.error("audit row for %s %s not written: %s", actor, detail, error)


@dataclass(frozen=True)
class _Verdict:
    username: str
    password: str
    user: User | None


# The verdict of the login being activated, set by the processor around asyncua's synchronous
# activation of that session (see ``CellUserManager.verdict``).
_verdict: contextvars.ContextVar[_Verdict | None] = contextvars.ContextVar(
    "opcua_login_verdict", default=None
)


class CellUserManager:
    """asyncua's user manager over the config's users, with the login rules of the module
    docstring. ``await login(...)`` decides; ``with verdict(...)`` around asyncua's activation
    hands the decision to ``get_user``. ``close()`` when the server stops."""

    def __init__(self, settings: OpcUaSettings, audit: FailedLoginAudit) -> None:
        self._users = {u.name: u for u in settings.users}
        self.allow_anonymous = settings.allow_anonymous
        self.none_endpoint = settings.none_endpoint
        self.audit = audit
        self.by_user = FailureBook(settings.failed_login_pause_s, settings.failed_login_pause_max_s)
        self.by_address = FailureBook(
            settings.failed_login_pause_s, settings.failed_login_pause_max_s
        )
        # Names nobody has are checked against this: the cost of the first user's hash (every
        # hash `cellctl passwd` makes has the same cost).
        first = settings.users[0].password_hash if settings.users else None
        nobody = secrets.token_hex(16)
        self._dummy_hash = hash_like(first, nobody) if first else hash_password(nobody)
        # name -> sha256(stored hash, password) of a password that verified: an HMI that
        # reconnects does not pay scrypt again. Only ever a correct password's.
        self._remembered: dict[str, bytes] = {}
        # The check running for an address, if any: one at a time per address.
        self._checking: dict[str, asyncio.Task[tuple[User | None, float]]] = {}
        self._checker = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="opcua-password-check"
        )
        self.password_checks = 0  # scrypt runs, for every name and address

    def role_of(self, user: User | None) -> Role:
        if user is None or user.name is None or user.name not in self._users:
            return Role.ANONYMOUS
        return Role[self._users[user.name].role.upper()]

    async def login(
        self, username: str, password: str, address: str, answer_within_s: float = 0.0
    ) -> User | None:
        """The user ``username`` logs in as from ``address``, or None (refused); see the module
        docstring. ``answer_within_s`` is the client's own timeout (its request's TimeoutHint;
        0: none): a refusal comes by ``ANSWER_WITHIN_FRACTION`` of it, so that the client hears
        "refused" and not its timeout, but never sooner than ``failed_login_pause_s`` after the
        request (a client cannot make itself answered at once by asking for it). An attempt whose
        address's turn has not come by then is refused without a check."""
        arrived = time.monotonic()
        answer_by = math.inf
        if answer_within_s > 0:
            answer_by = arrived + max(
                ANSWER_WITHIN_FRACTION * answer_within_s, self.by_address.pause_s
            )
        while True:  # step 1: this address's turn: no check running, its back-off over
            now = time.monotonic()
            running = self._checking.get(address)
            back_off_end = self.by_address.back_off_end(address, now)
            if running is None and back_off_end <= now:
                break
            if now >= answer_by:
                self.audit.failed(username[:NAME_KEY_CHARS], address, NOT_CHECKED)
                return None
            if running is not None:
                patience_s = None if math.isinf(answer_by) else answer_by - now
                await asyncio.wait([running], timeout=patience_s)
            else:
                await asyncio.sleep(min(back_off_end, answer_by) - now)
        check = asyncio.create_task(self._check(username, password, address))
        self._checking[address] = check
        check.add_done_callback(lambda done: self._end_turn(address, done))
        # The check runs to its end even if the client leaves: its failure counts, and this
        # address's next attempt waits for it.
        user, answer_at = await asyncio.shield(check)
        if user is None:
            await asyncio.sleep(max(0.0, min(answer_at, answer_by) - time.monotonic()))
        return user

    async def refuse_plaintext(
        self, username: str, address: str, answer_within_s: float = 0.0
    ) -> None:
        """A password that crossed unencrypted: audited, counted against ``address``, never
        checked; returns when the refusal is due (as ``login``'s refusals: when the address's
        back-off ends, or by ``ANSWER_WITHIN_FRACTION`` of the client's timeout, never sooner
        than ``failed_login_pause_s``)."""
        await self._refuse(username[:NAME_KEY_CHARS], address, PLAINTEXT, answer_within_s)

    async def refuse_unsecured_session(self, address: str, answer_within_s: float = 0.0) -> None:
        """A session asked for on a None channel the config does not offer: audited (as user
        ``-``), counted against ``address``; returns when the refusal is due."""
        await self._refuse("-", address, UNSECURED_SESSION, answer_within_s)

    async def refuse_untrusted_client(
        self, address: str, certificate: str, answer_within_s: float = 0.0
    ) -> None:
        """A session from a client whose certificate (its SHA-256 ``certificate``) is not in
        ``trusted_clients``: audited (as user ``-``, the fingerprint in the detail's reason),
        counted against ``address``; returns when the refusal is due."""
        why = f"{UNTRUSTED_CLIENT} (SHA-256 {certificate[:23]}…)"
        await self._refuse("-", address, why, answer_within_s)

    async def _refuse(self, name: str, address: str, why: str, answer_within_s: float) -> None:
        now = time.monotonic()
        answer_at = self.by_address.failed(address, now)
        if answer_within_s > 0:
            soonest = now + max(ANSWER_WITHIN_FRACTION * answer_within_s, self.by_address.pause_s)
            answer_at = min(answer_at, soonest)
        self.audit.failed(name, address, why)
        await asyncio.sleep(max(0.0, answer_at - time.monotonic()))

    @contextlib.contextmanager
    def verdict(self, username: str, password: str, user: User | None) -> Iterator[None]:
        """Within this block, ``get_user`` answers ``username``/``password`` with ``user``."""
        token = _verdict.set(_Verdict(username, password, user))
        try:
            yield
        finally:
            _verdict.reset(token)

    def get_user(
        self,
        iserver: Any,
        username: str | None = None,
        password: str | None = None,
        certificate: Any = None,
    ) -> User | None:
        """asyncua's question: the session's user, or None to refuse (BadUserAccessDenied).
        A name is answered only with the verdict of ``login`` for this very name and password;
        without one (a path that skipped the check) the login is refused."""
        if not username:
            return User(role=UserRole.Anonymous, name=None) if self.allow_anonymous else None
        verdict = _verdict.get()
        if verdict is None or verdict.username != username or verdict.password != password:
            log.error("OPC UA login as %s reached asyncua unchecked: refused", shown_name(username))
            return None
        return verdict.user

    async def close(self) -> None:
        """Stop the checks in progress and the checker thread."""
        checks = list(self._checking.values())
        for check in checks:
            check.cancel()
        for check in checks:
            with contextlib.suppress(asyncio.CancelledError):
                await check
        # A check already on the thread finishes (one scrypt at most); queued ones are dropped.
        await asyncio.to_thread(self._checker.shutdown, wait=True, cancel_futures=True)

    async def _check(self, username: str, password: str, address: str) -> tuple[User | None, float]:
        """(the user, 0) for a correct password; (None, when to answer) for a failure, counted
        in both books and the audit."""
        known = self._users.get(username)
        stored = known.password_hash if known is not None else self._dummy_hash
        # Computed for every name, so that a name nobody has costs what a wrong password costs.
        fingerprint = hashlib.sha256(stored.encode() + b"\0" + password.encode()).digest()
        remembered = self._remembered.get(username)
        if remembered is not None and hmac.compare_digest(remembered, fingerprint):
            return User(role=UserRole.User, name=username), 0.0
        self.password_checks += 1
        loop = asyncio.get_running_loop()
        correct = await loop.run_in_executor(self._checker, verify_password, password, stored)
        if correct and known is not None:
            self._remembered[username] = fingerprint
            return User(role=UserRole.User, name=username), 0.0
        now = time.monotonic()
        name = username[:NAME_KEY_CHARS]
        answer_at = max(self.by_user.failed(name, now), self.by_address.failed(address, now))
        self.audit.failed(name, address, WRONG_PASSWORD if known else UNKNOWN_USER)
        return None, answer_at

    def _end_turn(self, address: str, check: asyncio.Task[Any]) -> None:
        if self._checking.get(address) is check:
            del self._checking[address]
        # Its client may have left (nobody awaits the shield): an error is reported here.
        if not check.cancelled() and check.exception() is not None:
            log.error("OPC UA password check for %s failed: %r", address, check.exception())
