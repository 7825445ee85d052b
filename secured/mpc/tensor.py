"""SharedTensor: a numpy-like handle on a value secret-shared among the parties of a session.

The driver holds only the handle (id, shape, and a public bound on the magnitude when one is
known: see ``_bounds.py``); each party holds its additive share in Z_2^64 (fixed point,
``fractional_bits`` fractional bits). ``reveal()`` is the only way out: ``repr`` shows no
value, and ``bool()`` / ``numpy.asarray`` on a secret raise.
"""

from __future__ import annotations

import math
import numbers
from typing import TYPE_CHECKING, Any

import numpy as np

from ..exceptions import ConfigurationError, SecuredError

if TYPE_CHECKING:
    from .session import BaseSession

__all__ = ["SharedTensor"]

METHODS = ("newton", "table")


def _method(op: str, method: str) -> str:
    if method not in METHODS:
        raise ConfigurationError(f"{op}: method must be 'newton' or 'table'; got {method!r}.")
    return op if method == "newton" else f"{op}_table"


class SharedTensor:
    """A value secret-shared among a session's parties (see the module docstring); ``reveal()`` is
    the only way out."""
    __slots__ = ("_session", "_id", "shape", "bound", "__weakref__")
    __array_ufunc__ = None  # numpy defers to our reflected operators (x + shared -> __radd__)

    def __init__(self, session: "BaseSession", tensor_id: int, shape: tuple[int, ...],
                 bound: float | None = None) -> None:
        self._session = session
        self._id = tensor_id
        self.shape = tuple(shape)
        self.bound = bound  # public: |value| <= bound, or None when unknown (see _bounds.py)

    def __del__(self) -> None:
        session = getattr(self, "_session", None)
        if session is not None:
            session.release(self._id)

    # ------------------------------------------------------------------ introspection
    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def n_parties(self) -> int:
        return self._session.n_parties

    @property
    def fractional_bits(self) -> int:
        return self._session.fractional_bits

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d SharedTensor")
        return self.shape[0]

    def __repr__(self) -> str:
        return (f"SharedTensor(shape={self.shape}, parties={self.n_parties}, "
                f"fractional_bits={self.fractional_bits})")

    def __bool__(self) -> bool:
        raise SecuredError(
            "The truth value of a SharedTensor is secret. Compare securely and reveal the "
            "result explicitly, e.g. (x > 0).reveal().")

    def __array__(self, *args: Any, **kwargs: Any) -> np.ndarray:
        raise SecuredError("A SharedTensor cannot be converted to a numpy array; call .reveal().")

    def __iter__(self):
        raise SecuredError("Iterating over a SharedTensor is not supported; index it or reveal it.")

    # ------------------------------------------------------------------ the way out
    def reveal(self) -> np.ndarray:
        """The plaintext value as float64 (all parties send their shares to the driver)."""
        s = self._session
        return s.be.decode(s.reveal_ring(self), s.fractional_bits)

    # ------------------------------------------------------------------ arithmetic
    def _same_session(self, other: "SharedTensor") -> None:
        if other._session is not self._session:
            raise SecuredError("These SharedTensors belong to different sessions; share both in one Session.")

    def _public(self, value: Any) -> tuple[str, Any]:
        """A public operand: ('int', ring int array) for integers, ('fix', encoded) for reals."""
        s = self._session
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            return "int", s.be.asarray(int(value))
        arr = np.asarray(value)
        if arr.dtype.kind in "iu" and arr.dtype != np.uint64:
            return "int", s.be.asarray(arr.astype(np.int64).view(np.uint64))
        if arr.dtype.kind in "fiub":
            return "fix", s.be.encode(arr.astype(np.float64), s.fractional_bits)
        raise SecuredError(f"Unsupported public operand of type {type(value).__name__} (dtype {arr.dtype}).")

    def _encoded_public(self, value: Any) -> Any:
        s = self._session
        return s.be.encode(np.asarray(value, dtype=np.float64), s.fractional_bits)

    def __add__(self, other: Any) -> "SharedTensor":
        if isinstance(other, SharedTensor):
            self._same_session(other)
            return self._session.run("add", self, other)
        return self._session.run("add_public", self, self._encoded_public(other))

    __radd__ = __add__

    def __sub__(self, other: Any) -> "SharedTensor":
        if isinstance(other, SharedTensor):
            self._same_session(other)
            return self._session.run("sub", self, other)
        return self._session.run("add_public", self, self._session.be.neg(self._encoded_public(other)))

    def __rsub__(self, other: Any) -> "SharedTensor":
        return self._session.run("rsub_public", self, self._encoded_public(other))

    def __neg__(self) -> "SharedTensor":
        return self._session.run("neg", self)

    def __mul__(self, other: Any) -> "SharedTensor":
        if isinstance(other, SharedTensor):
            self._same_session(other)
            if other._id == self._id:
                return self._session.run("square", self)
            return self._session.run("mul", self, other)
        kind, value = self._public(other)
        if kind == "int":
            return self._session.run("mul_public_int", self, value)
        extra = _extra_bits(other, self._session.fractional_bits, self.bound)
        if extra:
            bits = self._session.fractional_bits + extra
            return self._session.run("mul_public", self, self._session.be.encode(np.float64(other), bits), bits)
        return self._session.run("mul_public", self, value)

    __rmul__ = __mul__

    def square(self) -> "SharedTensor":
        return self._session.run("square", self)

    def __matmul__(self, other: Any) -> "SharedTensor":
        if isinstance(other, SharedTensor):
            self._same_session(other)
            return self._session.run("matmul", self, other)
        return self._session.run("matmul_public", self, self._encoded_public(other), False)

    def __rmatmul__(self, other: Any) -> "SharedTensor":
        return self._session.run("matmul_public", self, self._encoded_public(other), True)

    def __truediv__(self, other: Any) -> "SharedTensor":
        if isinstance(other, SharedTensor):
            self._same_session(other)
            return self._session.run("div", self, other)
        divisor = np.asarray(other, dtype=np.float64)
        if np.any(divisor == 0) or not np.all(np.isfinite(divisor)):
            raise SecuredError("Division by zero or by a non-finite public value.")
        return self * (1.0 / divisor)

    # ------------------------------------------------------------------ comparisons
    def __lt__(self, other: Any) -> "SharedTensor":
        """Secret [self < other] as 0.0 / 1.0 (sign of the difference by A2B conversion)."""
        return self._session.run("ltz", self - other)

    def __gt__(self, other: Any) -> "SharedTensor":
        diff = (other - self) if isinstance(other, SharedTensor) else (-self + other)
        return self._session.run("ltz", diff)

    def __le__(self, other: Any) -> "SharedTensor":
        return 1.0 - (self > other)

    def __ge__(self, other: Any) -> "SharedTensor":
        return 1.0 - (self < other)

    def sign(self) -> "SharedTensor":
        """-1.0 where negative, +1.0 elsewhere (zero counts as positive)."""
        return 1.0 - 2 * (self < 0)

    def relu(self) -> "SharedTensor":
        return self._session.run("relu", self)

    def __eq__(self, other: Any) -> "SharedTensor":  # type: ignore[override]
        """Secret [self == other] as 0.0 / 1.0."""
        return self._session.run("eq", self - other)

    def __ne__(self, other: Any) -> "SharedTensor":  # type: ignore[override]
        return 1.0 - (self == other)

    __hash__ = object.__hash__

    # ------------------------------------------------------------------ nonlinear
    def exp(self) -> "SharedTensor":
        return self._session.run("exp", self)

    def log(self) -> "SharedTensor":
        return self._session.run("log", self)

    def reciprocal(self, method: str = "newton") -> "SharedTensor":
        """1/x. ``method='newton'``: any 2^-16 <= |x| < 2^16, either sign (leading-one
        normalisation, then Newton steps; 30 rounds at 2 parties; errors in the README's
        accuracy table). ``'table'``: positive x in [1/16, 64] only, clamped to it, within 3.9e-4
        relative plus 5.4e-5 (a 128-piece table: 2 rounds as an FSS gate with protocol='fss' at
        2 parties, else the masked spline, 5 rounds at any number of parties)."""
        return self._session.run(_method("reciprocal", method), self)

    def sqrt(self) -> "SharedTensor":
        return self._session.run("sqrt", self)

    def rsqrt(self, method: str = "newton") -> "SharedTensor":
        """1/sqrt(x). ``method='newton'``: 2^-16 <= x < 2^16; ``'table'``: x in [1/16, 64] only,
        clamped to it, within 1.5e-4 relative plus 5.4e-5 (see ``reciprocal``)."""
        return self._session.run(_method("rsqrt", method), self)

    def sigmoid(self) -> "SharedTensor":
        return self._session.run("sigmoid", self)

    def tanh(self) -> "SharedTensor":
        return self._session.run("tanh", self)

    def softmax(self, axis: int = -1) -> "SharedTensor":
        return self._session.run("softmax", self, axis)

    def max(self, axis: int = -1) -> "SharedTensor":
        return self._session.run("max", self, axis)

    def argmax(self, axis: int = -1) -> "SharedTensor":
        """The index of the first maximum along ``axis``, as a secret (fixed-point) value."""
        return self._session.run("argmax", self, axis)

    def conv2d(self, weight: Any, stride: int = 1, padding: int = 0) -> "SharedTensor":
        """2-D cross-correlation like torch.nn.functional.conv2d: self (N, C, H, W), weight
        (O, C, kh, kw), shared or public."""
        if isinstance(weight, SharedTensor):
            self._same_session(weight)
            return self._session.run("conv2d", self, weight, int(stride), int(padding))
        return self._session.run("conv2d_public", self, self._encoded_public(weight), int(stride), int(padding))

    def sum(self, axis: int | tuple[int, ...] | None = None) -> "SharedTensor":
        return self._session.run("sum", self, axis)

    def mean(self, axis: int | tuple[int, ...] | None = None) -> "SharedTensor":
        count = self.size if axis is None else int(np.prod([self.shape[a] for a in np.atleast_1d(axis)]))
        return self.sum(axis) / count

    def reshape(self, *shape: Any) -> "SharedTensor":
        shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        return self._session.run("reshape", self, tuple(shape))

    def transpose(self, *axes: int) -> "SharedTensor":
        return self._session.run("transpose", self, axes or None)

    @property
    def T(self) -> "SharedTensor":
        return self.transpose()

    def __getitem__(self, index: Any) -> "SharedTensor":
        return self._session.run("getitem", self, index)


def _extra_bits(c: Any, fractional_bits: int, bound: float | None = None) -> int:
    """Fractional bits to add to a small public real factor's encoding so that it keeps about
    f significant bits (0.1 / 64 at f = 16 is 102.4 in units of 2^-16, 0.4% off once rounded;
    with 9 more bits it is 52,429 units of 2^-25). The product then carries f + extra bits and
    is truncated by as many, in the same round; it is no larger than a product by a factor in
    [1/2, 1) at f bits, and with a known ``bound`` on x never past 2^10 (fewer extra bits
    instead), where a truncation's failure chance stays below 2^-21. 0 for anything but a real scalar with 0 < |c| < 1/2."""
    if not isinstance(c, (float, np.floating)) or not math.isfinite(c) or c == 0 or abs(c) >= 0.5:
        return 0
    extra = min(fractional_bits, int(math.floor(-math.log2(abs(c)))))
    if bound is not None and bound > 0:
        # the wider product stays inside the envelope where a probabilistic truncation fails
        # with a chance below 2^-21 per element (|x c| 2^extra < 2^10; ``_protocols.truncate``)
        room = 2.0 ** 10 / (bound * abs(c))
        extra = min(extra, int(math.floor(math.log2(room)))) if room > 1 else 0
    return extra
