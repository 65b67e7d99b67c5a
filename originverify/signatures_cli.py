"""``originverify keygen``: create the edge's signing key and print both sides' configuration.

Kept apart from ``cli.py`` so the main command line only wires it in; the work is done by
``signatures.keygen``.
"""

from __future__ import annotations

import argparse
import sys

from .envelope import ED25519, HMAC_SHA256, default_key_id, keygen
from .errors import ConfigurationError


def configure_keygen_parser(parser: argparse.ArgumentParser) -> None:
    """Add the ``keygen`` options to ``parser`` (a subcommand parser)."""
    parser.description = (
        "Create a key for signed edge envelopes (RFC 9421): an Ed25519 key pair by default "
        "(private key for the edge, public key for the origin), or a shared HMAC-SHA256 "
        "secret with --hmac. Prints the configuration of both sides."
    )
    parser.add_argument(
        "--key-id",
        default=None,
        help=f"key id written into every signature (default: {default_key_id()})",
    )
    parser.add_argument(
        "--out-dir", default=".", help="directory for the key files (default: current)"
    )
    parser.add_argument(
        "--hmac",
        action="store_true",
        help="create a shared HMAC-SHA256 secret instead of an Ed25519 key pair",
    )
    parser.add_argument("--force", action="store_true", help="overwrite existing key files")


def run_keygen(args: argparse.Namespace) -> int:
    """Write the key files and print what goes where; 2 on a configuration or file error."""
    try:
        generated = keygen(
            args.out_dir,
            args.key_id,
            algorithm=HMAC_SHA256 if args.hmac else ED25519,
            overwrite=args.force,
        )
    except (ConfigurationError, OSError) as exc:
        print(f"originverify keygen: {exc}", file=sys.stderr)
        return 2
    if generated.algorithm == ED25519:
        print(f"wrote {generated.signing_key} (private, 0600: the edge only)")
        print(f"wrote {generated.verification_key} (public: the origin)")
    else:
        print(f"wrote {generated.signing_key} (shared secret, 0600: edge and origin)")
    print()
    print(generated.origin_config, end="")
    return 0
