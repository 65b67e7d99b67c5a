"""atheris fuzz targets: one per edge format preset, one for the whole ``verify_request``.

Each target turns the fuzzer's bytes into request headers and asserts the only exception
that ever escapes is ``VerificationError`` (anything else would be a 500 at the origin).
Run them with ``python fuzz/run.py`` (see there); a crash found becomes a regression test.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import atheris

with atheris.instrument_imports():
    from originverify import (
        EdgeSecret,
        HeaderList,
        Limits,
        VerificationError,
        Verifier,
        formats,
    )
    from originverify.devpki import CertificateAuthority

LIMITS = Limits()
SECRET = "fuzz-secret-0123456789abcdef"


def headers_from(data: bytes, names: tuple[str, ...]) -> HeaderList:
    """Up to six field lines; names mostly from the format (so the decoders are reached)."""
    fdp = atheris.FuzzedDataProvider(data)
    pairs: list[tuple[str, str]] = []
    for _ in range(fdp.ConsumeIntInRange(0, 6)):
        choice = fdp.ConsumeIntInRange(0, len(names) + 1)
        if choice < len(names):
            name = names[choice]
        elif choice == len(names):
            name = names[fdp.ConsumeIntInRange(0, len(names) - 1)].replace("-", "_")
        else:
            name = fdp.ConsumeUnicodeNoSurrogates(12) or "x"
        pairs.append((name, fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 4096))))
    return HeaderList(pairs)


def decoder_target(name: str) -> Callable[[bytes], None]:
    fmt = formats.PRESETS[name]
    names = tuple(fmt.header_names)

    def target(data: bytes) -> None:
        try:
            fmt.decode(headers_from(data, names), LIMITS)
        except VerificationError:
            pass

    return target


def verify_target() -> Callable[[bytes], None]:
    ca = CertificateAuthority.root_ca("fuzz root")
    verifier = Verifier(trust=ca.pem, source=EdgeSecret(secrets=[SECRET]), mode="optional")
    names = tuple(verifier.format.header_names)

    def target(data: bytes) -> None:
        headers = headers_from(data, names)
        try:
            verifier.verify_request([("X-Origin-Verify", SECRET), *headers.items()])
        except VerificationError:
            pass

    return target


def target_for(name: str) -> Callable[[bytes], None]:
    return verify_target() if name == "verify_request" else decoder_target(name)


TARGETS = ("verify_request", *sorted(formats.PRESETS))

if __name__ == "__main__":
    which = sys.argv.pop(1)
    atheris.Setup(sys.argv, target_for(which))
    atheris.Fuzz()
