"""Decoupled neural interfaces (Jaderberg et al. 2017): layers update at once from synthetic gradients.

Interfaces sit after chosen layers k < D. The layers between two interfaces (or between
the input and the first one, or the last one and the top) form a module trained by
backprop one sample at a time, like SGD: layer k forwards sample s only once it has
applied s updates. At an interface, the synthetic-gradient module M_k on layer k's PE
predicts g = M_k(h_k) (cDNI: M_k([h_k; onehot(y)])) right after the forward (op G), and
layer k back-propagates g and updates at once (B, U) instead of waiting for the gradient
from above. The delta the layer above sends down (its B's W^T dz, made from its own
synthetic or true gradient: bootstrapping) is M_k's regression target, dL/dh_k; when it
arrives, op T takes one optimizer step of M_k on 1/2 ||M_k(h_k) - target||^2 with M_k as
it stands then. With no interface at all every layer is one module: exactly SGD.
"""

from __future__ import annotations

from collections import deque
from typing import Literal

import numpy as np
from pydantic import Field, field_validator

from ..layers import FLOAT_BYTES
from ..layers.synthetic import Synthetic, SyntheticShape, synthetic_bytes
from ..optimizers import OptimizerConfig, SGDConfig, Transform, constant, make_optimizer
from ..records import Op, new_record
from ..schema import Strict
from .base import Schedule
from .pipeline import LayerProgram
from .registry import PIPELINE, Algorithm


class SyntheticConfig(Strict):
    """Where the synthetic-gradient modules sit, what they are and how they learn."""

    interfaces: Literal["all"] | list[int] = Field(
        default="all", description="layers k (1..D-1) with an interface after them, or 'all'")
    hidden: list[int] = Field(default=[], max_length=2, description="widths of M_k's ReLU hidden layers (0 to 2)")
    conditioned: bool = Field(default=False, description="cDNI: M_k also sees the one-hot label")
    learning_rate: float = Field(default=1.0e-3, ge=0, description="M_k's own learning rate (constant; 0: M_k "
                                                                    "never learns)")
    optimizer: OptimizerConfig = Field(default=SGDConfig(), description="M_k's own optimizer")
    slack: int = Field(default=0, ge=0, description="samples an interface may await targets for beyond 2(j-k)+1")

    @field_validator("hidden")
    @classmethod
    def _positive(cls, value: list[int]) -> list[int]:
        if any(width < 1 for width in value):
            raise ValueError(f"hidden widths must be at least 1, got {value}")
        return value

    @field_validator("optimizer", mode="before")
    @classmethod
    def _name_alone(cls, value):
        return {"name": value} if isinstance(value, str) else value

    def layers(self, n_layers: int) -> tuple[int, ...]:
        """The interface layers, ascending."""
        return tuple(range(1, n_layers)) if self.interfaces == "all" else tuple(sorted(set(self.interfaces)))


class DNIOptions(Strict):
    """The keys of `training` that dni reads."""

    synthetic: SyntheticConfig = Field(default=SyntheticConfig(), description="dni: the synthetic-gradient modules")


def check(options: DNIOptions, n_layers: int) -> str | None:
    """Why the interfaces do not fit a network of `n_layers` layers, or None."""
    wrong = [k for k in options.synthetic.layers(n_layers) if not 1 <= k < n_layers]
    if wrong:
        return (f"training.synthetic.interfaces: {wrong} lie outside the network: interfaces go after layers 1.."
                f"{n_layers - 1} (the top layer has the true gradient)")
    return None


class DecoupledSchedule(Schedule):
    """DNI's rules: the SGD gate at every layer, and M_k's place, shape and optimizer at each interface."""

    name = "dni"
    priority = ("U", "B", "G", "T", "F")  # finish a sample's G, B, U before training M_k or taking the next

    def __init__(self, n_layers: int, n_samples: int, config: SyntheticConfig):
        super().__init__(n_layers, n_samples)
        self.config = config
        self.interfaces = config.layers(n_layers)
        self.optimizer: Transform = make_optimizer(config.optimizer, constant(config.learning_rate))

    def source(self, layer: int) -> int:
        """j: the first layer above `layer` that makes its own gradient (an interface or the top)."""
        return next((j for j in self.interfaces if j > layer), self.n_layers)

    def window(self, layer: int) -> int:
        """Samples layer k holds forwarded but not back-propagated (one: the SGD gate), or, at an
        interface, awaiting M_k's target: 2(j-k)+1 with j the next gradient source above, plus slack."""
        if layer in self.interfaces:
            return 2 * (self.source(layer) - layer) + 1 + self.config.slack
        return 1

    def may_forward(self, sample: int, version: int) -> bool:
        return sample <= version

    def ends_group(self, sample: int) -> bool:
        return True

    def divergence_hint(self) -> str:
        return f", training.synthetic.learning_rate (now {self.config.learning_rate})" if self.interfaces else ""

    def synthetic_shape(self, width: int, classes: int) -> SyntheticShape:
        return SyntheticShape(width, classes if self.config.conditioned else 0, tuple(self.config.hidden))

    def side_memory(self, layer: int, shape, classes: int) -> tuple[int, int]:
        """(static, per-sample bound) SRAM bytes of layer k's synthetic-gradient module: M_k's arrays,
        and the predictions and labels kept until their targets arrive."""
        if layer not in self.interfaces:
            return 0, 0
        sg = self.synthetic_shape(shape.output_floats, classes)
        return synthetic_bytes(sg, self.optimizer), self.window(layer) * (shape.output_floats + 1) * FLOAT_BYTES


class DNIProgram(LayerProgram):
    """A layer of a DNI network: the pipeline layer, plus M_k's G and T ops at an interface."""

    def __init__(self, *, scenario, **args):
        super().__init__(**args)
        schedule, k = self.schedule, self.k
        self.interface = k in schedule.interfaces
        self.sg_shape = schedule.synthetic_shape(self.shape.output_floats, scenario.model.layers[-1]) \
            if self.interface else None
        self.conditioned = self.interface and self.sg_shape.classes > 0
        self.wants_labels = self.conditioned  # the port sends this PE every label too
        self.arithmetic = self.interface and not scenario.timing_only
        rng = np.random.default_rng([scenario.training.seed, 2, k])  # M_k's hidden layers: apart from the network's
        self.sg = Synthetic(self.sg_shape, schedule.optimizer, rng) if self.arithmetic else None
        self.eval_every = scenario.training.eval_every
        self.to_predict: deque = deque()  # samples forwarded, awaiting G
        self.targets: deque = deque()  # (sample, dL/dh_k from above) awaiting T
        self.awaiting: dict[int, tuple] = {}  # sample -> (h, prediction, label, M_k updates at G, G start cycle)
        self.record: list[tuple] = []  # per T: (sample, loss, cosine, age in M_k updates, age in cycles)
        self.sg_updates = 0
        if self.interface:
            self.cycles_G = self.chip.op_cycles(self.sg_shape.predict_macs())
            self.cycles_T = self.chip.op_cycles(self.sg_shape.train_macs(self.schedule.optimizer))

    def extra_pickers(self) -> dict:
        return {"G": self._pick_predict, "T": self._pick_train, "F": self._pick_forward_dni}

    # -- messages: a delta for an interface layer is M_k's target, not its backward's input --
    def receive(self, message) -> None:
        kind, tag, payload = message
        if kind == "e" and self.interface:
            self.targets.append((tag, payload))
        else:
            super().receive(message)

    # -- choosing ----------------------------------------------------------------------
    def _pick_forward_dni(self) -> Op | None:
        if self.interface and len(self.awaiting) + len(self.to_predict) >= self.window:
            return None
        return self._pick_forward()

    def _pick_predict(self) -> Op | None:
        if not self.to_predict or (self.conditioned and self.to_predict[0] not in self.labels):
            return None
        return self.predict()

    def _pick_train(self) -> Op | None:
        return self.train() if self.targets else None

    # -- ops ------------------------------------------------------------------------------
    def forward(self) -> Op:
        op = super().forward()
        if self.interface:
            self.to_predict.append(op.tag)
        return op

    def predict(self) -> Op:
        """G: M_k's prediction of dL/dh_k for the sample just forwarded, handed to B as its delta."""
        sample = self.to_predict.popleft()
        _, h, _ = self.held[sample]
        label = self.labels.pop(sample) if self.conditioned else -1
        g = self.sg.predict(h, label) if self.arithmetic else None
        self.deltas.append((sample, g))
        self.awaiting[sample] = (h, g, label, self.sg_updates, self.chip.now)
        self.sram.alloc((self.shape.output_floats + 1) * FLOAT_BYTES)  # the prediction and label, until T
        return new_record(Op, ("G", sample, self.cycles_G, _done))

    def backward(self) -> Op:
        op = super().backward()
        if self.interface:
            self.sram.alloc(self.out_bytes)  # h stays for T (the backward freed it with the input)
        return op

    def train(self) -> Op:
        """T: one step of M_k towards the target that arrived from above."""
        sample, target = self.targets.popleft()
        h, g, label, updates_then, cycle_then = self.awaiting.pop(sample)
        loss = cosine = None
        if self.arithmetic:
            loss = self.sg.train(h, label, target)
            cosine = _cosine(g, target)
        self.record.append((sample, loss, cosine, self.sg_updates - updates_then, self.chip.now - cycle_then))
        self.sg_updates += 1
        self.sram.free(self.out_bytes + (self.shape.output_floats + 1) * FLOAT_BYTES)
        return new_record(Op, ("T", sample, self.cycles_T, _done))

    # -- results ----------------------------------------------------------------------------
    def stats(self) -> dict:
        stats = super().stats()
        if self.interface:
            stats["op_cycles"].update(G=self.cycles_G, T=self.cycles_T)
            stats["synthetic"] = synthetic_stats(self.record, self.sg_shape, self.eval_every)
        return stats

    def synthetic_arrays(self) -> dict[str, np.ndarray]:
        return self.sg.arrays(self.k) if self.arithmetic else {}


def _done() -> None:
    """G and T send nothing when they end."""


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    """cos(a, b) in float64; NaN if either is zero (a zero prediction has no direction)."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    norms = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(a @ b) / norms if norms > 0 else float("nan")


def _mean(values: list) -> float | None:
    finite = [v for v in values if v is not None and np.isfinite(v)]
    return float(np.mean(finite)) if finite else None


def synthetic_stats(record: list[tuple], shape: SyntheticShape, every: int) -> dict:
    """An interface's row in metrics.json: M_k's shape, its loss and cosine curve (means over the
    targets of each `every` samples), their overall means, and the targets' ages."""
    curve = []
    for start in range(0, (record[-1][0] + 1) if record else 0, every):
        window = [r for r in record if start <= r[0] < start + every]
        if window:
            curve.append([window[-1][0] + 1, _mean([r[1] for r in window]), _mean([r[2] for r in window])])
    ages, counts = np.unique(np.asarray([r[3] for r in record], dtype=np.int64), return_counts=True)
    tail = record[-max(1, len(record) // 10):] if record else []
    return {"module": shape.describe(), "conditioned": shape.classes > 0, "updates": len(record),
            "mean_loss": _mean([r[1] for r in record]), "final_loss": _mean([r[1] for r in tail]),
            "mean_cosine": _mean([r[2] for r in record]), "final_cosine": _mean([r[2] for r in tail]),
            "mean_age_updates": _mean([r[3] for r in record]), "mean_age_cycles": _mean([r[4] for r in record]),
            "age_histogram": {str(int(a)): int(c) for a, c in zip(ages, counts)},
            "age_runs": _runs([r[3] for r in record]), "curve": curve}


def _runs(values: list[int]) -> list[list[int]]:
    """[[value, times], ...]: the sequence run-length encoded (the ages of the targets, in sample order)."""
    runs: list[list[int]] = []
    for v in values:
        if runs and runs[-1][0] == v:
            runs[-1][1] += 1
        else:
            runs.append([int(v), 1])
    return runs


ALGORITHM = Algorithm(
    name="dni", summary="decoupled neural interfaces: layers update at once from synthetic gradients (cDNI: "
                        "conditioned on the label)",
    options=DNIOptions, family=PIPELINE, layer_program=DNIProgram, check=check,
    schedule=lambda o, n_layers, n_samples: DecoupledSchedule(n_layers, n_samples, o.synthetic))
