"""Exception types of the drivers: one type per way a device link can fail.

Every error names the device (its name in the cell config, e.g. ``plc``) and its address
(``127.0.0.1:5020 unit 1``, ``/dev/ttyUSB0 unit 1``, a register number), so that a message in a
log or on the operator's screen says where to look without a stack trace.
"""

from __future__ import annotations


class DeviceError(Exception):
    """Base of every driver error. ``str()`` reads ``<device> at <address>: <what happened>``."""

    def __init__(self, device: str, address: str, message: str) -> None:
        self.device = device
        self.address = address
        self.message = message
        super().__init__(f"{device} at {address}: {message}")


class LinkDown(DeviceError):
    """The link is not connected (never was, was closed, or dropped); nothing was sent."""


class FramesRefused(DeviceError):
    """The device sends what the controller cannot use as it is set up (a camera's frames of
    another size than its calibration): refused before use, counted, and said here."""


class DeviceTimeout(DeviceError):
    """A request was sent but no valid answer came back within the timeout (after retries)."""


class DeviceRejected(DeviceError):
    """The device answered, but refused the request (a Modbus exception response, a robot NAK).

    ``code`` is the device's own code (Modbus exception code, robot result code).
    """

    def __init__(self, device: str, address: str, message: str, code: int) -> None:
        self.code = code
        super().__init__(device, address, message)


class ProtocolError(DeviceError):
    """The device answered with something that does not fit the request (wrong length, type)."""


class WriteRefused(DeviceError):
    """A write was refused by the driver before it reached the wire.

    Raised when a write names a register or output that the device's map does not list as
    writable, or a value the signal cannot carry. Nothing was sent.
    """


class SignalValueError(ValueError):
    """A value does not fit a register signal (out of range, wrong type). Pure: no device."""

    def __init__(self, signal: str, message: str) -> None:
        self.signal = signal
        super().__init__(f"{signal}: {message}")
