"""Waiting on a connection with a deadline, without a timer per wait.

Both sides of the proxy are plain ``asyncio.Protocol`` objects driven by one handler task per
client connection. The task waits on a protocol (data arrived, the write buffer drained) with
``await protocol.wait()``; the protocol wakes it from its callbacks.

Timeouts are per connection deadlines, not ``asyncio.timeout`` scopes: the handler sets
``protocol.deadline`` (an absolute ``loop.time()``) and one timer per protocol is armed lazily.
Moving a deadline further out costs an attribute store; the timer only fires (and re-arms
itself at the current deadline) once per timeout period, or fails the pending wait with
``TimeoutError`` when the deadline really passed. This is how nginx keeps timers cheap, and it
takes two ``asyncio.timeout`` scopes and their timer-heap operations off every request.
"""

from __future__ import annotations

import asyncio

# A timer may fire up to the loop's clock resolution early; anything this close counts.
_SLACK = 0.001


class Waitable(asyncio.Protocol):
    """A protocol the handler task can wait on, with an optional deadline."""

    loop: asyncio.AbstractEventLoop
    deadline: float | None
    _waiter: asyncio.Future[None] | None
    _timer: asyncio.TimerHandle | None
    _timer_at: float

    def _init_waiting(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.deadline = None
        self._waiter = None
        self._timer = None
        self._timer_at = 0.0

    def wait(self) -> asyncio.Future[None]:
        """A future to await: done on ``_wake`` (data, drain, close), or failed with
        ``TimeoutError`` once ``deadline`` passed (raised at once if it already has).

        Wake-ups may be spurious: callers re-check their condition in a loop. (A plain function
        returning the future, not a coroutine: one frame less on every wait.)
        """
        deadline = self.deadline
        if deadline is not None:
            if deadline <= self.loop.time() + _SLACK:
                raise TimeoutError
            if self._timer is None or self._timer_at > deadline + _SLACK:
                self._arm(deadline)
        waiter = self._waiter = self.loop.create_future()
        return waiter

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():  # it may have been cancelled with its task
                waiter.set_result(None)

    def _arm(self, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = when
        self._timer = self.loop.call_at(when, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        waiter = self._waiter
        if waiter is None or waiter.done() or self.deadline is None:
            return  # not waiting: the next wait arms the timer again
        if self.deadline <= self.loop.time() + _SLACK:
            self._waiter = None
            waiter.set_exception(TimeoutError())
        else:
            self._arm(self.deadline)  # the deadline moved on since the timer was set

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
