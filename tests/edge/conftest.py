"""Fixtures for the edge forwarder tests (helpers live in ``edgekit``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.edge.edgekit import EdgeProcess, Origin, Pki, build_pki, edge_args, origin

__all__ = ["origin"]

# Short limits so timeout behaviour is observable in a fast suite.
FAST_LIMITS = (
    "--handshake-timeout",
    "2",
    "--header-timeout",
    "1",
    "--idle-timeout",
    "5",
    "--upstream-read-timeout",
    "1.5",
    "--upstream-connect-timeout",
    "2",
)

StartEdge = Callable[..., EdgeProcess]


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return build_pki(Path(tmp_path_factory.mktemp("edge-pki")))


@pytest.fixture(scope="session")
def start_edge(pki: Pki, origin: Origin) -> Iterator[StartEdge]:
    """Start a forwarder process in front of the test origin; stopped at the end."""
    started: list[EdgeProcess] = []

    def start(
        *extra: str, env: dict[str, str] | None = None, upstream: str | None = None
    ) -> EdgeProcess:
        # asyncio's own loop unless a test picks one: it is what every install has;
        # test_edge_event_loop.py runs the loop-sensitive behaviours on uvloop too.
        loop = () if "--event-loop" in extra else ("--event-loop", "asyncio")
        args = edge_args(pki, upstream or origin.url, *FAST_LIMITS, *loop, *extra)
        edge = EdgeProcess(args, env=env)
        started.append(edge)
        return edge

    yield start
    for edge in started:
        edge.stop()


@pytest.fixture(scope="session")
def passthrough(start_edge: StartEdge) -> EdgeProcess:
    """The default configuration: passthrough mode, CloudFront passthrough headers."""
    return start_edge()


@pytest.fixture(autouse=True)
def _fresh_origin_state(origin: Origin) -> None:
    origin.state.reset()
