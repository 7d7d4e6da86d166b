"""Users of the controller's OPC UA interface: roles and hashed passwords.

Passwords are never stored or logged in clear: the config holds a hash made by
``cellctl passwd`` in the form ``scrypt$n$r$p$salt_hex$hash_hex`` (stdlib ``hashlib.scrypt``).
Roles grow from the bottom: anonymous may only read, operator may also command the cell,
engineer may also change its mode, quality may also release a welded part for a rework.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets

# scrypt cost: about 30 ms per check on this class of machine, 16 MiB of memory. A login is
# rare; a guessing attacker pays this for every guess.
SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
SALT_BYTES = 16
HASH_BYTES = 32
PREFIX = "scrypt"


class Role(enum.IntEnum):
    """What a user may do; each role may do everything the roles below it may."""

    ANONYMOUS = 0  # read and browse
    OPERATOR = 1  # also Start, Hold, Unhold, Stop, Reset, Abort, Clear, AcknowledgeFault
    ENGINEER = 2  # also SetMode
    QUALITY = 3  # also ReleaseRework, ReleasePart, ScrapPart (the quality decisions)

    @property
    def label(self) -> str:
        return self.name.lower()


class BadPasswordHash(ValueError):
    """A stored hash that is not ``scrypt$n$r$p$salt$hash``."""


def hash_password(password: str, salt: bytes | None = None) -> str:
    """The storable hash of ``password`` (a fresh random salt unless one is given)."""
    salt = salt if salt is not None else secrets.token_bytes(SALT_BYTES)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=HASH_BYTES
    )
    return f"{PREFIX}${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def hash_like(stored: str, password: str) -> str:
    """A hash of ``password`` that costs what checking ``stored`` costs (the same n, r, p, salt
    and hash lengths), with a fresh salt: checking a name nobody has against it takes as long
    as checking a real user's password."""
    n, r, p, salt, digest = parse_password_hash(stored)
    fresh = secrets.token_bytes(len(salt))
    candidate = hashlib.scrypt(
        password.encode(), salt=fresh, n=n, r=r, p=p, dklen=len(digest), maxmem=2**26
    )
    return f"{PREFIX}${n}${r}${p}${fresh.hex()}${candidate.hex()}"


def parse_password_hash(stored: str) -> tuple[int, int, int, bytes, bytes]:
    """(n, r, p, salt, hash) of a stored hash; ``BadPasswordHash`` saying what is wrong."""
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != PREFIX:
        raise BadPasswordHash("expected scrypt$n$r$p$salt_hex$hash_hex (made by `cellctl passwd`)")
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt, digest = bytes.fromhex(parts[4]), bytes.fromhex(parts[5])
    except ValueError:
        raise BadPasswordHash("n, r, p must be integers and salt, hash hexadecimal") from None
    if n < 2 or n & (n - 1) or not (1 <= r <= 64) or not (1 <= p <= 16) or len(digest) < 16:
        raise BadPasswordHash("scrypt parameters out of range (n a power of 2, r 1..64, p 1..16)")
    return n, r, p, salt, digest


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored``; constant-time comparison."""
    n, r, p, salt, digest = parse_password_hash(stored)
    candidate = hashlib.scrypt(
        password.encode(), salt=salt, n=n, r=r, p=p, dklen=len(digest), maxmem=2**26
    )
    return hmac.compare_digest(candidate, digest)
