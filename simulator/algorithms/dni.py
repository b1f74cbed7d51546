"""Decoupled neural interfaces (Jaderberg et al. 2017): layers update at once from synthetic gradients.

Interfaces sit after chosen layers k < D. The layers between two interfaces (or between
the input and the first one, or the last one and the top) form a module trained by
backprop one sample at a time, like SGD: layer k forwards sample s only once it has
applied s updates. At an interface, the synthetic-gradient module M_k (on layer k's PE,
or with placement: neighbour on a free PE next to it; see dni_program.py) predicts
g = M_k(h_k) (cDNI: M_k([h_k; onehot(y)])) right after the forward (op G), and layer k
back-propagates g and updates at once (B, U) instead of waiting for the gradient from
above. The delta the layer above sends down (its B's W^T dz, made from its own
synthetic or true gradient: bootstrapping) is M_k's regression target, dL/dh_k; when it
arrives, op T takes one optimizer step of M_k on 1/2 ||M_k(h_k) - target||^2 with M_k as
it stands then. With no interface at all every layer is one module: exactly SGD.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from ..hardware.mesh import Coord
from ..layers import FLOAT_BYTES
from ..layers.synthetic import SyntheticShape, synthetic_bytes
from ..memory import LayerMemory
from ..optimizers import OptimizerConfig, SGDConfig, Transform, constant, make_optimizer, named_section
from ..placement import free_neighbours
from ..schema import Strict
from .base import Schedule
from .dni_program import DNIProgram
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
    placement: Literal["same", "neighbour"] = Field(
        default="same", description="M_k on layer k's own PE (same), or on a free PE next to it (neighbour)")

    @field_validator("interfaces", mode="before")
    @classmethod
    def _all_or_layers(cls, value):
        if isinstance(value, str) and value != "all":
            raise ValueError(f"is {value!r}: give 'all' or a list of layer numbers, e.g. [1, 2]")
        return value

    @field_validator("hidden")
    @classmethod
    def _positive(cls, value: list[int]) -> list[int]:
        if any(width < 1 for width in value):
            raise ValueError(f"hidden widths must be at least 1, got {value}")
        return value

    @field_validator("optimizer", mode="before")
    @classmethod
    def _name_alone(cls, value):
        return named_section(value)

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

    def side_traffic(self) -> tuple[int, int]:
        """G and T per interface; h_k out and the prediction back when the module has its own PE; its labels."""
        n = len(self.interfaces)
        return 2 * n, (2 * n if self.remote else 0) + (n if self.config.conditioned else 0)

    @property
    def remote(self) -> bool:
        """Do the modules sit on PEs of their own, next to their layers?"""
        return self.config.placement == "neighbour"

    def module_bytes(self, layer: int, shape, classes: int) -> tuple[int, int]:
        """(static, per-sample bound) SRAM bytes of M_k: its arrays, and the inputs h_k, predictions
        and labels it keeps until their targets arrive."""
        sg = self.synthetic_shape(shape.output_floats, classes)
        return synthetic_bytes(sg, self.optimizer), self.window(layer) * (2 * shape.output_floats + 1) * FLOAT_BYTES

    def side_memory(self, layer: int, shape, classes: int) -> tuple[int, int]:
        """What layer k's PE keeps for its module: all of M_k's bytes when it sits there (the layer's
        own activations already count h_k once), nothing when it sits on a neighbour."""
        if layer not in self.interfaces or self.remote:
            return 0, 0
        static, per_sample = self.module_bytes(layer, shape, classes)
        return static, per_sample - self.window(layer) * shape.output_floats * FLOAT_BYTES

    def side_pes(self, coords: list[Coord], rows: int, cols: int) -> dict[int, Coord]:
        """Interface layer k -> the free PE next to layer k's that holds M_k (placement: neighbour only)."""
        if not self.remote:
            return {}
        spots = free_neighbours([coords[k - 1] for k in self.interfaces], set(coords), rows, cols,
                                "training.synthetic.placement")
        return dict(zip(self.interfaces, spots))

    def side_pe_memory(self, layer: int, shape, classes: int) -> LayerMemory:
        static, per_sample = self.module_bytes(layer, shape, classes)
        return LayerMemory(layer=layer, weights=0, gradient_buffer=0, optimizer_state=0, activations=per_sample,
                           weight_stash=0, synthetic=static)


ALGORITHM = Algorithm(
    name="dni", summary="decoupled neural interfaces: layers update at once from synthetic gradients (cDNI: "
                        "conditioned on the label)",
    options=DNIOptions, family=PIPELINE, layer_program=DNIProgram, check=check,
    schedule=lambda o, n_layers, n_samples: DecoupledSchedule(n_layers, n_samples, o.synthetic))
