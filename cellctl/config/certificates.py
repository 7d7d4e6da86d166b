"""Checks of a certificate and private key named in config (``opcua.certificate``,
``opcua.private_key``): config check runs them, the OPC UA server's certificate module uses them."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization


def load_certificate(path: Path) -> x509.Certificate:
    """A certificate file, DER or PEM (``ValueError`` if it is neither)."""
    data = path.read_bytes()
    if data.lstrip().startswith(b"-----BEGIN"):
        return x509.load_pem_x509_certificate(data)
    return x509.load_der_x509_certificate(data)


def certificate_problem(certificate: Path, private_key: Path) -> str | None:
    """What is wrong with a certificate and key pair, two files that can be read (config
    check has said so of each, at its key), or None: a certificate and a private key, of the
    same key pair."""
    try:
        cert = load_certificate(certificate)
    except ValueError as error:
        return f"{certificate} is not a certificate (DER or PEM): {error}"
    data = private_key.read_bytes()
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            key = serialization.load_pem_private_key(data, password=None)
        else:
            key = serialization.load_der_private_key(data, password=None)
    except (ValueError, TypeError) as error:
        return f"{private_key} is not an unencrypted private key (PEM or DER): {error}"
    if key.public_key().public_numbers() != cert.public_key().public_numbers():  # type: ignore[union-attr]
        return f"{private_key} is not the key of {certificate}"
    return None
