"""The shape of an op's result, computed by the driver without asking the parties.

A session pipelines an op whose result shape it knows (``BaseSession._dispatch``): it sends the
op and goes on, instead of waiting a round trip for the parties' reply. ``result_shape`` covers
the ops a training or inference loop issues and answers None for any other op (which then runs
synchronously); operands whose shapes do not fit are refused here, with a clear error, before
any party sees the op. tests/mpc/test_pipeline.py checks every rule against the parties' shapes.
"""

from __future__ import annotations

import operator
from typing import Any, Callable

import numpy as np

from ..exceptions import BadInputError

__all__ = ["result_shape"]

Shape = tuple[int, ...]


def _shape(value: Any) -> Shape:
    shape = getattr(value, "shape", None)
    return tuple(shape) if shape is not None else np.shape(value)


def _same(x: Any, *_: Any) -> Shape:
    return _shape(x)


def _broadcast(x: Any, y: Any, *_: Any) -> Shape:
    return tuple(np.broadcast_shapes(_shape(x), _shape(y)))


def _matmul_shapes(a: Shape, b: Shape) -> Shape:
    if not a or not b:
        raise ValueError("matmul of a 0-d operand")
    a2 = (1, *a) if len(a) == 1 else a
    b2 = (*b, 1) if len(b) == 1 else b
    if a2[-1] != b2[-2]:
        raise ValueError("inner sizes differ")
    out = (*np.broadcast_shapes(a2[:-2], b2[:-2]), a2[-2], b2[-1])
    if len(a) == 1:
        out = out[:-2] + out[-1:]
    if len(b) == 1:
        out = out[:-1]
    return tuple(out)


def _matmul(x: Any, y: Any) -> Shape:
    return _matmul_shapes(_shape(x), _shape(y))


def _matmul_public(x: Any, w: Any, left: bool) -> Shape:
    return _matmul_shapes(_shape(w), _shape(x)) if left else _matmul_shapes(_shape(x), _shape(w))


def _axes(axis: Any, ndim: int) -> tuple[int, ...]:
    axes = tuple(range(ndim)) if axis is None else (axis if isinstance(axis, tuple) else (axis,))
    out = []
    for a in axes:
        a = operator.index(a)
        if not -ndim <= a < ndim:
            raise ValueError("axis out of range")
        out.append(a % ndim)
    if len(set(out)) != len(out):
        raise ValueError("repeated axis")
    return tuple(out)


def _sum(x: Any, axis: Any) -> Shape:
    shape = _shape(x)
    drop = _axes(axis, len(shape))
    return tuple(n for i, n in enumerate(shape) if i not in drop)


def _reshape(x: Any, shape: Any) -> Shape:
    size = int(np.prod(_shape(x), dtype=np.int64))
    dims = [operator.index(n) for n in shape]
    unknown = [i for i, n in enumerate(dims) if n == -1]
    if len(unknown) > 1 or any(n < -1 for n in dims):
        raise ValueError("bad shape")
    known = int(np.prod([n for n in dims if n != -1], dtype=np.int64))
    if unknown:
        if known == 0 or size % known:
            raise ValueError("cannot infer the unknown size")
        dims[unknown[0]] = size // known
    elif known != size:
        raise ValueError("sizes differ")
    return tuple(dims)


def _transpose(x: Any, axes: Any) -> Shape:
    shape = _shape(x)
    if axes is None:
        return shape[::-1]
    order = _axes(tuple(axes), len(shape))
    if len(order) != len(shape):
        raise ValueError("axes do not match")
    return tuple(shape[a] for a in order)


def _getitem(x: Any, index: Any) -> Shape:
    # numpy's own indexing rules on a zero-stride stand-in: no memory for the whole tensor
    stand_in = np.broadcast_to(np.zeros((), dtype=np.uint8), _shape(x))
    return tuple(stand_in[index].shape)


def _concat(axis: Any, *parts: Any) -> Shape:
    shapes = [_shape(p) for p in parts]
    if not shapes or not shapes[0]:
        raise ValueError("nothing to concatenate")
    a = _axes(axis, len(shapes[0]))[0]
    if any(len(s) != len(shapes[0]) or s[:a] + s[a + 1:] != shapes[0][:a] + shapes[0][a + 1:] for s in shapes):
        raise ValueError("shapes differ off the axis")
    return shapes[0][:a] + (sum(s[a] for s in shapes),) + shapes[0][a + 1:]


RULES: dict[str, Callable[..., Shape]] = {
    **dict.fromkeys(("neg", "square", "ltz", "relu", "eq", "ge0", "exp", "log", "reciprocal", "sqrt", "rsqrt",
                     "sigmoid", "tanh", "add_noise", "reciprocal_table", "rsqrt_table"), _same),
    **dict.fromkeys(("add", "sub", "mul", "div", "add_public", "rsub_public", "mul_public",
                     "mul_public_int"), _broadcast),
    "matmul": _matmul, "matmul_public": _matmul_public,
    "sum": _sum, "reshape": _reshape, "transpose": _transpose, "getitem": _getitem, "concat": _concat,
}


def result_shape(op: str, args: tuple) -> Shape | None:
    """The shape the parties will report for ``op`` on ``args`` (driver-side arguments), or
    None for an op without a rule (it then runs synchronously). Shapes that do not fit (a
    product's inner sizes, an axis or index out of range, a reshape to another size) raise
    ``BadInputError`` here, before any party is asked: a party refusing alone would leave
    the others waiting on it."""
    rule = RULES.get(op)
    if rule is None:
        return None
    try:
        return tuple(int(n) for n in rule(*args))
    except (ValueError, IndexError, TypeError) as exc:
        shapes = ", ".join(str(_shape(a)) for a in args if hasattr(a, "shape"))
        raise BadInputError(f"{op!r} cannot take operands of shapes {shapes} with these arguments "
                            f"({_reason(exc)}); check the shapes, axes and indices.") from None


def _reason(exc: BaseException) -> str:
    """numpy's and our own messages name sizes, axes and indices, never a value; anything else
    is summarised by its type."""
    text = str(exc)
    return text if isinstance(exc, (ValueError, IndexError)) and len(text) < 200 else type(exc).__name__
