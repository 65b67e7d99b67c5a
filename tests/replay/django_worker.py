"""One origin process for the Django replay test: Django configured with the Redis cache
backend, ``SignedEnvelope`` with ``DjangoCacheReplayStore``. Reads a JSON list of requests
(header pairs) on stdin, checks each in order and prints one JSON line per request: the reason
code of a refusal, or "ok"."""

from __future__ import annotations

import json
import sys

import django
from django.conf import settings


def main() -> None:
    redis_url, key_spec, key_id = sys.argv[1:4]
    settings.configure(
        CACHES={
            "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
            "replay": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": redis_url,
                "OPTIONS": {"socket_timeout": 0.5, "socket_connect_timeout": 0.5},
            },
        }
    )
    django.setup()
    from originverify import VerificationError
    from originverify.envelope import from_settings
    from originverify.headers import HeaderList
    from originverify.source import RequestContext

    envelope = from_settings(
        {
            "signature_keys": {key_id: key_spec},
            "signature_replay_store": "django",
            "signature_replay_cache": "replay",
        }
    )
    assert envelope is not None
    envelope.bind(("client-cert",))
    for line in sys.stdin:
        request = json.loads(line)
        context = RequestContext(
            HeaderList([tuple(p) for p in request["pairs"]]),
            method="GET",
            target=request["target"],
            authority=request["authority"],
        )
        try:
            envelope.check(context)
            print("ok", flush=True)
        except VerificationError as exc:
            print(exc.reason.value, flush=True)


if __name__ == "__main__":
    main()
