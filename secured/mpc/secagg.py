"""Secure aggregation with pairwise masks (Bonawitz et al., CCS 2017), semi-honest server.

The server (the hub) learns the sum of the clients' vectors and nothing else, even when some
clients drop out after the keys are shared. Four rounds, every message a byte string passed
through the server (``SecAggServer`` relays and counts them):

0. Advertise: client u makes two X25519 key pairs, c (encrypting the shares) and s (pair
   masks), and sends both public keys.
1. Share keys: u draws a self-mask seed b_u, splits b_u and its secret key s_u with Shamir's
   scheme (threshold t, over the prime field 2^521 - 1) and sends each other client v its two
   shares encrypted with ChaCha20-Poly1305 under a key derived (HKDF-SHA256) from
   X25519(c_u, c_v).
2. Masked input: y_u = x_u + PRG(b_u) + sum_{v > u} PRG(s_uv) - sum_{v < u} PRG(s_uv) in
   Z_2^32, where s_uv = HKDF(X25519(s_u, s_v)) is shared by u and v alone and PRG is the
   project's ChaCha20 stream. The pair masks cancel in the sum.
3. Unmask: every surviving client sends, for each client that sent a masked input, its share
   of b_u, and for each client that shared keys but dropped, its share of s_u; never both for
   one client (a client refuses a request that names someone as both). The server rebuilds the
   seeds from t shares, removes the self masks and the dropped clients' pair masks, and has
   the sum of the survivors' inputs.

Two rings: Z_2^32 for float vectors (below) and Z_2^64 for values that already are ring
elements, such as a party's SMPC shares (``masked_ring``; the server gets the raw ring sum):
that is how clusters sum their secret-shared models across clusters without any cluster's
model being opened (``secured.federation.smpc``).

Numbers travel in fixed point: x is clipped by the caller to [-bound, bound] (a value outside
is refused), encoded as round(x * 2^scale_bits) in two's complement in Z_2^32, and the sum is
decoded the same way; ``check_capacity`` refuses settings where n * bound * 2^scale_bits could
overflow 2^31. A masked vector has 4 bytes per value, the size of a plain float32 vector.

>>> import numpy as np
>>> xs = [np.sin(np.arange(5) + k) for k in range(4)]
>>> total = secure_sum(xs, threshold=3, bound=10.0)
>>> bool(np.allclose(total, np.sum(xs, axis=0), atol=1e-3))
True
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ..backend import chacha20_words
from ..exceptions import BadInputError, ConfigurationError, IntegrityError

__all__ = ["SecAggClient", "SecAggServer", "secure_sum", "check_capacity", "encode", "decode", "PRIME",
           "shamir_split", "shamir_join"]

PRIME = (1 << 521) - 1          # a Mersenne prime above every 256-bit secret
RING_BITS = 32
_MASK = np.uint64((1 << RING_BITS) - 1)
_SHARE_BYTES = 66               # ceil(521 / 8)


# -- Shamir over GF(2^521 - 1) -------------------------------------------------------------------------
def shamir_split(secret: bytes, threshold: int, holders: Sequence[int]) -> dict[int, int]:
    """Shares of ``secret`` for the holders (their indices, 1-based x coordinates)."""
    value = int.from_bytes(secret, "big")
    if value >= PRIME:
        raise ConfigurationError("A Shamir secret must be shorter than 65 bytes.")
    coefficients = [value] + [secrets.randbelow(PRIME) for _ in range(threshold - 1)]
    out = {}
    for x in holders:
        y = 0
        for c in reversed(coefficients):       # Horner
            y = (y * x + c) % PRIME
        out[x] = y
    return out


def shamir_join(shares: dict[int, int], length: int) -> bytes:
    """The secret from (at least threshold) shares, by Lagrange interpolation at 0."""
    xs = list(shares)
    total = 0
    for i, xi in enumerate(xs):
        num, den = 1, 1
        for j, xj in enumerate(xs):
            if i != j:
                num = num * (-xj) % PRIME
                den = den * (xi - xj) % PRIME
        total = (total + shares[xi] * num * pow(den, PRIME - 2, PRIME)) % PRIME
    return total.to_bytes(length, "big")


# -- fixed point in Z_2^32 -----------------------------------------------------------------------------
def check_capacity(n_clients: int, bound: float, scale_bits: int) -> None:
    """Refuse settings whose sum could wrap the 32-bit ring."""
    if not (isinstance(scale_bits, int) and 0 <= scale_bits <= 24):
        raise ConfigurationError("scale_bits must be an int in [0, 24].")
    if not (isinstance(bound, (int, float)) and bound > 0):
        raise ConfigurationError("bound must be a positive number (clip the updates to it first).")
    if n_clients * bound * 2 ** scale_bits >= 2 ** (RING_BITS - 1):
        raise ConfigurationError(f"{n_clients} clients x bound {bound:g} x 2^{scale_bits} could overflow the "
                                 "32-bit ring; lower scale_bits or the bound.")


def encode(x: np.ndarray, bound: float, scale_bits: int) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if not np.isfinite(x).all():
        raise BadInputError("A secure-aggregation input holds NaN or infinite values.")
    if np.abs(x).max(initial=0.0) > bound:
        raise BadInputError("A secure-aggregation input lies outside [-bound, bound]; clip it first.")
    return np.round(x * 2.0 ** scale_bits).astype(np.int64).astype(np.uint64) & _MASK


def decode(v: np.ndarray, scale_bits: int) -> np.ndarray:
    v = np.asarray(v, dtype=np.uint64) & _MASK
    signed = v.astype(np.int64) - ((v >= (1 << (RING_BITS - 1))).astype(np.int64) << RING_BITS)
    return signed.astype(np.float64) / 2.0 ** scale_bits


def _prg(seed: bytes, n: int, ring_bits: int = RING_BITS) -> np.ndarray:
    if ring_bits == 64:
        return chacha20_words(seed, 0, n)
    return chacha20_words(seed, 0, (n + 1) // 2).view(np.uint32)[:n].astype(np.uint64)


def _ring_mask(ring_bits: int) -> np.uint64:
    return np.uint64((1 << ring_bits) - 1) if ring_bits < 64 else np.uint64(0xFFFFFFFFFFFFFFFF)


def _kdf(secret: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret)


def _raw(public: X25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


@dataclass
class SecAggClient:
    """One client of the protocol; ``index`` is its 1-based Shamir x coordinate."""

    index: int
    size: int
    threshold: int
    bound: float = 1.0
    scale_bits: int = 16
    ring_bits: int = RING_BITS
    _c: X25519PrivateKey = field(default_factory=X25519PrivateKey.generate, repr=False)
    _s: X25519PrivateKey = field(default_factory=X25519PrivateKey.generate, repr=False)

    def advertise(self) -> bytes:
        return _raw(self._c.public_key()) + _raw(self._s.public_key())

    def share_keys(self, roster: dict[int, bytes]) -> dict[int, bytes]:
        """Round 1: encrypted shares of b_u and s_u for every other client in ``roster``."""
        if self.index not in roster or len(roster) < self.threshold:
            raise IntegrityError("The roster lacks this client or has fewer clients than the threshold.")
        self.roster_ = {v: (X25519PublicKey.from_public_bytes(k[:32]), X25519PublicKey.from_public_bytes(k[32:]))
                        for v, k in roster.items()}
        self._b = secrets.token_bytes(32)
        s_raw = self._s.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                      serialization.NoEncryption())
        holders = sorted(roster)
        b_shares = shamir_split(self._b, self.threshold, holders)
        s_shares = shamir_split(s_raw, self.threshold, holders)
        self.own_shares_ = {self.index: (b_shares[self.index], s_shares[self.index])}
        out = {}
        for v in holders:
            if v == self.index:
                continue
            plain = b_shares[v].to_bytes(_SHARE_BYTES, "big") + s_shares[v].to_bytes(_SHARE_BYTES, "big")
            out[v] = self._aead(v).encrypt(self._nonce(self.index), plain, self._ad(self.index, v))
        return out

    def _aead(self, v: int) -> ChaCha20Poly1305:
        return ChaCha20Poly1305(_kdf(self._c.exchange(self.roster_[v][0]), b"secured secagg shares"))

    @staticmethod
    def _nonce(sender: int) -> bytes:
        return sender.to_bytes(12, "little")

    @staticmethod
    def _ad(sender: int, receiver: int) -> bytes:
        return sender.to_bytes(4, "little") + receiver.to_bytes(4, "little")

    def receive_shares(self, ciphertexts: dict[int, bytes]) -> None:
        """The shares other clients encrypted for this one (sender -> ciphertext)."""
        self.held_ = dict(self.own_shares_)
        for u, ct in ciphertexts.items():
            try:
                plain = self._aead(u).decrypt(self._nonce(u), ct, self._ad(u, self.index))
            except (InvalidTag, KeyError):
                raise IntegrityError("A share failed authentication; the round is aborted.") from None
            self.held_[u] = (int.from_bytes(plain[:_SHARE_BYTES], "big"), int.from_bytes(plain[_SHARE_BYTES:], "big"))

    def masked_input(self, x: np.ndarray, shared: Sequence[int]) -> np.ndarray:
        """Round 2: y_u for the clients that completed round 1 (``shared``)."""
        x = np.asarray(x).reshape(-1)
        if x.size != self.size:
            raise BadInputError(f"The input has {x.size} values; the protocol was set up for {self.size}.")
        if self.ring_bits != RING_BITS:
            raise ConfigurationError("masked_input encodes floats in the 32-bit ring; use masked_ring for 64-bit "
                                     "ring values (SMPC shares).")
        return self._mask(encode(x, self.bound, self.scale_bits), shared).astype(np.uint32)

    def masked_ring(self, values: np.ndarray, shared: Sequence[int]) -> np.ndarray:
        """Round 2 for values already in the ring Z_2^ring_bits (a party's SMPC shares)."""
        values = np.asarray(values, dtype=np.uint64).reshape(-1)
        if values.size != self.size:
            raise BadInputError(f"The input has {values.size} values; the protocol was set up for {self.size}.")
        return self._mask(values & _ring_mask(self.ring_bits), shared)

    def _mask(self, y: np.ndarray, shared: Sequence[int]) -> np.ndarray:
        self.shared_ = set(shared)
        full = _ring_mask(self.ring_bits)
        with np.errstate(over="ignore"):
            y = (y + _prg(self._b, self.size, self.ring_bits)) & full
            for v in sorted(self.shared_):
                if v == self.index:
                    continue
                mask = _prg(self._pair_seed(self._s, self.roster_[v][1]), self.size, self.ring_bits)
                y = (y + mask) & full if self.index < v else (y - mask) & full
        return y

    @staticmethod
    def _pair_seed(own: X25519PrivateKey, other: X25519PublicKey) -> bytes:
        return _kdf(own.exchange(other), b"secured secagg pair mask")

    def unmask(self, survivors: Sequence[int], dropped: Sequence[int]) -> dict[int, tuple[str, int]]:
        """Round 3: the share of b_u for every survivor, of s_u for every dropped client."""
        survivors, dropped = set(survivors), set(dropped)
        if survivors & dropped:
            raise IntegrityError("The server named a client as both surviving and dropped; this client refuses "
                                 "to reveal shares that together would unmask it.")
        if not (survivors | dropped) <= self.shared_ or self.index not in survivors:
            raise IntegrityError("The unmasking request names clients outside the round.")
        if len(survivors) < self.threshold:
            raise IntegrityError("Fewer survivors than the threshold: nothing is revealed.")
        out = {}
        for u in survivors:
            out[u] = ("b", self.held_[u][0])
        for u in dropped:
            out[u] = ("s", self.held_[u][1])
        return out


class SecAggServer:
    """The relay and aggregator; it counts every byte it receives and sends."""

    def __init__(self, size: int, threshold: int, bound: float = 1.0, scale_bits: int = 16,
                 ring_bits: int = RING_BITS) -> None:
        if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
            raise ConfigurationError("size must be a positive int (values per input).")
        if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 2:
            raise ConfigurationError("threshold must be an int >= 2.")
        if ring_bits not in (32, 64):
            raise ConfigurationError("ring_bits must be 32 (floats in fixed point) or 64 (SMPC shares).")
        self.size, self.threshold, self.bound, self.scale_bits = size, threshold, bound, scale_bits
        self.ring_bits = ring_bits
        self.bytes_in = 0
        self.bytes_out = 0
        self.seen: list[tuple[str, int, bytes | np.ndarray]] = []   # everything the server received

    def _got(self, kind: str, sender: int, payload) -> None:
        self.bytes_in += len(payload) if isinstance(payload, bytes) else payload.nbytes
        self.seen.append((kind, sender, payload))

    def roster(self, keys: dict[int, bytes]) -> dict[int, bytes]:
        for u, k in keys.items():
            if not isinstance(k, bytes) or len(k) != 64:
                raise IntegrityError("A client's advertised keys are malformed.")
            self._got("keys", u, k)
        if len(keys) < self.threshold:
            raise IntegrityError(f"{len(keys)} clients advertised keys; the threshold is {self.threshold}.")
        if self.ring_bits == RING_BITS:
            check_capacity(len(keys), self.bound, self.scale_bits)
        self.u1 = sorted(keys)
        self.bytes_out += 64 * len(keys) * len(keys)
        return dict(keys)

    def route(self, shares: dict[int, dict[int, bytes]]) -> dict[int, dict[int, bytes]]:
        """Ciphertexts from each sender, regrouped by receiver."""
        self.u2 = sorted(shares)
        if len(self.u2) < self.threshold:
            raise IntegrityError("Fewer clients than the threshold shared their keys; the round is aborted.")
        inbox: dict[int, dict[int, bytes]] = {v: {} for v in self.u2}
        for u, per in shares.items():
            for v, ct in per.items():
                self._got("share", u, ct)
                if v in inbox:
                    inbox[v][u] = ct
                    self.bytes_out += len(ct)
        return inbox

    def collect(self, masked: dict[int, np.ndarray]) -> tuple[list[int], list[int]]:
        """Masked inputs; returns (survivors, dropped) for the unmasking request."""
        for u, y in masked.items():
            want = np.uint32 if self.ring_bits == 32 else np.uint64
            if u not in self.u2 or not isinstance(y, np.ndarray) or y.dtype != want or y.size != self.size:
                raise IntegrityError("A masked input is malformed or comes from outside the round.")
            self._got("masked", u, y)
        self.masked = masked
        survivors = sorted(masked)
        if len(survivors) < self.threshold:
            raise IntegrityError("Fewer masked inputs than the threshold; the round is aborted.")
        self.u3 = survivors
        dropped = [u for u in self.u2 if u not in masked]
        self.bytes_out += 4 * (len(survivors) + len(dropped)) * len(survivors)   # the two lists, as int32
        return survivors, dropped

    def finish(self, responses: dict[int, dict[int, tuple[str, int]]], roster: dict[int, bytes]) -> np.ndarray:
        """The sum of the survivors' inputs from t or more unmasking responses (floats in the
        32-bit ring; the raw uint64 ring sum in the 64-bit ring)."""
        if len(responses) < self.threshold:
            raise IntegrityError("Fewer unmasking responses than the threshold; the sum cannot be recovered.")
        b_shares: dict[int, dict[int, int]] = {}
        s_shares: dict[int, dict[int, int]] = {}
        for v, per in responses.items():
            for u, (kind, share) in per.items():
                self.bytes_in += _SHARE_BYTES
                (b_shares if kind == "b" else s_shares).setdefault(u, {})[v] = share
        full, bits = _ring_mask(self.ring_bits), self.ring_bits
        total = np.zeros(self.size, dtype=np.uint64)
        with np.errstate(over="ignore"):
            for y in self.masked.values():
                total = (total + y.astype(np.uint64)) & full
            for u in self.u3:
                seed = shamir_join(dict(list(b_shares[u].items())[: self.threshold]), 32)
                total = (total - _prg(seed, self.size, bits)) & full
            for u in self.u2:
                if u in self.masked:
                    continue
                raw = shamir_join(dict(list(s_shares[u].items())[: self.threshold]), 32)
                s_u = X25519PrivateKey.from_private_bytes(raw)
                for v in self.u3:    # u's pair masks are still inside v's masked input
                    seed = SecAggClient._pair_seed(s_u, X25519PublicKey.from_public_bytes(roster[v][32:]))
                    mask = _prg(seed, self.size, bits)
                    total = (total - mask) & full if v < u else (total + mask) & full
        self.revealed_b_, self.revealed_s_ = sorted(b_shares), sorted(s_shares)
        if self.ring_bits == 64:
            return total             # the ring sum; the caller decodes its fixed point
        return decode(total, self.scale_bits)


def secure_sum(inputs: Sequence[np.ndarray], *, threshold: int, bound: float = 1.0, scale_bits: int = 16,
               drop_after_sharing: Sequence[int] = (), server: SecAggServer | None = None) -> np.ndarray:
    """Run the four rounds in one process: the sum of ``inputs`` (those of clients that drop
    after sharing their keys, by 0-based position, are left out)."""
    inputs = [np.asarray(x, dtype=np.float64).reshape(-1) for x in inputs]
    size = inputs[0].size
    if any(x.size != size for x in inputs):
        raise BadInputError("Every secure-aggregation input must have the same number of values.")
    server = server or SecAggServer(size, threshold, bound, scale_bits)
    clients = [SecAggClient(i + 1, size, threshold, bound, scale_bits) for i in range(len(inputs))]
    roster = server.roster({c.index: c.advertise() for c in clients})
    inbox = server.route({c.index: c.share_keys(roster) for c in clients})
    for c in clients:
        c.receive_shares(inbox[c.index])
    gone = {i + 1 for i in drop_after_sharing}
    survivors, dropped = server.collect({c.index: c.masked_input(x, server.u2) for c, x in zip(clients, inputs)
                                         if c.index not in gone})
    responses = {c.index: c.unmask(survivors, dropped) for c in clients if c.index in survivors}
    return server.finish(responses, roster)
