"""A guard against a reference-count bug of PySide6 6.12 on Python 3.11.

PySide6 6.12's wheels (abi3) drop a reference to ``None`` on every call of a void C++ method
(``QLabel.setText``, ...) and to ``True``/``False`` on every ``Signal.emit``: harmless from
Python 3.12 on, where those objects are immortal (PEP 683), fatal on 3.11, where their count
reaches zero after some ten thousand calls and the interpreter aborts with "none_dealloc:
deallocating None" (also the "segfault at exit" noted in shared/PITFALLS.md). An HMI that runs
a whole shift makes millions of such calls.

``make_singletons_immortal()`` gives ``None``, ``True`` and ``False`` a reference count so
large that no run can use it up, which is what Python 3.12 does for them. It does nothing on
3.12 and later.
"""

from __future__ import annotations

import ctypes
import sys

_HEADROOM = 1 << 40  # a trillion calls of headroom, far below Py_ssize_t's limit


def make_singletons_immortal() -> None:
    if sys.version_info >= (3, 12):
        return
    for singleton in (None, True, False):
        # ob_refcnt is the first field of every CPython object.
        count = ctypes.c_ssize_t.from_address(id(singleton))
        if count.value < _HEADROOM:
            count.value += _HEADROOM
