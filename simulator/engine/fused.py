"""The fused replay: a pipelined run's arithmetic in one compiled loop over the timing pass's op log.

It does what `replay.Replay` does on `layers.Dense` objects, with the same kernels
(`wafersim_kernels`) on preallocated buffers, for dense layers trained with plain SGD or
heavy-ball momentum (any learning-rate schedule): so the floats are the event engine's,
bit for bit (the tests compare). Other optimizers and layer types replay through `Replay`.

Buffers, per layer k (cap_k = min(window_k, samples): a layer holds at most that many
samples, and they are consecutive, so sample s has row s % cap_k):
    outs[k]   (cap_k, n_out)  its output h of each held sample (the top layer: dL/dz)
    dels[k]   (cap_k, n_out)  the delta dL/dh from layer k+1, waiting for k's backward
    stash[k]  (cap_k, n_out, n_in)  old weight copies (anchored rule), a ring, oldest first
    dz[k]     (n_out,)        dL/dz of the last backward (what a streamed update applies)
"""

from __future__ import annotations

import numpy as np
from numba.typed import List
from wafersim_kernels import (IDENTITY, accumulate_gradient, activation_backward, axpy, delta_to_input, dense_forward,
                              momentum_accumulate, rank_one_update, softmax_cross_entropy, zero)
from wafersim_kernels._jit import cached_njit

from ..layers import Dense
from ..optimizers import UpdateInfo
from .pipeline_pass import AUX_KEEP, AUX_RELEASE, AUX_STASHED, COUNT_SHIFT
from .replay import NonFinite

NO_DIRECTIONS: list = []  # a learning_rate transform asked for its coefficient alone

FUSED_OPTIMIZERS = {("average", "learning_rate"): False, ("average", "momentum", "learning_rate"): True}


def fusable(layers: list) -> bool:
    """Can the fused loop replay these layers (dense, trained with plain SGD or momentum)?"""
    return all(type(layer) is Dense and tuple(p.name for p in layer.optimizer.parts) in FUSED_OPTIMIZERS
               for layer in layers)


@cached_njit
def _scale(a, factor):
    """a *= factor in place, one IEEE multiply per element (numpy's `*=` on float32, not fused)."""
    af = a.reshape(-1)
    for i in range(af.shape[0]):
        af[i] = af[i] * factor


@cached_njit
def replay_ops(op_layer, op_kind, op_tag, op_aux, coef, start, stop, Ws, bs, gWs, gbs, vWs, vbs, outs, dels,
               stash, stash_head, stash_n, dzs, z, acts, streams, bias, momentum, mu, X, y, order, losses, recent,
               counters):
    """Do ops start..stop-1; return the index reached (an op whose loss is not finite is not done).

    coef[i]: the step coefficient -lr of U op i. counters[0]: the losses in `recent` so far
    (the loss that stops the loop is left in the next entry, not counted).
    """
    D = len(Ws)
    top = D - 1
    for i in range(start, stop):
        k = op_layer[i]
        kind = op_kind[i]
        s = op_tag[i]
        aux = op_aux[i]
        row = order[s]
        W = Ws[k]
        cap = outs[k].shape[0]
        if k == 0:
            x = X[row]
        else:
            x = outs[k - 1][s % outs[k - 1].shape[0]]
        if kind == 0:  # F
            if k == top:
                dense_forward(W, bs[k], x, z, IDENTITY)
                loss = softmax_cross_entropy(z, y[row], outs[k][s % cap])
                recent[counters[0]] = loss
                if not np.isfinite(loss):
                    return i
                losses[s] = loss
                counters[0] += 1
            else:
                dense_forward(W, bs[k], x, outs[k][s % cap], acts[k])
        elif kind == 1:  # B
            if k == top:
                dz = outs[k][s % cap]
            else:
                dz = dzs[k]
                activation_backward(outs[k][s % cap], dels[k][s % cap], dz, acts[k])
            if not streams[k]:
                accumulate_gradient(gWs[k], gbs[k], dz, x)
            if k > 0:
                weights = W
                if aux & AUX_STASHED:
                    weights = stash[k][stash_head[k]]
                delta_to_input(weights, dz, dels[k - 1][s % dels[k - 1].shape[0]])
            if aux & AUX_RELEASE:
                stash_head[k] = (stash_head[k] + 1) % stash[k].shape[0]
                stash_n[k] -= 1
        else:  # U, for the group ending with sample s
            if aux & AUX_KEEP:
                slot = (stash_head[k] + stash_n[k]) % stash[k].shape[0]
                stash[k][slot][:, :] = W
                stash_n[k] += 1
            c = coef[i]
            if streams[k]:  # W += c dz x^T from the factors the backward of s just made
                dz = outs[k][s % cap] if k == top else dzs[k]
                rank_one_update(W, bs[k], dz, x, c, bias)
            else:
                count = aux >> COUNT_SHIFT
                gW, gb = gWs[k], gbs[k]
                if count != 1:
                    factor = np.float32(1.0 / count)
                    _scale(gW, factor)
                    if bias:
                        _scale(gb, factor)
                if momentum:
                    momentum_accumulate(vWs[k], gW, mu)
                    axpy(W, vWs[k], c)
                    if bias:
                        momentum_accumulate(vbs[k], gb, mu)
                        axpy(bs[k], vbs[k], c)
                else:
                    axpy(W, gW, c)
                    if bias:
                        axpy(bs[k], gb, c)
                zero(gW)
                zero(gb)
    return stop


def _typed(arrays: list) -> List:
    out = List()
    for a in arrays:
        out.append(a)
    return out


class FusedReplay:
    """`replay.Replay` for dense layers with SGD or momentum, as one compiled loop (`replay_ops`) per chunk of ops."""

    def __init__(self, layers: list, X: np.ndarray, y: np.ndarray, order: np.ndarray, losses, caps: list[int],
                 mu: float, anchored: list[bool]):
        self.layers, self.losses = layers, losses
        self.X = np.ascontiguousarray(X, dtype=np.float32)
        self.y = np.ascontiguousarray(y, dtype=np.int64)
        self.order = np.ascontiguousarray(order, dtype=np.int64)
        first = layers[0]
        self.momentum = FUSED_OPTIMIZERS[tuple(p.name for p in first.optimizer.parts)]
        self.mu = float(mu) if self.momentum else 0.0  # the momentum section's mu (the transform keeps it in a closure)
        shapes = [layer.shape for layer in layers]
        f32 = np.float32

        def zeros(*shape):
            return np.zeros(shape, dtype=f32)

        self.Ws = _typed([layer.W for layer in layers])
        self.bs = _typed([layer.b for layer in layers])
        self.gWs = _typed([layer.grad_W if not layer.streams else zeros(1, 1) for layer in layers])
        self.gbs = _typed([layer.grad_b if not layer.streams else zeros(1) for layer in layers])
        if self.momentum:  # the chain's state: ({}, {"v": [vW, vb]}, {}), updated in place
            vs = [layer.opt_state[1]["v"] for layer in layers]
            self.vWs, self.vbs = _typed([v[0] for v in vs]), _typed([v[1] if len(v) > 1 else zeros(1) for v in vs])
        else:
            self.vWs, self.vbs = _typed([zeros(1, 1)]), _typed([zeros(1)])
        self.outs = _typed([zeros(c, sh.n_out) for c, sh in zip(caps, shapes)])
        self.dels = _typed([zeros(c, sh.n_out) for c, sh in zip(caps, shapes)])
        self.stash = _typed([zeros(c, sh.n_out, sh.n_in) if keeps else zeros(1, 1, 1)
                             for c, sh, keeps in zip(caps, shapes, anchored)])
        self.stash_head = np.zeros(len(layers), np.int64)
        self.stash_n = np.zeros(len(layers), np.int64)
        self.dzs = _typed([zeros(sh.n_out) for sh in shapes])
        self.z = zeros(shapes[-1].n_out)
        self.acts = np.array([layer.act for layer in layers], dtype=np.int64)
        self.streams = np.array([layer.streams for layer in layers], dtype=np.bool_)
        self.bias = bool(shapes[0].bias)
        self.recent = np.empty(len(self.order) + 1, dtype=np.float64)
        self.counters = np.zeros(1, dtype=np.int64)
        self.coef: np.ndarray | None = None

    def coefficients(self, tl) -> np.ndarray:
        """Each U op's step coefficient, as its optimizer's learning_rate transform gives it:
        -lr(UpdateInfo(samples applied before, samples in the gradient)), one call per distinct
        (transform, samples, count) (the layers of a pipeline share one optimizer)."""
        coef = np.zeros(len(tl.op_kind), dtype=np.float64)
        u = np.nonzero(tl.op_kind == 2)[0]
        if not len(u):
            return coef
        layer, counts = tl.op_layer[u].astype(np.int64), tl.op_aux[u] >> COUNT_SHIFT
        # Samples each layer applied before each of its updates: a running sum within each layer,
        # taken over the updates grouped by layer (in their order) and scattered back.
        by_layer = np.argsort(layer, kind="stable")
        c = counts[by_layer]
        running = np.cumsum(c) - c
        starts = np.searchsorted(layer[by_layer], layer[by_layer])  # each update's first of its layer
        before = np.empty_like(counts)
        before[by_layer] = running - running[starts]
        rates = [layer.optimizer.parts[-1] for layer in self.layers]
        owner = {id(rate): i for i, rate in reversed(list(enumerate(rates)))}  # the first layer with each transform
        which = np.array([owner[id(rate)] for rate in rates], dtype=np.int64)[layer]
        # One int64 key per (transform, samples before, count), a 1-D unique being much faster than
        # one over rows; it stays below 2**63 (layers x samples x batch size).
        n_before, n_count = int(before.max()) + 1, int(counts.max()) + 1
        keys = (which * n_before + before) * n_count + counts
        unique, inverse = np.unique(keys, return_inverse=True)
        values = []
        for key in unique.tolist():
            rest, count = divmod(key, n_count)
            w, samples = divmod(rest, n_before)
            values.append(rates[w].update(NO_DIRECTIONS, 1.0, {}, UpdateInfo(samples, count))[1])
        coef[u] = np.array(values, dtype=np.float64)[inverse]
        return coef

    def run(self, tl, start: int, stop: int) -> None:
        """Do ops start..stop-1 of the timeline; raise NonFinite at a non-finite loss (that op not done)."""
        if self.coef is None:
            self.coef = self.coefficients(tl)
        before = int(self.counters[0])
        reached = replay_ops(tl.op_layer, tl.op_kind, tl.op_tag, tl.op_aux, self.coef, start, stop, self.Ws, self.bs,
                             self.gWs, self.gbs, self.vWs, self.vbs, self.outs, self.dels, self.stash,
                             self.stash_head, self.stash_n, self.dzs, self.z, self.acts, self.streams, self.bias,
                             self.momentum, self.mu, self.X, self.y, self.order, self.losses.by_sample, self.recent,
                             self.counters)
        self.losses.recent.extend(self.recent[before:int(self.counters[0])].tolist())
        if reached < stop:
            s = int(tl.op_tag[reached])
            raise NonFinite(reached, s, float(self.recent[int(self.counters[0])]))
