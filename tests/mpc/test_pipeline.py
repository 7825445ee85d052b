"""Pipelined ops: the driver sends an op whose result shape it can tell without waiting for the
parties. Its shape rules must agree with what the parties compute, a pipelined run must equal a
synchronous one, and a failure must still reach the caller (tests/mpc/test_privacy_and_faults.py
and tests/cluster/test_ray_session.py check timeouts and dead parties)."""

from __future__ import annotations

import numpy as np
import pytest

from secured.exceptions import BadInputError
from secured.mpc import Session
from secured.mpc._shapes import RULES, result_shape

rng = np.random.default_rng(7)


def _cases(s):
    """(op, args) pairs covering every rule, with broadcasting, 1-d and batched products,
    negative axes, fancy and boolean indexing."""
    def t(*shape, low=0.5, high=1.5):
        return s.share(rng.uniform(low, high, size=shape))

    def enc(*shape):
        return s.be.encode(rng.uniform(-1, 1, size=shape), s.fractional_bits)

    a23, a31, a14 = t(2, 3), t(3, 1), t(1, 4)
    cases = [
        ("add", (a31, a14)), ("sub", (a23, t(3))), ("mul", (t(4), t(4))), ("mul", (a31, a14)),
        ("div", (t(2, 1), t(1, 3))),
        ("add_public", (a23, enc(3))), ("rsub_public", (a23, enc())), ("mul_public", (a23, enc(2, 1))),
        ("mul_public_int", (a23, s.be.asarray(np.array([1, 2, 3], dtype=np.int64).view(np.uint64)))),
        ("matmul", (t(5, 3), t(3, 2))), ("matmul", (t(3), t(3, 2))), ("matmul", (t(5, 3), t(3))),
        ("matmul", (t(2, 5, 3), t(3, 4))), ("matmul", (t(3), t(3))),
        ("matmul_public", (t(5, 3), enc(3, 2), False)), ("matmul_public", (t(3, 2), enc(5, 3), True)),
        ("sum", (t(2, 3, 4), None)), ("sum", (t(2, 3, 4), 0)), ("sum", (t(2, 3, 4), -1)),
        ("sum", (t(2, 3, 4), (0, 2))),
        ("reshape", (t(2, 3, 4), (-1,))), ("reshape", (t(2, 3, 4), (3, -1))), ("reshape", (t(2, 3, 4), (4, 6))),
        ("transpose", (t(2, 3, 4), None)), ("transpose", (t(2, 3, 4), (1, 0, 2))),
        ("transpose", (t(2, 3, 4), (-1, 0, 1))),
        ("getitem", (t(6, 4), (slice(1, 5, 2), 3))), ("getitem", (t(6, 4), np.array([5, 0, 0, 2]))),
        ("getitem", (t(6, 4), np.array([True, False, True, True, False, False]))),
        ("getitem", (t(6, 4), (Ellipsis, None, slice(None, None, -1)))), ("getitem", (t(6, 4), -1)),
        ("concat", (0, t(2, 3), t(4, 3))), ("concat", (-1, t(2, 3), t(2, 1), t(2, 2))),
    ]
    for op in ("neg", "square", "ltz", "relu", "eq", "ge0", "exp", "log", "reciprocal", "sqrt", "rsqrt",
               "sigmoid", "tanh", "reciprocal_table", "rsqrt_table"):
        cases.append((op, (a23,)))
    cases.append(("add_noise", (a23, 4.0)))
    return cases


def test_every_shape_rule_agrees_with_the_parties():
    with Session(2, pipeline=False) as s:
        cases = _cases(s)
        assert {op for op, _ in cases} == set(RULES)
        for op, args in cases:
            expected = result_shape(op, args)
            got = s.run(op, *args).shape                       # the parties' own answer (not pipelined)
            assert expected == got, (op, expected, got)
        y, mask = s.relu_with_mask(s.share(rng.normal(size=(3, 2))))   # the parties' shapes
        assert y.shape == mask.shape == (3, 2)
    with Session(2) as s:                                                # pipelined: the driver's
        y, mask = s.relu_with_mask(s.share(rng.normal(size=(3, 2))))
        assert s._inflight and y.shape == mask.shape == (3, 2)


def test_operands_whose_shapes_do_not_fit_are_refused_before_any_party_runs():
    """A bad reshape, a mismatched product, an axis or index out of range: a clear error from
    the driver at once (not one party refusing while the others wait for it until the
    timeout), and the session goes on; an op without a rule runs synchronously."""
    with Session(2, timeout=5) as s:
        x, y = s.share(np.ones((2, 3))), s.share(np.ones((2, 3)))
        for op, args in [("reshape", (x, (4, -1))), ("matmul", (x, y)), ("getitem", (x, 5)),
                         ("getitem", (x, "a")), ("sum", (x, 2)), ("transpose", (x, (0, 0))),
                         ("concat", (1, x, s.share(np.ones(3)))), ("add", (x, s.share(np.ones(4))))]:
            with pytest.raises(BadInputError, match="check the shapes") as info:
                s.run(op, *args)
            assert str(info.value).startswith(f"{op!r} cannot take operands of shapes (2, 3)")
        assert not s._broken and not s._inflight
        assert result_shape("conv2d", (x, y, 1, 0)) is None
        np.testing.assert_allclose((x @ y.T).reveal(), 3.0, atol=1e-3)


def test_a_pipelined_run_equals_a_synchronous_one():
    """The same logistic-regression steps, pipelined or not: same rounds and bytes per op, the
    same result (up to the truncations' rounding)."""
    X = rng.normal(size=(48, 5))
    y = (X[:, 0] > 0).astype(float).reshape(-1, 1)
    results, stats = [], []
    for pipeline in (False, True):
        with Session(3, pipeline=pipeline) as s:
            xs, ys = s.share(X), s.share(y)
            w, b = s.share(np.zeros((5, 1))), s.share(np.zeros((1, 1)))
            for i in range(0, 48, 16):
                xb, yb = xs[i:i + 16], ys[i:i + 16]
                err = (xb @ w + b).sigmoid() - yb
                w = w - (xb.T @ err) * (0.5 / 16)
                b = b - err.sum(axis=0).reshape(1, 1) * (0.5 / 16)
            if pipeline:
                assert s._inflight                      # the steps were sent ahead of the answers
            results.append(np.concatenate([w.reveal().ravel(), b.reveal().ravel()]))
            st = s.stats()["parties"][0]
            stats.append((st["rounds"], st["bytes_sent"], sorted(st["by_op"].items())))
    assert stats[0] == stats[1]
    np.testing.assert_allclose(results[0], results[1], atol=1e-3)
    assert np.abs(results[1]).max() > 0.05              # it learned something


def test_a_failed_pipelined_op_is_raised_by_the_next_wait_and_the_session_goes_on():
    with Session(2) as s:
        x = s.share(np.ones(4))
        s.run("add_noise", x, -1.0)                     # refused by OpenDP inside the parties, later
        with pytest.raises(Exception) as info:
            s.sync()
        assert any("pipelined op 'add_noise'" in note for note in info.value.__notes__)
        assert not s._broken
        np.testing.assert_allclose((x + x).reveal(), 2.0)
