"""Tallies printed at the end of a run (x509-limbo, the corpus), wherever the tests ran.

A suite's conftest registers a function that turns its module-level counters into lines.
In a plain run the terminal summary calls them; under pytest-xdist each worker calls them
when its session ends and sends the lines to the controller (``workeroutput``), which
prints what every worker sent.
"""

from __future__ import annotations

from collections.abc import Callable

PRODUCERS: list[Callable[[], list[str]]] = []
KEY = "originverify_summary"


def register(producer: Callable[[], list[str]]) -> None:
    if producer not in PRODUCERS:
        PRODUCERS.append(producer)


def local_lines() -> list[str]:
    return [line for producer in PRODUCERS for line in producer()]
