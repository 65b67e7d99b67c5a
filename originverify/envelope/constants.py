"""Names and limits both sides of the envelope share."""

from __future__ import annotations

#: The ``Signature`` / ``Signature-Input`` dictionary member the edge writes.
LABEL = "originverify"
#: Signed application tag (the label is not signed): a signature made with the same key for
#: another purpose cannot pass as an edge envelope.
TAG = "originverify"
#: Derived components every envelope covers. Not ``@target-uri``: the scheme the client used
#: (https) differs from the one the origin sees behind the forwarder (http).
REQUIRED_COMPONENTS: tuple[str, ...] = ("@method", "@authority", "@path", "@query")
ED25519 = "ed25519"
HMAC_SHA256 = "hmac-sha256"
SIGNATURE_HEADERS: tuple[str, ...] = ("signature", "signature-input")
#: The edge secret header is signed too when the forwarder sets it.
DEFAULT_EXTRA_HEADERS: tuple[str, ...] = ("x-origin-verify",)
#: Kept for compatibility: the envelope needs nothing beyond the core since 0.2.
INSTALL_HINT = "pip install originverify"

SIGNATURE_BYTES = {ED25519: 64, HMAC_SHA256: 32}
MAX_INPUT_BYTES = 4096
MAX_SIGNATURE_BYTES = 512
MAX_COMPONENTS = 32
MAX_NONCE = 128
