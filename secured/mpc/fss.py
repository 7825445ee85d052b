"""Function-secret-sharing gates for two parties and a dealer (Boyle et al., EUROCRYPT 2021).

The dealer masks each input with a random r_in and hands each party a key; online, the
parties open the masked input x^ = x + r_in (one round, 8 bytes per element per party) and
evaluate their keys on x^ locally. The gates here are built on a distributed comparison
function (``secured.backend.fss_kernels``: a GGM tree on fixed-key AES, compiled with AES-NI):

- ``sign``: XOR shares of [x >= 0] (DReLU) in 1 round, 8 bytes per element online.
- ``relu`` / ``drelu``: additive shares of max(x, 0) and of [x >= 0] in 2 rounds, 8.125 bytes
  per element online: the second round opens the DReLU bit masked by a dealer bit (1 bit per
  element), after which the product with x is linear in the opened values.

Sign on ``bits`` bits: x^ mod 2^bits = y, and with r = r_in mod 2^bits, the top bit of
(y - r) mod 2^bits is y_top xor r_top xor [y_low < r_low] (the borrow of the low bits), the
last term a DCF on bits - 1 bits with alpha = r_low. This is exact for every x with
-2^(bits-1) <= x < 2^(bits-1); ``bits=64`` (the default) covers the whole ring, smaller
widths give smaller keys for values known to be bounded.

Key material: every random value the dealer draws comes from ChaCha20 under a fresh key from
the operating system (``secured.backend.new_key``), never a fixed or time seed. A party's key
is its 128-bit tree seed and the shared corrections (16 bytes and 3 bits per tree level, the
last 7 levels replaced by one 16-byte leaf correction), plus its shares of r_in and the
dealer's mask bits: 973 bytes per element at 64 bits, 957 for the correcting party with seed
compression (the acceptance bound is 1,000). ``key_bytes`` reports what the dealer sends
each party (a party whose seed and shares are derived from its dealer seed receives only the
corrections: ``compressed=True``).

Only two parties: multi-party DCF keys grow exponentially with the number of parties, so
sessions with more parties keep the protocols of ``secured.mpc._protocols``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from ..backend import chacha20_words, new_key
from ..backend import fss_kernels
from ..exceptions import ConfigurationError

__all__ = ["DCFKey", "SignKey", "sign_keygen", "sign", "relu", "drelu", "dcf_keygen", "key_bytes"]

_ONE = np.uint64(1)


@dataclass
class DCFKey:
    """One party's key of a batch of DCFs on ``n``-bit inputs (see fss_kernels for the layout)."""
    party: int
    n: int
    seeds: np.ndarray      # (m, 2) uint64: this party's 128-bit tree seeds
    scw: np.ndarray        # (m, L, 2) uint64: seed corrections (the same in both keys), L tree levels
    ctl: np.ndarray        # (m, L) uint8: output and control-bit corrections
    fin: np.ndarray        # (m, 2) uint64: the leaf block's correction (the last min(7, n) bits)

    def eval(self, x: np.ndarray, threads: Optional[int] = None) -> np.ndarray:
        """XOR shares (uint8) of [x < alpha] for public x."""
        return fss_kernels.dcf_eval(self.party, self.n, self.seeds, self.scw, self.ctl, self.fin, x, threads=threads)

    def wire_bytes(self, compressed: bool = False) -> int:
        """Bytes of this key on the wire (bits packed): the corrections, and the seeds unless
        they are derived from the party's dealer seed."""
        m, levels = self.seeds.shape[0], self.scw.shape[1]
        return (0 if compressed else 16 * m) + 16 * m * levels + math.ceil(3 * m * levels / 8) + 16 * m


class _Stream:
    """Dealer randomness: ChaCha20 words under a fresh OS key (one stream per key set)."""

    def __init__(self, key: Optional[bytes] = None) -> None:
        self.key, self.counter = key or new_key(), 0

    def words(self, n: int) -> np.ndarray:
        self.counter += 1
        return chacha20_words(self.key, self.counter, n) if n else np.zeros(0, dtype=np.uint64)

    def bits(self, n: int) -> np.ndarray:
        return (self.words(n) & _ONE).astype(np.uint8)


def dcf_keygen(alpha: np.ndarray, n: int, stream: Optional[_Stream] = None,
               threads: Optional[int] = None) -> tuple[DCFKey, DCFKey]:
    """Keys for [x < alpha] on n-bit inputs, one pair per element of alpha (< 2^n)."""
    stream = stream or _Stream()
    alpha = np.ascontiguousarray(alpha, dtype=np.uint64).reshape(-1)
    m = alpha.shape[0]
    if n < 64 and m and int(alpha.max()) >> n:
        raise ConfigurationError(f"alpha must be below 2^{n}.")
    seeds = stream.words(4 * m).reshape(2, m, 2)
    seeds &= np.array([~np.uint64(3), ~np.uint64(0)], dtype=np.uint64)
    scw, ctl, fin = fss_kernels.dcf_gen(n, alpha, seeds[0], seeds[1], threads=threads)
    return tuple(DCFKey(b, n, np.ascontiguousarray(seeds[b]), scw, ctl, fin) for b in (0, 1))  # type: ignore


@dataclass
class SignKey:
    """One party's key of the sign / DReLU / ReLU gates for a batch of elements."""
    party: int
    bits: int
    shape: tuple[int, ...]
    dcf: DCFKey
    r_in: np.ndarray       # uint64 additive share of the input mask
    r_top: np.ndarray      # uint8 XOR share of bit bits-1 of the mask
    m_bit: np.ndarray      # uint8 XOR share of the dealer's mask bit m (ReLU's second round)
    m_add: np.ndarray      # uint64 additive share of m
    m_r: np.ndarray        # uint64 additive share of m * r_in

    def key_bytes(self, compressed: bool = False) -> float:
        """Dealer bytes per element for this party (see ``key_bytes``)."""
        return key_bytes(self, compressed)


def key_bytes(key: SignKey, compressed: bool = False) -> float:
    """Bytes per element the dealer sends one party: the DCF key and its shares of r_in,
    r_top, m, m and m * r_in (bits packed). ``compressed``: a party that derives its seed and
    shares from its dealer seed receives only the DCF corrections and, as the correcting
    party, its shares of the values that cannot be derived (r_in, r_top, m, m*r_in)."""
    m = int(np.prod(key.shape)) or 1
    dcf = key.dcf.wire_bytes(compressed) / m
    shares = 8 + 8 + 8 + 2 / 8                     # r_in, m (additive), m*r_in; r_top and m as bits
    return dcf + (shares if not compressed or key.party == 0 else 0.0)


def sign_keygen(shape: tuple[int, ...], *, bits: int = 64, dealer_key: Optional[bytes] = None,
                threads: Optional[int] = None) -> tuple[SignKey, SignKey]:
    """Keys of the sign / DReLU / ReLU gates for values of ``shape`` known to lie in
    [-2^(bits-1), 2^(bits-1)) (``bits=64``: any ring element)."""
    if isinstance(bits, bool) or not isinstance(bits, int) or not 2 <= bits <= 64:
        raise ConfigurationError("bits must be an int from 2 to 64.")
    stream = _Stream(dealer_key)
    m = int(np.prod(shape))
    r_in = stream.words(m)
    low_mask = np.uint64((1 << (bits - 1)) - 1)
    low = r_in & low_mask
    top = ((r_in >> np.uint64(bits - 1)) & _ONE).astype(np.uint8)
    dcf = dcf_keygen(low, bits - 1, stream, threads)
    mask = stream.bits(m)
    r0, t0, mb0, ma0, mr0 = stream.words(m), stream.bits(m), stream.bits(m), stream.words(m), stream.words(m)
    with np.errstate(over="ignore"):
        parts = [(r0, t0, mb0, ma0, mr0),
                 (r_in - r0, top ^ t0, mask ^ mb0, mask.astype(np.uint64) - ma0, mask.astype(np.uint64) * r_in - mr0)]
    return tuple(SignKey(b, bits, tuple(shape), dcf[b], *parts[b]) for b in (0, 1))  # type: ignore


def _masked_sign_bits(comm: Any, x: np.ndarray, key: SignKey, threads: Optional[int]) -> tuple[np.ndarray, np.ndarray]:
    """Round 1: open x^ = x + r_in; XOR shares of [x >= 0] and the opened x^."""
    x = np.ascontiguousarray(x, dtype=np.uint64).reshape(-1)
    if x.shape[0] != key.r_in.shape[0]:
        raise ConfigurationError(f"The key is for {key.r_in.shape[0]} elements; the input has {x.shape[0]}.")
    with np.errstate(over="ignore"):
        gathered = comm.exchange([x + key.r_in])                    # round 1: open the masked input
        opened = gathered[0][0] + gathered[1][0]
    bits = key.bits
    y = opened & np.uint64((1 << bits) - 1) if bits < 64 else opened
    y_top = ((y >> np.uint64(bits - 1)) & _ONE).astype(np.uint8)
    borrow = key.dcf.eval(y & np.uint64((1 << (bits - 1)) - 1), threads)
    msb = borrow ^ key.r_top ^ (y_top if key.party == 0 else np.uint8(0))
    nonneg = msb ^ np.uint8(1) if key.party == 0 else msb
    return nonneg, opened


def sign(comm: Any, x: np.ndarray, key: SignKey, threads: Optional[int] = None) -> np.ndarray:
    """XOR shares (uint8, shaped like x) of [x >= 0]: one round."""
    nonneg, _ = _masked_sign_bits(comm, x, key, threads)
    return nonneg.reshape(key.shape)


def _arith_nonneg(comm: Any, x: np.ndarray, key: SignKey, threads: Optional[int]):
    nonneg, opened = _masked_sign_bits(comm, x, key, threads)
    masked = np.packbits(nonneg ^ key.m_bit)                      # 1 bit per element on the wire
    gathered = comm.exchange([masked])                                # round 2: open the masked bit
    d_hat = np.unpackbits(gathered[0][0] ^ gathered[1][0])[:nonneg.shape[0]].astype(np.uint64)
    with np.errstate(over="ignore"):
        sign_flip = _ONE - (d_hat << _ONE)                          # 1 - 2 d^ (mod 2^64)
        d = sign_flip * key.m_add + (d_hat if key.party == 0 else np.uint64(0))
    return d, d_hat, sign_flip, opened


def drelu(comm: Any, x: np.ndarray, key: SignKey, threads: Optional[int] = None) -> np.ndarray:
    """Additive shares (uint64 0/1, shaped like x) of [x >= 0]: two rounds."""
    d, *_ = _arith_nonneg(comm, x, key, threads)
    return d.reshape(key.shape)


def relu(comm: Any, x: np.ndarray, key: SignKey, threads: Optional[int] = None) -> np.ndarray:
    """Additive shares (uint64, shaped like x) of max(x, 0) (x a signed ring element): two
    rounds, 8.125 bytes per element per party online."""
    d, d_hat, sign_flip, opened = _arith_nonneg(comm, x, key, threads)
    with np.errstate(over="ignore"):
        # d * x = d * x^ - d * r_in, and d * r_in = d^ r_in + (1 - 2 d^) m r_in (all linear in shares)
        out = opened * d - d_hat * key.r_in - sign_flip * key.m_r
    return out.reshape(key.shape)
