"""Stop signals (SIGINT, SIGTERM, SIGHUP): while a simulation runs they stop it like Ctrl-C; while results are
written they are held back, so a folder is never left half-written.

`deferring()` (the command line, around a whole run and its writing) records stop signals
instead of acting on them; `raising()` (the runner, around the simulation only) turns each into
`Interrupted`, which is a KeyboardInterrupt so that every `except KeyboardInterrupt` treats
SIGTERM and SIGHUP as it treats Ctrl-C and no `except Exception` swallows them. Both restore the
handlers they replaced. Outside the main thread Python cannot install handlers, so both then do
nothing.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Callable, Iterator

STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))

_received: list[int] = []  # stop signals held back by the current `deferring()`, in arrival order
_depth = [0]  # how many `deferring()` blocks are open


class Interrupted(KeyboardInterrupt):
    """A stop signal that arrived while a simulation ran."""

    def __init__(self, signum: int):
        super().__init__(signal_name(signum))
        self.signum = signum


def signal_name(signum: int) -> str:
    """'SIGTERM' for 15."""
    return signal.Signals(signum).name


def exit_code(signum: int) -> int:
    """The shell's status for a process stopped by `signum`: 128 + its number (130 SIGINT, 143 SIGTERM, 129 SIGHUP)."""
    return 128 + signum


def signal_of(exc: BaseException) -> int:
    """The signal behind an interruption; a bare KeyboardInterrupt is Ctrl-C, SIGINT."""
    return getattr(exc, "signum", signal.SIGINT)


def received() -> int | None:
    """The first stop signal recorded since `deferring()` began, or None."""
    return _received[0] if _received else None


@contextmanager
def _handlers(handler: Callable) -> Iterator[None]:
    """Install `handler` for every stop signal and restore the previous ones after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, handler) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, old in previous.items():
            if old is not None:  # None: a handler set outside Python, which cannot be put back from here
                signal.signal(signum, old)


@contextmanager
def deferring() -> Iterator[None]:
    """Record stop signals instead of acting on them; `received()` tells the first one until the block ends."""
    if not _depth[0]:
        _received.clear()
    _depth[0] += 1
    try:
        with _handlers(lambda signum, frame: _received.append(signum)):
            yield
    finally:
        _depth[0] -= 1
        if not _depth[0]:
            _received.clear()


@contextmanager
def raising(held: bool = True) -> Iterator[None]:
    """Raise Interrupted for a stop signal; inside `deferring()`, also at once for one held back before this
    began, unless `held` is False (a stop being carried out, that a further signal should cut short)."""
    def stop(signum, frame):
        if _depth[0]:
            _received.append(signum)
        raise Interrupted(signum)

    with _handlers(stop):
        if held and _depth[0] and _received:
            raise Interrupted(_received[0])
        yield


@contextmanager
def atomic() -> Iterator[None]:
    """A step that must not stop half done (a chunk of the compiled engine's replay, whose weights
    and op count must agree): a stop signal that arrives during it is raised as `Interrupted`
    once the step is over, as `raising()` would have raised it."""
    arrived: list[int] = []
    with _handlers(lambda signum, frame: arrived.append(signum)):
        yield
    if arrived:
        if _depth[0]:
            _received.append(arrived[0])
        raise Interrupted(arrived[0])
