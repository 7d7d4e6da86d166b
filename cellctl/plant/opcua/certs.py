"""Certificates of the OPC UA interface: the cell's (the server's), a client's, and the pins a
client keeps of the servers it trusts.

The cell's application certificate is self-signed (OPC 10000-6 6.2.2, through asyncua's
``cert_gen``): RSA 2048, SHA-256, its subject alternative names the application URI
``urn:cellctl:<cell name>`` and the host names and addresses clients reach it by. Clients
trust it on first use and pin its SHA-256 fingerprint (``ServerPins``); a plant with its own
certificate authority gives the cell a certificate in config instead (``opcua.certificate``,
``opcua.private_key``).

Where the cell's certificate comes from (``cell_certificate``):

- ``opcua.certificate`` and ``opcua.private_key`` given: those files (config check has seen that
  they exist, can be read and belong together);
- else the pair in ``opcua.certificate_dir`` (default ``../var/opcua``, beside the production
  database, outside version control), made there on the controller's first start, and kept: a
  certificate made anew at every start would trip every client's pin.

Files: a certificate as DER (``.der``) or PEM (``.pem``), a private key as unencrypted PKCS#8
PEM, written readable by its owner only.
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import json
import logging
import os
import socket
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from asyncua.crypto import cert_gen
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from cellctl.config.certificates import load_certificate

log = logging.getLogger(__name__)

CERTIFICATE_FILE = "cell-certificate.der"
PRIVATE_KEY_FILE = "cell-private-key.pem"
CLIENT_CERTIFICATE_FILE = "client-certificate.der"
CLIENT_PRIVATE_KEY_FILE = "client-private-key.pem"
PINS_FILE = "known_servers.json"
# An application certificate of a cell is renewed by hand (`cellctl certs --force`), which every
# client's pin then reports: ten years, so that it is a decision, not an expiry at night.
VALID_DAYS = 3650


def application_uri(cell_name: str) -> str:
    """The cell's OPC UA application URI (in its certificate and its endpoints)."""
    return f"urn:cellctl:{urllib.parse.quote(cell_name)}"


def client_application_uri(name: str) -> str:
    return f"urn:cellctl:client:{urllib.parse.quote(name)}"


def host_names(endpoint: str, extra: tuple[str, ...] = ()) -> list[str]:
    """The names a client may reach ``endpoint`` by: its host, this machine's name, localhost,
    and ``extra``; in order, without repeats."""
    names = [urllib.parse.urlparse(endpoint).hostname or "", socket.gethostname(), "localhost"]
    return list(dict.fromkeys(n for n in [*names, *extra] if n))


def make_certificate(
    certificate: Path,
    private_key: Path,
    uri: str,
    hosts: list[str],
    *,
    server: bool = True,
    common_name: str | None = None,
    days: int = VALID_DAYS,
) -> str:
    """A fresh key and a self-signed application certificate for ``uri`` and ``hosts``
    (addresses as IP entries, names as DNS entries), written to the two paths (folders made);
    the certificate's fingerprint."""
    key = cert_gen.generate_private_key()
    names: list[x509.GeneralName] = [x509.UniformResourceIdentifier(uri)]
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    usage = [ExtendedKeyUsageOID.SERVER_AUTH] if server else [ExtendedKeyUsageOID.CLIENT_AUTH]
    cert = cert_gen.generate_self_signed_app_certificate(
        key, common_name or uri, {}, names, usage, days=days
    )
    certificate.parent.mkdir(parents=True, exist_ok=True)
    private_key.parent.mkdir(parents=True, exist_ok=True)
    _write_private(private_key, cert_gen.dump_private_key_as_pem(key))
    if certificate.suffix.lower() == ".pem":
        certificate.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    else:
        certificate.write_bytes(cert.public_bytes(serialization.Encoding.DER))
    return fingerprint(cert.public_bytes(serialization.Encoding.DER))


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.replace(tmp, path)


def fingerprint(der: bytes) -> str:
    """SHA-256 of a certificate's DER bytes, as colon-separated hex pairs (as openssl shows it)."""
    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


@dataclass(frozen=True)
class CertificatePair:
    certificate: Path
    private_key: Path
    made: bool  # made just now


def cell_certificate(
    configured: tuple[Path, Path] | None, folder: Path, uri: str, hosts: list[str]
) -> CertificatePair:
    """The cell's certificate and key: ``configured``, else the pair in ``folder``, made there
    if it is not there yet (see the module docstring)."""
    if configured is not None:
        return CertificatePair(*configured, made=False)
    certificate, private_key = folder / CERTIFICATE_FILE, folder / PRIVATE_KEY_FILE
    if certificate.is_file() and private_key.is_file():
        return CertificatePair(certificate, private_key, made=False)
    shown = make_certificate(certificate, private_key, uri, hosts)
    log.warning(
        "made the cell's OPC UA certificate %s (SHA-256 %s); clients pin it on first use",
        certificate,
        shown,
    )
    return CertificatePair(certificate, private_key, made=True)


class TrustedClients:
    """The client certificates a server accepts (``opcua.trusted_clients``): the certificate
    files (DER or PEM) in one folder, read anew at each session, so that a client is added or
    removed without a restart."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def fingerprints(self) -> set[str]:
        found = set()
        for path in sorted(self.folder.glob("*")):
            if path.suffix.lower() not in {".der", ".pem", ".crt"}:
                continue
            try:
                cert = load_certificate(path)
            except (OSError, ValueError) as error:
                log.warning("trusted client certificate %s not read: %s", path, error)
                continue
            found.add(fingerprint(cert.public_bytes(serialization.Encoding.DER)))
        return found

    def trusts(self, der: bytes | None) -> bool:
        return der is not None and fingerprint(der) in self.fingerprints()


# -- a client's side -------------------------------------------------------------------------


class CertificateChanged(Exception):
    """The server offers a certificate other than the one pinned for its endpoint."""

    def __init__(self, endpoint: str, pinned: str, offered: str, pins: Path) -> None:
        self.endpoint = endpoint
        self.pinned = pinned
        self.offered = offered
        self.pins = pins
        super().__init__(
            f"REFUSED: the server at {endpoint} offers a certificate other than the one trusted "
            f"before (pinned SHA-256 {pinned[:23]}…, offered {offered[:23]}…). It may be "
            f"another machine posing as the cell. If the cell's certificate was renewed on "
            f"purpose, remove its entry from {pins} and connect again."
        )


class ServerPins:
    """The fingerprint of each server's certificate, by endpoint URL, in one JSON file: trusted
    on first use, then required."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _read(self) -> dict[str, dict[str, str]]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        return data if isinstance(data, dict) else {}

    def pinned(self, endpoint: str) -> str | None:
        entry = self._read().get(endpoint)
        return entry.get("sha256") if isinstance(entry, dict) else None

    def check(self, endpoint: str, der: bytes) -> bool:
        """Whether ``der`` is the certificate pinned for ``endpoint``; an endpoint seen for the
        first time is pinned to it (True, and logged). ``CertificateChanged`` if it differs."""
        offered = fingerprint(der)
        pins = self._read()
        entry = pins.get(endpoint)
        if isinstance(entry, dict) and entry.get("sha256"):
            if entry["sha256"] != offered:
                raise CertificateChanged(endpoint, entry["sha256"], offered, self.path)
            return True
        subject = x509.load_der_x509_certificate(der).subject.rfc4514_string()
        pins[endpoint] = {
            "sha256": offered,
            "subject": subject,
            "pinned": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(pins, indent=2, sort_keys=True) + "\n")
        os.replace(tmp, self.path)
        log.warning(
            "trusted the server at %s on first use: %s (SHA-256 %s)", endpoint, subject, offered
        )
        return True


def user_trust_dir() -> Path:
    """Where a client of this user keeps its certificate and its pins:
    ``$XDG_CONFIG_HOME/cellctl/opcua`` (``~/.config/cellctl/opcua``)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "cellctl" / "opcua"


@dataclass(frozen=True)
class ClientTrust:
    """A client's folder: its own application certificate (made on first use) and its pins."""

    folder: Path
    name: str = "hmi"

    @property
    def pins(self) -> ServerPins:
        return ServerPins(self.folder / PINS_FILE)

    @property
    def uri(self) -> str:
        return client_application_uri(f"{self.name}@{socket.gethostname()}")

    def identity(self) -> tuple[Path, Path]:
        """This client's certificate and key, made if missing."""
        certificate = self.folder / CLIENT_CERTIFICATE_FILE
        private_key = self.folder / CLIENT_PRIVATE_KEY_FILE
        if not (certificate.is_file() and private_key.is_file()):
            make_certificate(
                certificate, private_key, self.uri, [socket.gethostname()], server=False
            )
        return certificate, private_key
