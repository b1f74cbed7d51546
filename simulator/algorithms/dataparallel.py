"""Data parallelism: which samples each worker replica trains on, and the schedule of its pipeline."""

from __future__ import annotations

from pydantic import Field

from .base import Batched, Schedule, TimingRules


class DataParallelOptions(Batched):
    """The keys of `training` every data-parallel algorithm reads."""

    workers: int = Field(default=1, ge=1, description="data-parallel replicas of the network")


class ParameterServerOptions(DataParallelOptions):
    """The keys of `training` the parameter-server algorithms read."""

    staleness_aware: bool = Field(default=False, description="divide the learning rate by each update's staleness")


def worker_batches(n_samples: int, workers: int, batch_size: int, synchronous: bool) -> list[list[list[int]]]:
    """The minibatches of each worker, as lists of sample ids (the order samples enter the run).

    Asynchronous workers take global minibatches of `batch_size` consecutive ids round robin:
    minibatch g goes to worker g mod N, so with one worker this is exactly MBGD's batching.
    Synchronous workers (all-reduce) split each global batch of N*B consecutive ids into N
    equal contiguous shares, so a step trains on exactly the samples of one MBGD batch of N*B;
    `n_samples` must then be a multiple of N (see `synchronous_samples`).
    """
    if synchronous:
        if n_samples % workers:
            raise ValueError(f"{n_samples} samples do not split evenly over {workers} workers")
        shares: list[list[list[int]]] = [[] for _ in range(workers)]
        global_batch = workers * batch_size
        for start in range(0, n_samples, global_batch):
            share = min(global_batch, n_samples - start) // workers
            for w in range(workers):
                first = start + w * share
                shares[w].append(list(range(first, first + share)))
        return shares
    batches: list[list[list[int]]] = [[] for _ in range(workers)]
    for g, start in enumerate(range(0, n_samples, batch_size)):
        batches[g % workers].append(list(range(start, min(start + batch_size, n_samples))))
    return batches


def synchronous_samples(n_samples: int, workers: int) -> int:
    """All-reduce trains on a whole number of samples per worker: the run is cut to a multiple of N."""
    return n_samples - n_samples % workers


class DataParallel(Schedule):
    """The pipeline schedule of one worker: its minibatches stream through its layers, each
    computed with one weight version, and a layer forwards minibatch i only once it holds
    weights for step i (pulled from the server, reduced with the other workers, or updated
    locally). Gradients are always summed, since they leave the worker as a whole.
    """

    name = "data-parallel"
    sums_gradients = True

    def __init__(self, n_layers: int, batches: list[list[int]]):
        super().__init__(n_layers, sum(len(b) for b in batches))
        self.batches = batches
        self.batch_of = {s: i for i, batch in enumerate(batches) for s in batch}
        self.last_of_batch = {batch[-1] for batch in batches}
        self.stream = [s for batch in batches for s in batch]
        self.largest = max((len(b) for b in batches), default=1)

    def window(self, layer: int) -> int:
        return self.largest

    def may_forward(self, sample: int, version: int) -> bool:
        return self.batch_of[sample] <= version

    def ends_group(self, sample: int) -> bool:
        return sample in self.last_of_batch

    def timing_rules(self) -> TimingRules | None:
        """The gate and groups in positions of the worker's stream (its i-th sample is in batch
        i // B), which holds while every batch but the last has the largest size."""
        if any(len(batch) != self.largest for batch in self.batches[:-1]):
            return None
        return TimingRules(gate_batch=self.largest, group_batch=self.largest)
