"""What a curve point sees: the weights each layer holds at the cycle layer 1 completes an update."""

from __future__ import annotations

from tests.builders import make, scenario_dict, with_engine

from wafersim import assemble, runner, session
from wafersim.algorithms import pipeline


def _applied_at_each_point(monkeypatch, algorithm: str, depth: int, **training) -> list[list[int]]:
    """Samples applied by each layer 1..D whenever layer 1 reports samples trained."""
    programs: list[dict] = []
    real_assemble, real_trained = assemble.assemble, pipeline.Recorder.trained

    def spy_assemble(*args, **kwargs):
        out = real_assemble(*args, **kwargs)
        programs.append(out[0])
        return out

    seen = []

    def spy_trained(self, samples):
        seen.append([p.applied for p in sorted(programs[0].values(), key=lambda p: p.k)])
        real_trained(self, samples)

    monkeypatch.setattr(session, "assemble", spy_assemble)
    monkeypatch.setattr(pipeline.Recorder, "trained", spy_trained)
    data = scenario_dict(layers=(8,) * depth + (4,), algorithm=algorithm, samples=30, **training)
    runner.run(make(with_engine(data, "events")), progress=False)  # spies on the event engine's programs
    return seen


def test_cp_layer_k_has_applied_n_plus_half_k_minus_1_samples_on_uniform_hardware(monkeypatch):
    """Uniform ops (5 cycles, 1-cycle messages), D = 4: whenever layer 1 completes its n-th
    update, layer k has applied n + floor((k - 1) / 2) samples (the step model: n + k - 1), until
    the stream runs out, as the README says."""
    seen = _applied_at_each_point(monkeypatch, "cp", 4)
    assert len(seen) == 30
    assert all(row == [min(row[0] + (k - 1) // 2, 30) for k in range(1, 5)] for row in seen)


def test_mbgd_layers_agree_at_every_point(monkeypatch):
    seen = _applied_at_each_point(monkeypatch, "mbgd", 3, batch_size=5)
    assert all(len(set(row)) == 1 for row in seen)
