"""A worker replica's layer in parameter-server training: the pipeline layer program plus the server exchange.

Each worker runs the layer pipeline of `pipeline.py` on its own PEs with a `DataParallel`
schedule: its minibatches stream forward and back, and each layer sums the minibatch's
gradient. What happens at the end of a minibatch tells the variants apart (`asgd.py`,
`hogwild.py`, `downpour.py`): here is what they share, pushing gradients to the layer's
shard and taking in the weights it sends back.
"""

from __future__ import annotations

from ..hardware.mesh import Coord
from ..layers import param_bytes
from ..records import Message
from .pipeline import LayerProgram
from .shard import REQUEST_BYTES, Push


class PushLayer(LayerProgram):
    """Layer k of worker w: pushes each minibatch's gradient to its shard and installs the weights that come back.

    `waits_for_weights`: the push asks for the weights once applied, and the next
    minibatch waits for them (asgd). `pulls_after_push`: the layer asks for the weights
    right after pushing (hogwild, whose shard answers on arrival).
    """

    waits_for_weights = True
    pulls_after_push = False

    def __init__(self, *, worker: int, shard: Coord, options, **pipeline):
        super().__init__(**pipeline)
        self.worker, self.shard, self.options = worker, shard, options
        self.param_bytes = param_bytes(self.shape)
        self.base_version = 0  # shard version of the weights this layer computes with
        self.steps = 0  # minibatches finished
        self.pushes = 0

    # -- messages -------------------------------------------------------------------
    def receive(self, message: Message) -> None:
        if message.kind != "weights":
            super().receive(message)
            return
        self.weights_arrived(*message.payload)

    def weights_arrived(self, weights, version: int) -> None:
        """Install the weights; the next minibatch may start."""
        self.install(weights, version)
        self.version += 1

    def install(self, weights, version: int) -> None:
        self.layer.install(weights)
        self.base_version = version

    def pull(self) -> None:
        self.chip.send(self.coord, self.shard, REQUEST_BYTES, Message("pull", self.worker, None))

    def push(self, grads, mean_over: int, samples: int, base_version: int, reply: bool) -> None:
        push = Push(grads, mean_over, samples, base_version, reply)
        self.chip.send(self.coord, self.shard, self.param_bytes, Message("push", self.worker, push))
        self.pushes += 1

    # -- minibatch boundaries ----------------------------------------------------------
    def gradient_ready(self) -> None:
        samples = len(self.group)
        self.push(self.layer.take_gradient(), samples, samples, self.base_version, reply=self.waits_for_weights)
        self.group = []
        self.steps += 1
        if self.pulls_after_push:
            self.pull()

    def stats(self) -> dict:
        return {**super().stats(), "pushes": self.pushes}
