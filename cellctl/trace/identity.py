"""The rules of a part's identity and a welder's login, pure: no store, no clock of its own.

- A serial number is text that matches the cell's pattern (``traceability.serial.pattern``);
  anything else is a mis-scan, refused with what was read.
- A welder may log in only with an ISO 14732 qualification that has not expired on the day.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from cellctl.config.trace_models import Welder


class TraceRefused(ValueError):
    """A serial, a login, a lot or a release refused; the message says why, in the cell's
    words, for the operator."""


SHOWN_CHARS = 40  # of a refused text, in a message: a client may send any string


def checked_serial(text: str, pattern: str) -> str:
    """``text`` as a serial number (surrounding blanks dropped), or ``TraceRefused``."""
    serial = text.strip()
    if not serial:
        raise TraceRefused("no serial number given")
    if not re.fullmatch(pattern, serial):
        raise TraceRefused(
            f"{serial[:SHOWN_CHARS]!r} is not a serial number of this cell (pattern {pattern})"
        )
    return serial


def checked_lot(text: str) -> str:
    lot = text.strip()
    if not lot or len(lot) > 40 or not lot.isprintable():
        raise TraceRefused(f"{lot[:SHOWN_CHARS]!r} is not a lot number (1-40 printable characters)")
    return lot


@dataclass(frozen=True)
class WelderOnShift:
    """The welder logged in at the cell, as each part's record keeps them."""

    name: str
    full_name: str
    standard: str
    number: str
    scope: str
    expires: dt.date
    login_id: int  # their row in the store's welder_logins

    def qualification(self) -> dict[str, str]:
        return {
            "standard": self.standard,
            "number": self.number,
            "scope": self.scope,
            "expires": self.expires.isoformat(),
        }


def qualified_welder(name: str, welders: list[Welder], today: dt.date) -> Welder:
    """The welder called ``name`` if their qualification is valid ``today``; else
    ``TraceRefused`` saying why (unknown, or expired on which date)."""
    wanted = name.strip()
    for welder in welders:
        if welder.name == wanted:
            qualification = welder.qualification
            if qualification.expires < today:
                raise TraceRefused(
                    f"welder {welder.name}: {qualification.standard} qualification "
                    f"{qualification.number} expired on {qualification.expires.isoformat()}; "
                    "it must be renewed before they weld"
                )
            return welder
    known = ", ".join(w.name for w in welders) or "none configured"
    raise TraceRefused(f"no welder {wanted[:SHOWN_CHARS]!r} at this cell (welders: {known})")
