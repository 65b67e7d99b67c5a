"""Hypothesis over the whole request path: mutated valid requests through every preset
never yield anything but a verdict or the library's own error."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from originverify import EdgeSecret, VerificationError, Verifier
from originverify.devpki import CertificateAuthority
from tests.formats.edgewire import ENCODERS, client

SECRET = "property-secret-0123456789"
CA = CertificateAuthority.root_ca("property root")
VERIFIERS = {
    name: Verifier(trust=CA.pem, source=EdgeSecret(secrets=[SECRET]), format=name, mode="optional")
    for name in sorted(ENCODERS)
}


def mutate(value: str, data: st.DataObject) -> str:
    if not value:
        return data.draw(st.text(max_size=20))
    start = data.draw(st.integers(0, len(value) - 1))
    end = data.draw(st.integers(start, min(len(value), start + 8)))
    return value[:start] + data.draw(st.text(max_size=6)) + value[end:]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(sorted(ENCODERS)), data=st.data())
def test_mutated_requests_only_raise_our_error(name: str, data: st.DataObject) -> None:
    c = client()
    pairs = list(ENCODERS[name](c.leaf, list(c.chain)))
    index = data.draw(st.integers(0, len(pairs) - 1))
    key, value = pairs[index]
    pairs[index] = (
        data.draw(st.sampled_from([key, key.upper(), key.replace("-", "_")])),
        mutate(value, data),
    )
    if data.draw(st.booleans()):
        pairs.append(pairs[data.draw(st.integers(0, len(pairs) - 1))])
    verifier = VERIFIERS[name]
    try:
        identity = verifier.verify_request([("X-Origin-Verify", SECRET), *pairs])
    except VerificationError as exc:
        assert exc.http_status in (400, 401, 403)
    else:
        # The CA above signed nothing the encoder used: nothing may verify.
        assert identity is None
