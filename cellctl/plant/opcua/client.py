"""Client side of the Cell object: connecting securely, calling its methods and reading its
variables (asyncua).

Used by the HMI and by tests. ``connect_secure`` opens a Basic256Sha256 SignAndEncrypt session:
it reads the server's certificate from its endpoints, checks it against the pin kept for that
endpoint (trust on first use: ``cellctl.plant.opcua.certs.ServerPins``; a changed certificate is
refused with ``CertificateChanged`` before a password is sent), then connects with exactly that
certificate (asyncua refuses a session whose server certificate differs from it).
``call_method`` returns the status *and* the server's message even when the call is refused
(asyncua's ``Node.call_method`` raises on a Bad status and drops it).
"""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asyncua import Client, ua
from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from cellctl.config.certificates import load_certificate
from cellctl.plant.opcua.certs import ClientTrust
from cellctl.plant.opcua.nodes import NAMESPACE_URI, OBJECT, VARIABLES


@dataclass(frozen=True)
class MethodResult:
    status: str  # e.g. "Good", "BadInvalidState", "BadUserAccessDenied"
    message: str

    @property
    def ok(self) -> bool:
        return self.status == "Good"


class NoSecureEndpoint(Exception):
    """The server offers no Basic256Sha256 SignAndEncrypt endpoint."""


async def server_certificate(client: Client) -> bytes:
    """The DER certificate of ``client``'s server, from its SignAndEncrypt endpoint (asked on a
    discovery channel, which carries no session and no password)."""
    endpoints = await client.connect_and_get_server_endpoints()
    for endpoint in endpoints:
        if (
            endpoint.SecurityPolicyUri == SecurityPolicyBasic256Sha256.URI
            and endpoint.SecurityMode == ua.MessageSecurityMode.SignAndEncrypt
            and endpoint.ServerCertificate
        ):
            return bytes(endpoint.ServerCertificate)
    raise NoSecureEndpoint(
        f"{client.server_url.geturl()} offers no Basic256Sha256 SignAndEncrypt endpoint"
    )


async def secure(
    client: Client,
    trust: ClientTrust,
    server_der: bytes,
    mode: ua.MessageSecurityMode = ua.MessageSecurityMode.SignAndEncrypt,
) -> None:
    """Set ``client`` to Basic256Sha256 ``mode`` with ``trust``'s certificate, talking to the
    server whose certificate is ``server_der`` only."""
    certificate, private_key = await asyncio.to_thread(_identity, trust)
    client.application_uri = trust.uri
    # asyncua's set_security, without reading and checking the key again for every connection
    # (loading an RSA key checks it: 50-150 ms of the loop's time here).
    policy = SecurityPolicyBasic256Sha256(
        x509.load_der_x509_certificate(server_der), certificate, private_key, mode
    )
    client.security_policy = policy
    client.uaclient.set_security(policy)


def _identity(trust: ClientTrust) -> tuple[x509.Certificate, Any]:
    """``trust``'s certificate and key, made if missing, loaded once per file version."""
    certificate, private_key = trust.identity()
    return _loaded(
        certificate, private_key, certificate.stat().st_mtime_ns, private_key.stat().st_mtime_ns
    )


@functools.lru_cache(maxsize=8)
def _loaded(
    certificate: Path, private_key: Path, _cert_version: int, _key_version: int
) -> tuple[x509.Certificate, Any]:
    key = serialization.load_pem_private_key(private_key.read_bytes(), password=None)
    return load_certificate(certificate), key


async def connect_secure(
    client: Client, trust: ClientTrust, user: str | None = None, password: str | None = None
) -> None:
    """Connect ``client`` (made for the endpoint, not yet connected) over SignAndEncrypt, as
    ``user`` or anonymously, if its server's certificate is the one pinned for the endpoint
    (or the endpoint is new: then it is pinned). ``CertificateChanged`` otherwise, before any
    password leaves."""
    endpoint = client.server_url.geturl()
    der = await server_certificate(client)
    trust.pins.check(endpoint, der)
    await secure(client, trust, der)
    if user:
        client.set_user(user)
        client.set_password(password or "")
    await client.connect()


async def cell_namespace(client: Client) -> int:
    return await client.get_namespace_index(NAMESPACE_URI)


async def call_method(client: Client, namespace: int, method: str, *args: str) -> MethodResult:
    request = ua.CallMethodRequest()
    request.ObjectId = ua.NodeId(OBJECT, namespace)
    request.MethodId = ua.NodeId(f"{OBJECT}.{method}", namespace)
    request.InputArguments = [ua.Variant(a, ua.VariantType.String) for a in args]
    (result,) = await client.uaclient.call([request])
    message = ""
    if result.OutputArguments:
        message = str(result.OutputArguments[0].Value)
    return MethodResult(result.StatusCode.name, message)


async def read_cell(client: Client, namespace: int) -> dict[str, Any]:
    """Every variable of the Cell object in one Read request, by path (e.g. "Weld.CurrentA")."""
    nodes = [client.get_node(ua.NodeId(f"{OBJECT}.{v.path}", namespace)) for v in VARIABLES]
    values = await client.read_values(nodes)
    return {spec.path: value for spec, value in zip(VARIABLES, values, strict=True)}
