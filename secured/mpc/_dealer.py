"""The dealer: a non-colluding helper that hands out correlated randomness, seed-compressed.

At set-up the dealer draws one 32-byte key per party and gives party i its key k_i. For the
j-th request, party i expands every part of its correlation from ChaCha20(k_i, counter=j); the
dealer expands the same streams for all parties, computes the correlated value, and sends a
single correction to party 0, which replaces party 0's share of the derived part. Parties 1..n-1
receive nothing. The dealer learns nothing about the data: it never sees a share of an input.

Correlations (``kind``):
    "mul" / "matmul" / ("conv", ...)   Beaver triples a, b, c = a*b (or a@b, conv(a, b))
    "square"                           pairs a, c = a*a
    "trunc"                            pairs r, arshift(r, f)
    "and"                              binary triples a, b, c = a & b (XOR shares)

Function-secret-sharing keys (2 parties, ``fss_key``) cannot be derived from the parties' seeds
(their corrections are the same for both parties and depend on the mask): the dealer makes the
pair for a request on the first party's call and hands the other key to the other party.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from ..backend import RingBackend, new_key

__all__ = ["Dealer", "Request", "expand_parts", "fold_shares"]

Request = tuple[str, tuple[tuple[int, ...], ...], int]  # (kind, shapes of the random parts, f)


def _split(words: Any, shapes: tuple[tuple[int, ...], ...]) -> list[Any]:
    out, pos = [], 0
    for shape in shapes:
        size = math.prod(shape)
        out.append(words[pos:pos + size].reshape(shape))
        pos += size
    return out


def expand_parts(be: RingBackend, key: bytes, counter: int, shapes: tuple[tuple[int, ...], ...]) -> list[Any]:
    """The random parts of one request as party-with-``key`` sees them."""
    total = sum(math.prod(s) for s in shapes)
    return _split(be.prg(key, counter, total), shapes)


def fold_shares(per_party: list[list[Any]], count: int, combine: Callable[[Any, Any], Any]) -> list[Any]:
    """Combine (add or XOR) the first ``count`` parts of every party into the shared values."""
    totals = []
    for j in range(count):
        acc = per_party[0][j]
        for other in per_party[1:]:
            acc = combine(acc, other[j])
        totals.append(acc)
    return totals


class Dealer:
    """Generates corrections for party 0; parties expand everything else from their keys.

    ``derivations[kind] = (xor_parts, derived_xor, fn)``: whether the random parts are XOR
    (binary) or additive shares (one flag for all, or one per part), whether each derived
    part is, and ``fn(*totals, params)`` returning the derived values (a, b -> (a @ b,)).
    """

    def __init__(self, n_parties: int, backend: RingBackend, derivations: dict[str, tuple]) -> None:
        self.n_parties = n_parties
        self.be = backend
        self.keys = [new_key() for _ in range(n_parties)]
        self._derive = derivations
        self.bytes_sent = 0
        self.requests = 0
        self._fss: dict[int, dict[int, Any]] = {}
        import threading

        self._fss_lock = threading.Lock()

    def fss_key(self, rank: int, counter: int, kind: str, shape: tuple[int, ...], param: int = 64) -> Any:
        """Party ``rank``'s key of FSS request ``counter``: kind 'sign' (sign, DReLU, ReLU; ``param``
        the input's bits) or a spline gate ('sigmoid', 'tanh'; ``param`` the session's
        fractional bits)."""
        from .fss import SPLINE_KINDS, sign_keygen, spline_keygen, spline_table

        if kind not in ("sign", *SPLINE_KINDS) or self.n_parties != 2:
            raise ValueError("FSS keys exist for the sign and spline gates of two parties")
        with self._fss_lock:
            pending = self._fss.pop(counter, None)
            if pending is None:
                pair = sign_keygen(tuple(shape), bits=param) if kind == "sign" else \
                    spline_keygen(spline_table(kind, param), tuple(shape))
                self.requests += 1
                self.bytes_sent += int(sum(k.key_bytes() for k in pair) * max(1, int(np.prod(shape))))
                pending = {0: pair[0], 1: pair[1]}
                self._fss[counter] = pending
            key = pending.pop(rank)
            if pending:
                self._fss[counter] = pending
            return key

    def key_for(self, rank: int) -> bytes:
        return self.keys[rank]

    def correction(self, counter: int, kind: str, shapes: tuple[tuple[int, ...], ...],
                   derived_shapes: tuple[tuple[int, ...], ...], params: Any = None) -> list[Any]:
        """Party 0's shares of the derived parts of request ``counter``."""
        be = self.be
        xor_parts, derived_xor, fn = self._derive[kind]
        # Party 0's derived parts are replaced by the corrections: only its random parts are drawn.
        per_party = [expand_parts(be, k, counter, shapes + (derived_shapes if i else ()))
                     for i, k in enumerate(self.keys)]
        flags = xor_parts if isinstance(xor_parts, tuple) else (xor_parts,) * len(shapes)
        totals = [fold_shares([parts[j:j + 1] for parts in per_party], 1, be.xor if flag else be.add)[0]
                  for j, flag in enumerate(flags)]
        values = list(fn(*totals, params=params))
        for j, is_xor in enumerate(derived_xor):
            combine = be.xp.bitwise_xor if is_xor else be.xp.subtract
            values[j] = be.asarray(values[j])
            if any(values[j] is t for t in totals):      # folded in place below: never into an input
                values[j] = values[j].copy()
            for i in range(1, self.n_parties):
                combine(values[j], per_party[i][len(shapes) + j], out=values[j])
        self.requests += 1
        self.bytes_sent += sum(int(np.asarray(be.to_numpy(v)).nbytes) for v in values)
        return values
