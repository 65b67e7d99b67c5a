"""Which asyncio event loop a worker runs: uvloop (libuv, in C) when installed, else asyncio's.

The forwarder's per-request Python is small enough that asyncio's own loop and transports,
written in Python, are a large share of a keep-alive request; uvloop runs the same protocols
with its loop and transports in C. It is optional (the ``edge-fast`` extra): ``auto`` uses it
when it imports and falls back to asyncio's loop silently; ``uvloop`` insists (start-up fails
without it); ``asyncio`` never uses it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from enum import Enum
from typing import Any


class EventLoop(Enum):
    AUTO = "auto"
    ASYNCIO = "asyncio"
    UVLOOP = "uvloop"


def uvloop_installed() -> bool:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True


def resolve(choice: EventLoop) -> EventLoop:
    """The loop that will run: ``auto`` becomes ``uvloop`` or ``asyncio``."""
    if choice is EventLoop.AUTO:
        return EventLoop.UVLOOP if uvloop_installed() else EventLoop.ASYNCIO
    return choice


def _factory(choice: EventLoop) -> Callable[[], asyncio.AbstractEventLoop] | None:
    if resolve(choice) is EventLoop.UVLOOP:
        import uvloop

        return uvloop.new_event_loop
    return None  # asyncio's default loop


def run(main: Coroutine[Any, Any, int], choice: EventLoop) -> int:
    """``asyncio.run`` on the chosen loop."""
    with asyncio.Runner(loop_factory=_factory(choice)) as runner:
        return runner.run(main)
