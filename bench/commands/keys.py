"""``meterbench keys init``: make a self-signed RSA signing identity for demos and tests.

The key is stored in a passphrase-protected PKCS#12 file (passphrase from ``MB_SIGNING_PASSPHRASE`` or a
prompt, never stored); the public certificate is written beside it so verifiers can be given it as a trust
root. A real shop uses an identity issued by its certificate authority instead.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from reports.signing_paths import ENV_PASSPHRASE, default_signing_dir, get_passphrase

ORDER = 80


def register(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "keys",
        help="manage the certificate-signing identity",
        description="Manage the identity used to sign certificates (PAdES).",
    )
    sub = parser.add_subparsers(dest="keys_command", metavar="ACTION")
    init = sub.add_parser(
        "init",
        help="create a self-signed demo signing identity",
        description=f"Create a self-signed RSA signing identity for demos and tests. The passphrase is read "
        f"from {ENV_PASSPHRASE} or asked for; it is never stored.",
    )
    init.add_argument(
        "--dir", type=Path, default=None, help=f"where to put it (default: {default_signing_dir()})"
    )
    init.add_argument("--name", default="MeterBench Demonstration Signer", help="signer's common name")
    init.set_defaults(func=run)
    parser.set_defaults(func=_help(parser))
    return parser


def _help(parser: argparse.ArgumentParser):
    def show(args) -> int:
        parser.print_help()
        return 2

    return show


def run(args) -> int:
    from reports.signing import make_demo_identity

    directory = args.dir or default_signing_dir()
    passphrase = get_passphrase(confirm=True, source="new signing identity")
    ident = make_demo_identity(directory, args.name, passphrase=passphrase)
    print(f"Signing identity created for {ident.subject}")
    print(f"  key and certificate (PKCS#12, passphrase-protected): {ident.p12_path}")
    print(f"  certificate to give verifiers as a trust root:        {ident.cert_path}")
    print(
        "This identity is self-signed: certificates signed with it verify as trusted only where its "
        "certificate is passed as a trust root."
    )
    return 0
