"""The plant interface secured (issue 19): OPC UA over Basic256Sha256 with the cell's
certificate, passwords only encrypted, the None endpoint only when config asks for it, and the
HMI's client trusting the cell's certificate on first use and refusing a changed one.

Real asyncua clients against the real server of a real controller (simulated cell), as in
``tests/test_opcua.py``. Each refusal is checked for its status, for what it did not do (no
password check, no session) and for its audit row (or, on the client's side, its warning).
"""

from __future__ import annotations

import asyncio
import logging
import shutil

import pytest
from asyncua import Client, ua

from cellctl.plant.opcua.certs import CertificateChanged, ClientTrust, ServerPins
from cellctl.plant.opcua.client import (
    call_method,
    cell_namespace,
    connect_secure,
    read_cell,
    secure,
)
from cellctl.plant.opcua.server import CellOpcUaServer
from tests.opcua_rig import (
    PASSWORDS,
    cell_with_opcua,
    client_as,
    client_trust,
    log_in,
    rig_certificate,
    secured,
)

pytestmark = pytest.mark.slow

PLAINTEXT_WARNING = "password may get transferred in plaintext"


def _opcua(**settings):
    def edit(cell: dict) -> None:
        cell["opcua"].update(settings)

    return edit


async def _login_rows(store, count: int = 1) -> list[dict]:
    """The audit's login rows, once there are ``count`` (written by their own task)."""
    for _ in range(300):
        rows = [r for r in await store.audit_rows() if r["action"] == "login"]
        if len(rows) >= count:
            return rows
        await asyncio.sleep(0.01)
    pytest.fail(f"fewer than {count} login rows in the audit")


async def _endpoints(endpoint: str) -> list[ua.EndpointDescription]:
    return await Client(endpoint, timeout=5).connect_and_get_server_endpoints()


class _PlainTokenClient(Client):
    """A client that sends its password in a plain token whatever the server asks (as a
    careless or hostile one may)."""

    def server_policy(self, token_type: ua.UserTokenType) -> ua.UserTokenPolicy:
        policy = super().server_policy(token_type)
        if token_type == ua.UserTokenType.UserName:
            policy = ua.UserTokenPolicy(
                PolicyId=policy.PolicyId,
                TokenType=token_type,
                SecurityPolicyUri="http://opcfoundation.org/UA/SecurityPolicy#None",
            )
        return policy


async def test_encrypted_endpoints_only_and_a_right_user_logs_in(tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    async with cell_with_opcua(tmp_path) as (rig, server):
        endpoints = await _endpoints(server.endpoint)
        offered = {(e.SecurityPolicyUri.rsplit("#", 1)[1], e.SecurityMode) for e in endpoints}
        assert offered == {
            ("Basic256Sha256", ua.MessageSecurityMode.Sign),
            ("Basic256Sha256", ua.MessageSecurityMode.SignAndEncrypt),
        }
        assert all(e.ServerCertificate == rig_certificate()[0].read_bytes() for e in endpoints)
        async with client_as(server.endpoint, "olga") as olga:
            ns = await cell_namespace(olga)
            assert (await call_method(olga, ns, "WhoAmI")).message == "olga operator"
            assert (await read_cell(olga, ns))["State"]
        # On a Sign channel the password crosses encrypted in its token: accepted too.
        signed = await secured(Client(server.endpoint, timeout=5), ua.MessageSecurityMode.Sign)
        signed.set_user("erik")
        signed.set_password(PASSWORDS["erik"])
        await signed.connect()
        try:
            ns = await cell_namespace(signed)
            assert (await call_method(signed, ns, "WhoAmI")).message == "erik engineer"
        finally:
            await signed.disconnect()
        assert not [r for r in await rig.controller.store.audit_rows() if r["action"] == "login"]
    assert PLAINTEXT_WARNING not in caplog.text
    assert "No encrypting policy" not in caplog.text


async def test_a_wrong_password_and_a_wrong_role_are_refused_and_audited(tmp_path):
    async with cell_with_opcua(tmp_path) as (rig, server):
        assert not await log_in(server.endpoint, "olga", "not-her-password")
        (row,) = await _login_rows(rig.controller.store)
        assert (row["actor"], row["result"]) == ("opcua:olga", "refused: wrong password")
        async with client_as(server.endpoint, "olga") as olga:
            refused = await call_method(olga, await cell_namespace(olga), "SetMode", "dry_run")
        assert refused.status == "BadUserAccessDenied"
        assert "engineer" in refused.message
        rows = [r for r in await rig.controller.store.audit_rows() if r["action"] == "SetMode"]
        assert [(r["actor"], r["result"].split(":")[0]) for r in rows] == [
            ("opcua:olga", "refused")
        ]
        assert str(rig.controller.machine.mode) == "production"


async def test_no_session_on_an_unsecured_channel_unless_config_offers_it(tmp_path):
    """Without ``none_endpoint`` a client that opens a None channel (which discovery needs)
    cannot make a session on it, anonymous or with a password; refused and audited."""
    async with cell_with_opcua(tmp_path) as (rig, server):
        for user in (None, "olga"):
            plain = Client(server.endpoint, timeout=5)
            if user:
                plain.set_user(user)
                plain.set_password(PASSWORDS[user])
            with pytest.raises(ua.uaerrors.BadSecurityModeInsufficient):
                await plain.connect()
            plain.disconnect_socket()
        rows = await _login_rows(rig.controller.store)
        assert {(r["actor"], r["result"]) for r in rows} == {
            ("opcua:-", "refused: session on an unsecured (None) channel")
        }
        assert server.users.password_checks == 0


async def test_a_password_in_plain_text_is_refused_unchecked_and_audited(tmp_path, caplog):
    """With the anonymous None endpoint on: anonymous reads there, but a password sent in clear
    (on the None channel, or in a plain token on a Sign channel) is refused before any check,
    and audited."""
    caplog.set_level(logging.WARNING)
    async with cell_with_opcua(tmp_path, edit=_opcua(none_endpoint=True)) as (rig, server):
        endpoints = await _endpoints(server.endpoint)
        (none,) = [e for e in endpoints if e.SecurityMode == ua.MessageSecurityMode.None_]
        assert [t.TokenType for t in none.UserIdentityTokens] == [ua.UserTokenType.Anonymous]
        reader = Client(server.endpoint, timeout=5)
        await reader.connect()
        try:
            ns = await cell_namespace(reader)
            assert (await read_cell(reader, ns))["State"]
            assert (await call_method(reader, ns, "Start")).status == "BadUserAccessDenied"
        finally:
            await reader.disconnect()

        plain = Client(server.endpoint, timeout=5)
        plain.set_user("olga")
        plain.set_password(PASSWORDS["olga"])  # the right one: it is still refused
        with pytest.raises(ua.uaerrors.BadSecurityModeInsufficient):
            await plain.connect()
        plain.disconnect_socket()

        careless = _PlainTokenClient(server.endpoint, timeout=5)
        await secured(careless, ua.MessageSecurityMode.Sign)
        careless.set_user("erik")
        careless.set_password(PASSWORDS["erik"])
        with pytest.raises(ua.uaerrors.BadSecurityModeInsufficient):
            await careless.connect()
        careless.disconnect_socket()

        rows = await _login_rows(rig.controller.store, 2)
        assert sorted((r["actor"], r["result"]) for r in rows) == [
            ("opcua:erik", "refused: password on an unencrypted channel, not checked"),
            ("opcua:olga", "refused: password on an unencrypted channel, not checked"),
        ]
        assert server.users.password_checks == 0
    assert PLAINTEXT_WARNING not in caplog.text


async def test_the_hmi_client_pins_the_certificate_and_refuses_a_changed_one(tmp_path, caplog):
    """Trust on first use: the first connection pins the cell's certificate, the next ones
    match it silently; another certificate at the same endpoint (another machine posing as the
    cell) is refused before a password is sent, with a warning naming the pins file. The
    controller without a certificate in config makes one on its first start, and keeps it."""
    caplog.set_level(logging.WARNING)
    trust = ClientTrust(tmp_path / "hmi")
    async with cell_with_opcua(tmp_path) as (rig, server):
        endpoint = server.endpoint
        for _ in range(2):
            client = Client(endpoint, timeout=5)
            await connect_secure(client, trust, "olga", PASSWORDS["olga"])
            try:
                answer = await call_method(client, await cell_namespace(client), "WhoAmI")
                assert answer.message == "olga operator"
            finally:
                await client.disconnect()
        pinned = ServerPins(trust.folder / "known_servers.json").pinned(endpoint)
        assert pinned == server.certificate_fingerprint
        assert caplog.text.count("on first use") == 1
        await server.stop()

        made_dir = tmp_path / "made"
        settings = server.settings.model_copy(
            update={"certificate": None, "private_key": None, "certificate_dir": str(made_dir)}
        )
        impostor = CellOpcUaServer(
            rig.controller, rig.controller.store, rig.controller.config, settings
        )
        await impostor.start()
        try:
            assert (made_dir / "cell-certificate.der").is_file()
            assert impostor.certificate_fingerprint != pinned
            client = Client(endpoint, timeout=5)
            with pytest.raises(CertificateChanged) as refused:
                await connect_secure(client, trust, "olga", PASSWORDS["olga"])
            client.disconnect_socket()
            assert str(trust.folder / "known_servers.json") in str(refused.value)
            assert refused.value.pinned == pinned
            # Nothing reached the impostor's login: no password check, no session.
            assert impostor.users.password_checks == 0
            assert ServerPins(trust.folder / "known_servers.json").pinned(endpoint) == pinned
        finally:
            await impostor.stop()
        # Made once, then kept: the next start finds the pair and serves it again.
        made = (made_dir / "cell-certificate.der").read_bytes()
        kept = impostor.certificate()
        assert not kept.made
        assert kept.certificate.read_bytes() == made


async def test_with_trusted_clients_an_untrusted_client_certificate_is_refused_and_audited(
    tmp_path,
):
    trusted = tmp_path / "trusted"
    trusted.mkdir()
    (trusted / "tests.der").write_bytes(client_trust().identity()[0].read_bytes())
    edit = _opcua(trusted_clients=str(trusted))
    async with cell_with_opcua(tmp_path, edit=edit) as (rig, server):
        async with client_as(server.endpoint, "olga") as olga:  # the trusted certificate
            assert (await call_method(olga, await cell_namespace(olga), "WhoAmI")).ok
        stranger = ClientTrust(tmp_path / "stranger", name="stranger")
        client = Client(server.endpoint, timeout=5)
        client.set_user("olga")
        client.set_password(PASSWORDS["olga"])
        await secure(client, stranger, rig_certificate()[0].read_bytes())
        with pytest.raises(ua.uaerrors.BadCertificateUntrusted):
            await client.connect()
        client.disconnect_socket()
        (row,) = await _login_rows(rig.controller.store)
        assert row["actor"] == "opcua:-"
        assert row["result"].startswith("refused: client certificate not trusted (SHA-256 ")
        assert server.users.password_checks == 1, "olga's once; the stranger's never"
        # Added to the folder, the stranger is trusted at its next session: no restart.
        (trusted / "stranger.der").write_bytes(stranger.identity()[0].read_bytes())
        client = Client(server.endpoint, timeout=5)
        await secure(client, stranger, rig_certificate()[0].read_bytes())
        await client.connect()
        await client.disconnect()


def test_cellctl_certs_makes_the_cells_certificate_where_the_controller_looks(
    tmp_path, repo, capsys
):
    """`cellctl certs` writes the pair into opcua.certificate_dir with the cell's application
    URI and host names; keeps an existing one unless --force; --client makes a client's."""
    from cryptography import x509

    from cellctl.cli.main import main
    from cellctl.plant.opcua.certs import fingerprint

    shutil.copytree(repo / "config", tmp_path / "config", ignore=shutil.ignore_patterns("scen*"))
    config = str(tmp_path / "config" / "cell.yaml")
    assert main(["certs", "--config", config, "--host", "cell-01.plant.example"]) == 0
    printed = capsys.readouterr().out
    made = tmp_path / "var" / "opcua" / "cell-certificate.der"
    assert (made.parent / "cell-private-key.pem").stat().st_mode & 0o077 == 0, "owner only"
    der = made.read_bytes()
    assert fingerprint(der) in printed
    names = x509.load_der_x509_certificate(der).extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    )
    assert names.value.get_values_for_type(x509.UniformResourceIdentifier) == [
        "urn:cellctl:cell-01"
    ]
    assert "cell-01.plant.example" in names.value.get_values_for_type(x509.DNSName)
    assert main(["certs", "--config", config]) == 1, "kept"
    assert "exists" in capsys.readouterr().err
    assert made.read_bytes() == der
    assert main(["certs", "--config", config, "--force"]) == 0
    assert made.read_bytes() != der
    out = tmp_path / "clients"
    assert main(["certs", "--client", "uaread", "--out", str(out)]) == 0
    assert (out / "uaread-certificate.der").is_file()
    assert (out / "uaread-private-key.pem").is_file()
