"""Public bounds on the magnitude of shared values, and the ring's limits they are checked against.

A share lives in Z_2^64 as fixed point with f fractional bits, so a value wraps silently once
it leaves the ring: a stored value needs |x| < 2^(63 - f), and a product (or a sum of
products: matmul, convolution), which carries 2f fractional bits until it is truncated, needs
|x y| < 2^(63 - 2f) (at f = 16: about 2.1e9). CrypTen wraps without a word; here every
``SharedTensor`` may carry a public ``bound`` (|x| <= bound): ``Session.share`` sets it from the
driver's own array, ``input_from(..., bound=)`` takes one declared by the data's owner, and
every op propagates it with the rules below (the worst case, computed from public shapes and
bounds only). An op whose result bound reaches its limit is refused before it runs
(``FixedPointOverflowError``: the inputs' scale has to come down, or f). A tensor without a
bound (an undeclared private input, a trained weight) propagates "unknown", which is never an
error: bounds protect where they are cheap and never block a computation they cannot judge.

Safe ranges of the nonlinear ops (their input must lie inside; bounds check the upper end,
``checked=True`` sessions also the lower one): reciprocal, sqrt, rsqrt and log need
2^-16 <= |x| < 2^16 (sqrt, rsqrt and log also x > 0); exp is accurate up to x = 7 and wraps
beyond about 21 (a magnitude bound cannot tell +22 from -22, which is fine: checked mode
tests it); sigmoid, tanh and softmax take any input.

The rule table is ``RULES`` (op name -> function); a reader can follow ``x @ w`` from
``SharedTensor.__matmul__`` to ``"matmul"`` here and to ``_op_matmul`` in ``_party.py``.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

__all__ = ["RULES", "propagate", "limits", "DOMAIN", "check_domain", "check_result"]

EXP_MAX = 21.0
RANGE = 2.0 ** 16

#: Ops whose input must lie in a range the bounds cannot see from below (checked mode tests it).
DOMAIN = {"reciprocal": ("nonzero", RANGE), "div": ("nonzero", RANGE), "sqrt": ("positive", RANGE),
          "rsqrt": ("positive", RANGE), "log": ("positive", RANGE), "exp": ("at most 21", EXP_MAX)}


def limits(fractional_bits: int) -> tuple[float, float]:
    """(largest stored magnitude, largest product magnitude) at ``fractional_bits``."""
    return 2.0 ** (63 - fractional_bits), 2.0 ** (63 - 2 * fractional_bits)


def _b(x: Any) -> float | None:
    return getattr(x, "bound", None)


def _public(session: Any, value: Any) -> float:
    """Magnitude of a fixed-point encoded public operand."""
    decoded = np.asarray(session.be.to_numpy(session.be.decode(value, session.fractional_bits)))
    return float(np.abs(decoded).max()) if decoded.size else 0.0


def _public_int(session: Any, value: Any) -> float:
    ints = np.asarray(session.be.to_numpy(value)).view(np.int64)
    return float(np.abs(ints.astype(np.float64)).max()) if ints.size else 0.0


def _mul_public(s, a):
    """x times a public real; one encoded with extra fractional bits (``tensor._extra_bits``)
    makes a product that many bits larger before its truncation: checked at that size, while
    the result's bound is |x| |c|."""
    extra = int(a[2]) - s.fractional_bits if len(a) > 2 and a[2] is not None else 0
    c = _public(s, a[1]) * 2.0 ** -extra
    bound = _prod(_b(a[0]), c)
    return bound, 2, (None if bound is None else bound * 2.0 ** extra)


def _prod(*bounds: float | None) -> float | None:
    if any(b is None for b in bounds):
        return None
    return float(math.prod(bounds))


def _sum(*bounds: float | None) -> float | None:
    if any(b is None for b in bounds):
        return None
    return float(sum(bounds))


# Each rule: (session, args) -> (bound of the result or None, which limit applies: 1 stored, 2 product)
Rule = Callable[[Any, tuple], tuple]   # (bound, 1 stored / 2 product[, the size checked])


def _matmul(s, a):
    x, w = a[0], a[1]
    return _prod(_b(x), _b(w), x.shape[-1] if x.shape else 1), 2


def _matmul_public(s, a):
    x, w, transposed = a
    inner = (x.shape[0] if len(x.shape) > 1 else x.shape[-1]) if transposed else x.shape[-1]
    return _prod(_b(x), _public(s, w), inner), 2


def _conv(s, a, public: bool):
    x, w = a[0], a[1]
    weight = _public(s, w) if public else _b(w)
    shape = np.asarray(s.be.to_numpy(w)).shape if public else w.shape
    taps = int(np.prod(shape[1:])) if len(shape) == 4 else 1
    return _prod(_b(x), weight, taps), 2


def _summed(s, a):
    x, axis = a[0], a[1]
    if axis is None:
        count = int(np.prod(x.shape)) if x.shape else 1
    else:
        count = int(np.prod([x.shape[i] for i in np.atleast_1d(axis)]))
    return _prod(_b(x), max(count, 1)), 1


def _exp(s, a):
    b = _b(a[0])
    return (None if b is None else math.exp(min(b, EXP_MAX + 1))), 1


def _ranged(out: Callable[[float], float]) -> Rule:
    def rule(s, a):
        b = _b(a[0])
        return (None if b is None else out(b)), 1
    return rule


RULES: dict[str, Rule] = {
    "add": lambda s, a: (_sum(_b(a[0]), _b(a[1])), 1),
    "sub": lambda s, a: (_sum(_b(a[0]), _b(a[1])), 1),
    "neg": lambda s, a: (_b(a[0]), 1),
    "add_public": lambda s, a: (_sum(_b(a[0]), _public(s, a[1])), 1),
    "rsub_public": lambda s, a: (_sum(_b(a[0]), _public(s, a[1])), 1),
    "mul": lambda s, a: (_prod(_b(a[0]), _b(a[1])), 2),
    "square": lambda s, a: (_prod(_b(a[0]), _b(a[0])), 2),
    "mul_public": _mul_public,
    "mul_public_int": lambda s, a: (_prod(_b(a[0]), _public_int(s, a[1])), 1),
    "matmul": _matmul,
    "matmul_public": _matmul_public,
    "conv2d": lambda s, a: _conv(s, a, False),
    "conv2d_public": lambda s, a: _conv(s, a, True),
    "ltz": lambda s, a: (1.0, 1), "eq": lambda s, a: (1.0, 1), "ge0": lambda s, a: (1.0, 1),
    "relu": lambda s, a: (_b(a[0]), 1), "relu_mask": lambda s, a: (_b(a[0]), 1),
    "max": lambda s, a: (_b(a[0]), 1),
    "argmax": lambda s, a: (float(max(a[0].shape[a[1]] - 1, 0)) if a[0].shape else 0.0, 1),
    "exp": _exp,
    "log": _ranged(lambda b: math.log(RANGE)),
    "reciprocal": _ranged(lambda b: RANGE),
    "sqrt": _ranged(math.sqrt),
    "rsqrt": _ranged(lambda b: 2.0 ** 8),
    "sigmoid": lambda s, a: (1.0, 1), "tanh": lambda s, a: (1.0, 1), "softmax": lambda s, a: (1.0, 1),
    "reciprocal_table": lambda s, a: (16.0, 1), "rsqrt_table": lambda s, a: (4.0, 1),   # 1/lo, lo = 1/16
    "div": lambda s, a: (_prod(_b(a[0]), RANGE), 2),
    "sum": _summed,
    "im2col": lambda s, a: (_b(a[0]), 1), "windows": lambda s, a: (_b(a[0]), 1),
    "col2im": lambda s, a: (_prod(_b(a[0]), a[2] * a[3]), 1),
    "concat": lambda s, a: ((None if any(_b(x) is None for x in a[1:]) else max(_b(x) for x in a[1:])), 1),
    "reshape": lambda s, a: (_b(a[0]), 1), "transpose": lambda s, a: (_b(a[0]), 1),
    "getitem": lambda s, a: (_b(a[0]), 1),
}


def propagate(op: str, args: tuple, session: Any) -> float | None:
    """The bound of the op's result (None when unknown), after refusing an op whose result
    could leave the ring or whose input exceeds its safe range (``FixedPointOverflowError``)."""
    from ..exceptions import FixedPointOverflowError

    rule = RULES.get(op)
    if rule is None:
        return None
    f = session.fractional_bits
    stored, product = limits(f)
    first = _b(args[0]) if args else None
    if op in DOMAIN and op not in ("div", "exp") and first is not None and first >= DOMAIN[op][1]:
        raise FixedPointOverflowError(
            f"{op} is accurate for |x| < 2^16 = 65536, and x may reach {first:.3g}: scale the input down first.")
    bound, which, *checked = rule(session, args)
    check = checked[0] if checked else bound       # what meets the limit (a wider product, for some)
    limit = stored if which == 1 else product
    if check is not None and check >= limit:
        inputs = ", ".join(f"{b:.3g}" for b in (_b(a) for a in args) if b is not None)
        kind = ("the largest product" if which == 2 else "the largest value") + f" {f} fractional bits allow"
        raise FixedPointOverflowError(
            f"{op} could reach {check:.3g} (input bounds {inputs}), past 2^{int(math.log2(limit))} = {limit:.3g}, "
            f"{kind}: the result would wrap around the ring silently. Scale the inputs down, or use fewer "
            "fractional bits (Session(fractional_bits=...)).")
    return bound


def check_domain(op: str, value: np.ndarray, fractional_bits: int) -> None:
    """Checked mode: the revealed input of a range-limited op lies in its safe range."""
    from ..exceptions import FixedPointOverflowError

    kind, high = DOMAIN[op]
    low = 2.0 ** -fractional_bits
    if kind == "at most 21":
        bad, what = value > high, f"above {high:g}, where exp wraps around the ring"
    elif kind == "nonzero":
        bad, what = np.abs(value) < low, "zero or closer to it than 2^-f"
    else:
        bad, what = value < low, "zero, negative or below 2^-f"
    if bad.any():
        raise FixedPointOverflowError(f"checked mode: {int(bad.sum())} input value(s) of {op} are {what}; the "
                                      f"result would be meaningless (reciprocal(0) and sqrt(-4) come out as 0).")


def check_result(op: str, value: np.ndarray, bound: float | None, fractional_bits: int) -> None:
    """Checked mode: a revealed result within its bound (a wrap shows as a value past it)."""
    from ..exceptions import FixedPointOverflowError

    if bound is None or value.size == 0:
        return
    slack = bound * 1e-6 + 2.0 ** -fractional_bits * 64
    worst = float(np.abs(value).max())
    if worst > bound + slack:
        raise FixedPointOverflowError(f"checked mode: {op} produced a value of magnitude {worst:.3g}, past its bound "
                                      f"{bound:.3g}: the computation wrapped around the ring or lost precision.")
