"""The Dask cluster that `wafersim sweep` and `wafersim compare` run their tasks on: an embedded
`LocalCluster` sized to the machine, or an existing cluster reached through its scheduler.

`connect` gives a client (and the embedded cluster it started, if any); `close` cancels what
must not go on and shuts both down. A task is one training run; the workers are processes,
so runs use every core and a worker lost mid-run has its task retried elsewhere.
"""

from __future__ import annotations

import logging
import os

from . import signals

# Without a dashboard the scheduler still serves its health pages, by default on port 8787: a second
# cluster already there would make it warn and move. A free local port never clashes.
QUIET_SCHEDULER = {"dashboard_address": "127.0.0.1:0"}
RETRIES = 2  # a task whose worker died is tried this many times more before it counts as failed
CONNECT_SECONDS = 10  # how long to try reaching a scheduler given by address


class ClusterError(Exception):
    """The cluster asked for cannot be used (no scheduler answers at the address)."""


def _prepare_worker() -> None:
    """In a worker of the embedded cluster, before any task: a thread lock for tqdm's bars.

    tqdm's default write lock is a multiprocessing semaphore, made by the first bar (even a
    disabled one); a worker killed at close mid-task would leave it, and the resource tracker
    would warn of a leaked semaphore."""
    import threading

    from tqdm import tqdm

    tqdm.set_lock(threading.RLock())


def start_local(n_workers: int):
    """An embedded LocalCluster of `n_workers` single-threaded worker processes that ignore Ctrl-C.

    The terminal sends Ctrl-C to the whole process group, workers included; a worker that gets
    it while starting prints a traceback and dies, failing the start. An ignored signal stays
    ignored across exec (and Python then keeps it so), so SIGINT is ignored here while the
    workers are spawned: a Ctrl-C in those seconds is lost, the price of a clean start.
    SIGTERM and SIGHUP meanwhile are held back and raised once the cluster is up.
    """
    import signal
    import threading

    import distributed

    with signals.deferring():
        main = threading.current_thread() is threading.main_thread()  # only there can handlers change
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
        try:
            cluster = distributed.LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                                               dashboard_address=None, silence_logs=logging.ERROR,
                                               scheduler_kwargs=QUIET_SCHEDULER)
        finally:
            if main:
                signal.signal(signal.SIGINT, previous)
        stop = signals.received()
    if stop:
        cluster.close()
        raise signals.Interrupted(stop)
    return cluster


def connect(scheduler: str | None, workers: int | None, tasks: int):
    """(client, cluster): a client of the scheduler at `scheduler` (cluster None, left running at
    the end), or of an embedded cluster of `workers` processes (default: one per CPU, never more
    than the `tasks` to run)."""
    import distributed

    if scheduler is not None:
        try:
            return distributed.Client(scheduler, timeout=CONNECT_SECONDS), None
        except (OSError, TimeoutError, ValueError) as exc:  # nobody there, or not an address at all
            raise ClusterError(f"no Dask scheduler answers at {scheduler} ({failure_text(exc)}); start one with "
                               f"`dask scheduler` and `dask worker ADDRESS`, or leave --scheduler out to run on "
                               f"this machine") from None
    cluster = start_local(max(1, min(workers or os.cpu_count() or 1, tasks)))
    client = distributed.Client(cluster)
    client.run(_prepare_worker)
    return client, cluster


def close(client, cluster, cancel: list) -> None:
    """Cancel the futures in `cancel`, then close the client and the embedded cluster (either may be None)."""
    if client is not None:
        if cancel:
            try:
                client.cancel(cancel)  # not forced: another client (a second sweep) may want the same task
            except Exception:  # the scheduler may already be gone; closing below is what matters
                pass
        client.close()
    if cluster is not None:
        cluster.close()


def failure_text(exc: BaseException) -> str:
    """Why a task failed, as one line: the text of the errors a user can fix, the type's name first for any other."""
    from .config import ConfigError
    from .training.data import DataError

    text = " ".join(str(exc).split())
    if isinstance(exc, (ConfigError, DataError)) and text:
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def add_arguments(parser) -> None:
    """The command-line options that choose the cluster (`sweep` and `compare`): --scheduler and --workers."""
    parser.add_argument("--scheduler", default=None, metavar="ADDRESS",
                        help="run on the Dask cluster of this scheduler (e.g. tcp://10.0.0.5:8786) instead of an "
                             "embedded one")
    parser.add_argument("--workers", type=positive_int, default=None, metavar="N",
                        help="workers of the embedded cluster (default: one per CPU)")


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    import argparse

    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value
