"""Tests of the learning-rate schedules against their closed forms, and of the transform applying them."""

from __future__ import annotations

import math

import pytest

from wafersim.optimizers import UpdateInfo, constant, cosine, half_life, learning_rate, step_decay, warmup

SAMPLES = [0, 1, 5, 10, 17, 20, 99, 100, 101, 1000]


def _info(samples, count=1):
    return UpdateInfo(samples=samples, count=count)


def test_constant():
    schedule = constant(0.3)
    assert all(schedule(_info(s)) == 0.3 for s in SAMPLES)


@pytest.mark.parametrize("h", [10, 7.5, 3 * 1797.0])
def test_half_life_is_the_old_formula_bitwise(h):
    schedule = half_life(0.8, h)
    for s in SAMPLES:
        assert schedule(_info(s)) == 0.8 * 0.5 ** (s / h)


def test_learning_rate_halves_every_half_life():
    """Ported from the old module's tests: the coefficient is -lr, lr halving every 10 samples."""
    opt = learning_rate(half_life(0.8, 10))
    for samples, expected in [(0, -0.8), (10, -0.4), (20, -0.2), (5, -0.8 / math.sqrt(2))]:
        _, coef, _ = opt.update([], 1.0, {}, _info(samples))
        assert coef == pytest.approx(expected)


def test_learning_rate_coefficient_is_minus_lr_times_coef():
    schedule = half_life(0.3, 7.0)
    opt = learning_rate(schedule)
    for s in SAMPLES:
        _, coef, state = opt.update([], 0.25, {}, _info(s))
        assert coef == -schedule(_info(s)) * 0.25 and state == {}
    assert (opt.state_per_param, opt.macs_per_param, opt.linear) == (0, 1, True)


def test_step_decay():
    """rate * factor ** (samples // every): 0.5 up to 9 samples, 0.05 from 10 to 19, ..."""
    schedule = step_decay(0.5, 10, 0.1)
    for s in SAMPLES:
        assert schedule(_info(s)) == pytest.approx(0.5 * 0.1 ** (s // 10), rel=1e-15)
    assert schedule(_info(9)) == 0.5 and schedule(_info(10)) == pytest.approx(0.05)


def test_cosine():
    """final + (rate - final) (1 + cos(pi min(s, T) / T)) / 2: rate at 0, the midpoint at T/2, final from T on."""
    rate, total, fraction = 0.4, 100, 0.25
    final = rate * fraction
    schedule = cosine(rate, total, fraction)
    assert schedule(_info(0)) == pytest.approx(rate)
    assert schedule(_info(50)) == pytest.approx((rate + final) / 2)
    assert schedule(_info(100)) == pytest.approx(final) and schedule(_info(1000)) == pytest.approx(final)
    for s in SAMPLES:
        expected = final + (rate - final) * 0.5 * (1 + math.cos(math.pi * min(s, total) / total))
        assert schedule(_info(s)) == pytest.approx(expected, rel=1e-15)
    assert cosine(rate, total)(_info(total)) == pytest.approx(0.0, abs=1e-17)


def test_warmup_ramps_linearly_then_leaves_the_schedule_alone():
    """rate * min(1, (samples + count) / warmup): the update that completes the warm-up runs at the full rate."""
    base = half_life(0.8, 50)
    schedule = warmup(base, 40)
    assert schedule(_info(0)) == pytest.approx(0.8 / 40)
    assert schedule(_info(0, count=8)) == pytest.approx(0.8 * 8 / 40)
    assert schedule(_info(19)) == pytest.approx(base(_info(19)) * 0.5)
    assert schedule(_info(32, count=8)) == base(_info(32, count=8))
    for s in (39, 40, 100):
        assert schedule(_info(s)) == base(_info(s))


def test_zero_warmup_is_the_schedule_itself():
    base = constant(0.1)
    assert warmup(base, 0) is base and warmup(base, 0.0) is base


@pytest.mark.parametrize("make", [
    lambda: half_life(0.1, 0), lambda: step_decay(0.1, 0, 0.5), lambda: cosine(0.1, 0),
    lambda: warmup(constant(0.1), -1),
])
def test_bad_lengths_are_refused(make):
    with pytest.raises(ValueError):
        make()
