"""``cellctl certs``: make the cell's OPC UA application certificate, or a client's.

``cellctl certs [--config PATH]`` makes the self-signed certificate and private key the
controller serves OPC UA with (``cellctl.plant.opcua.certs``), where the controller looks for
them: ``opcua.certificate`` and ``opcua.private_key`` when the config names them, else
``opcua.certificate_dir``. An existing pair is kept unless ``--force`` (every client that pinned
the old certificate then refuses the new one until its pin is removed). The application URI is
``urn:cellctl:<cell name>``; the host names are the endpoint's host, this machine's name,
localhost and each ``--host``.

``cellctl certs --client NAME --out DIR`` makes a client's certificate and key instead (for a
third-party client such as asyncua's ``uaread``, whose application URI ``--uri`` gives; the HMI
makes its own).

Prints the files and the certificate's SHA-256 fingerprint (compare it with what a client shows
on first use).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

EXIT_OK = 0
EXIT_FAILED = 1


def add_parser(commands: Any) -> None:
    certs = commands.add_parser(
        "certs", help="make the cell's OPC UA certificate and key (or a client's)"
    )
    certs.add_argument("--config", default="config/cell.yaml", help="the cell config")
    certs.add_argument(
        "--host",
        action="append",
        default=[],
        help="another host name or address clients reach the cell by (repeatable)",
    )
    certs.add_argument("--force", action="store_true", help="replace an existing pair")
    certs.add_argument(
        "--client", metavar="NAME", help="make a client's certificate (for --out), not the cell's"
    )
    certs.add_argument("--out", metavar="DIR", help="the folder of a --client certificate")
    certs.add_argument(
        "--uri",
        help="a --client's application URI (default urn:cellctl:client:NAME; asyncua's "
        "command-line tools say urn:example.org:FreeOpcUa:opcua-asyncio)",
    )
    certs.set_defaults(handler=run_certs)


def run_certs(args: argparse.Namespace) -> int:
    from cellctl.config import ConfigInvalid, load_cell_config
    from cellctl.plant.opcua import certs

    if args.client:
        if not args.out:
            print("cellctl certs: --client needs --out DIR", file=sys.stderr)
            return EXIT_FAILED
        folder = Path(args.out)
        certificate = folder / f"{args.client}-certificate.der"
        private_key = folder / f"{args.client}-private-key.pem"
        uri = args.uri or certs.client_application_uri(args.client)
        hosts = certs.host_names("", tuple(args.host))
        server = False
    else:
        try:
            config = load_cell_config(Path(args.config))
        except ConfigInvalid as invalid:
            print(invalid, file=sys.stderr)
            return EXIT_FAILED
        opcua = config.cell.opcua
        if opcua.certificate is not None and opcua.private_key is not None:
            certificate = config.resolve(opcua.certificate)
            private_key = config.resolve(opcua.private_key)
        else:
            folder = config.resolve(opcua.certificate_dir)
            certificate = folder / certs.CERTIFICATE_FILE
            private_key = folder / certs.PRIVATE_KEY_FILE
        uri = certs.application_uri(config.cell.cell.name)
        hosts = certs.host_names(opcua.endpoint, tuple(args.host))
        server = True
    if (certificate.exists() or private_key.exists()) and not args.force:
        print(
            f"cellctl certs: {certificate} or {private_key} exists; keeping it (--force "
            "replaces it, and every client that pinned it will refuse the new one)",
            file=sys.stderr,
        )
        return EXIT_FAILED
    shown = certs.make_certificate(certificate, private_key, uri, hosts, server=server)
    print(f"certificate  {certificate}")
    print(f"private key  {private_key}")
    print(f"application  {uri}")
    print(f"hosts        {', '.join(hosts)}")
    print(f"SHA-256      {shown}")
    return EXIT_OK
