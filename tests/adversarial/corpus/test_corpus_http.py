"""A representative slice of the corpus through every adapter over real HTTP: the WSGI
middleware and Flask under gunicorn, the ASGI middleware (Starlette) under uvicorn, Django
under gunicorn and uvicorn. The servers are the test kits' own apps (tests/asgi_wsgi,
tests/flask, tests/django) trusting the corpus PKI's root, in required mode.

Asserted per request: never a 500; a refusal is 400 or 403 with the generic body of its
status (no detail, no reason code); and the status is the one the same verifier gives
in-process, so the adapters add nothing and lose nothing.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from dj_helpers import Server as DjangoServer
from dj_helpers import manage, send
from dj_helpers import server_env as django_env
from ovkit import free_port, gunicorn_argv, start_server, stop_server, uvicorn_argv

from originverify import Reason, VerificationError
from originverify.devpki import cert_pem
from tests.adversarial.corpus.harness import (
    ACCEPTED,
    SECRET,
    placements,
    request_headers,
    run,
    subset,
    verifier,
)
from tests.adversarial.corpus.items import Item, MutantPki
from tests.adversarial.corpus.test_corpus_inprocess import REPRODUCERS, UNDECODABLE_SUBJECTS

pytestmark = pytest.mark.e2e

ADAPTERS = ("wsgi-gunicorn", "asgi-uvicorn", "flask-gunicorn", "django-gunicorn", "django-uvicorn")
#: The path each app protects in required mode.
PATHS = {"django-gunicorn": "/whoami", "django-uvicorn": "/whoami"}
BODIES = {
    status: VerificationError(reason).response_body(as_json=False)[1]
    for status, reason in ((400, Reason.MALFORMED_CERTIFICATE), (403, Reason.UNTRUSTED_CHAIN))
}
SUMMARY: dict[str, Counter[str]] = {}


def http_items(corpus: list[Item]) -> list[Item]:
    """About 80 items: one in six of the slow-path slice, plus every known crash site's
    reproducer (the crash sites are what an adapter must survive)."""
    named = {reproducer[0] for reproducer in REPRODUCERS.values()}
    named |= {f"mutant:leaf:{m}:resigned" for m in UNDECODABLE_SUBJECTS[:2]}
    sliced = subset(corpus, 40)
    return [i for n, i in enumerate(sliced) if n % 6 == 0 or i.name in named]


@pytest.fixture(scope="module")
def live(
    mutant_pki: MutantPki, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[str], int]]:
    """``live(adapter)`` → the port of that adapter's server, started on first use."""
    base = tmp_path_factory.mktemp("corpus-http")
    anchors = base / "anchors.pem"
    anchors.write_bytes(cert_pem(mutant_pki.root.cert))
    env = {"OV_TEST_ANCHORS": str(anchors), "OV_TEST_SECRET": SECRET}
    stops: list[Callable[[], None]] = []
    ports: dict[str, int] = {}

    def get(adapter: str) -> int:
        if adapter not in ports:
            ports[adapter] = _start(adapter, env, base, stops)
        return ports[adapter]

    try:
        yield get
    finally:
        for stop in stops:
            stop()


def _start(adapter: str, env: dict[str, str], base: Path, stops: list[Callable[[], None]]) -> int:
    log = base / f"{adapter}.log"
    if adapter.startswith("django"):
        denv = django_env(**env, OV_TEST_DB=str(base / "db.sqlite3"))
        if not (base / "db.sqlite3").exists():
            manage(denv, "migrate", "--run-syncdb", "--verbosity", "0")
        server = DjangoServer(adapter.split("-")[1], denv, log)
        stops.append(server.stop)
        server.wait_ready()
        return server.port
    port = free_port()
    argv = {
        "wsgi-gunicorn": gunicorn_argv("ov_wsgi_app:create_app()", port),
        "asgi-uvicorn": uvicorn_argv("ov_asgi_app:create_app", port, "--factory"),
        "flask-gunicorn": gunicorn_argv("ov_flask_app:create_server_app()", port),
    }[adapter]
    running = start_server(argv, port, env, log)
    stops.append(lambda: stop_server(running))
    return port


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_corpus_over_http(
    adapter: str, corpus: list[Item], mutant_pki: MutantPki, live: Callable[[str], int]
) -> None:
    port = live(adapter)
    in_process = verifier("cloudfront-passthrough", cert_pem(mutant_pki.root.cert))
    statuses: Counter[str] = Counter()
    problems = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for item in http_items(corpus):
            position, leaf, chain = placements(item, mutant_pki)[0]
            headers = request_headers("cloudfront-passthrough", leaf, chain)
            reply = send(port, PATHS.get(adapter, "/whoami"), headers)
            statuses[str(reply.status)] += 1
            verdict = run(in_process, headers)
            label = f"{position}:{item.name}"
            want = 200 if verdict.outcome == ACCEPTED else Reason(verdict.outcome).http_status
            if reply.status != want:
                problems.append(f"{label}: HTTP {reply.status}, in-process {verdict.outcome}")
            elif reply.status != 200 and reply.body != BODIES[reply.status]:
                problems.append(f"{label}: body {reply.body[:80]!r}")
    SUMMARY[adapter] = statuses
    assert not problems, "\n".join(problems[:20])
    assert statuses["500"] == 0
    assert statuses["400"] > 10 and statuses["403"] > 10


@pytest.mark.parametrize("adapter", ["wsgi-gunicorn", "django-gunicorn"])
def test_undecodable_subject_is_not_a_500(
    adapter: str, corpus: list[Item], mutant_pki: MutantPki, live: Callable[[str], int]
) -> None:
    """A leaf our CA signed with invalid UTF-8 in its CN: the view reads ``common_name``
    (it answered 500 before undecodable leaf names were refused as malformed)."""
    item = next(i for i in corpus if i.name == "mutant:leaf:cn-invalid-utf8-0:resigned")
    _, leaf, chain = placements(item, mutant_pki)[0]
    reply = send(live(adapter), "/whoami", request_headers("cloudfront-passthrough", leaf, chain))
    assert reply.status != 500


@pytest.mark.parametrize("adapter", ["wsgi-gunicorn", "asgi-uvicorn", "flask-gunicorn"])
def test_corpus_over_http_report_only(
    adapter: str, corpus: list[Item], mutant_pki: MutantPki, live: Callable[[str], int]
) -> None:
    """Report-only mode: every item is judged and logged, none refused, none a 500."""
    port = live(adapter)
    statuses: Counter[str] = Counter()
    unexpected = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for item in http_items(corpus):
            _, leaf, chain = placements(item, mutant_pki)[0]
            headers = request_headers("cloudfront-passthrough", leaf, chain)
            reply = send(port, "/report/whoami", headers)
            statuses[str(reply.status)] += 1
            if reply.status != 200:
                unexpected.append(f"{item.name}: HTTP {reply.status}")
    SUMMARY[f"{adapter} report-only"] = statuses
    assert not unexpected, "\n".join(unexpected[:20])
