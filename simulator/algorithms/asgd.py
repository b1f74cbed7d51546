"""Parameter-server ASGD (Dean et al. 2012; Zhang et al. 2013): push the gradient, wait for the new weights."""

from __future__ import annotations

from .dataparallel import ParameterServerOptions
from .registry import PARAMETER_SERVER, Algorithm
from .worker import PushLayer


class AsgdLayer(PushLayer):
    """After each minibatch the layer pushes its gradient and waits; the shard applies it
    and sends the new weights back, which the next minibatch uses."""

    waits_for_weights = True


ALGORITHM = Algorithm(
    name="asgd", summary="parameter-server ASGD: workers push gradients and wait for the updated weights",
    options=ParameterServerOptions, family=PARAMETER_SERVER, program=AsgdLayer)
