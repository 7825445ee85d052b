"""The numpy twin of the compiled DCF kernels (``secured._kernels._fss``): the same tree, the
same fixed-key AES PRG, the same bits, computed one tree level at a time for every element with
OpenSSL's AES-ECB (through ``cryptography``). The compiled kernels are tested against it; it
stands in where they are not built or the machine lacks AES-NI."""

from __future__ import annotations

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

__all__ = ["setup_key", "dcf_eval", "dcf_gen", "AESNI"]

AESNI = False
_ENCRYPT: list = []
_CLEAR = np.array([~np.uint64(3), np.uint64(2**64 - 1)], dtype=np.uint64)


def setup_key(key: bytes) -> None:
    _ENCRYPT[:] = [Cipher(algorithms.AES(key), modes.ECB())]


def _mmo(which: int, blocks: np.ndarray) -> np.ndarray:
    """Child ``which`` of every seed (rows of two uint64 words, low two bits zero):
    AES_K(s | which) xor (s | which)."""
    data = np.array(blocks, dtype=np.uint64, order="C")
    data[:, 0] |= np.uint64(which)
    enc = _ENCRYPT[0].encryptor().update(data.tobytes())
    return np.frombuffer(enc, dtype=np.uint64).reshape(-1, 2) ^ data


def _children(which: int, s: np.ndarray):
    y = _mmo(which, s)
    return y & _CLEAR, (y[:, 0] & 1).astype(np.uint8), ((y[:, 0] >> np.uint64(1)) & 1).astype(np.uint8)


def _leaf_bits(words: np.ndarray, leaf: np.ndarray) -> np.ndarray:
    """Bit ``leaf`` (0..127) of each 128-bit row (low word first)."""
    word = np.where(leaf >= 64, words[:, 1], words[:, 0])
    return ((word >> (leaf & np.uint64(63))) & np.uint64(1)).astype(np.uint8)


def dcf_eval(party, n, nu, seeds, scw, ctl, fin, x, out, threads=1, wide=True) -> None:
    m = x.shape[0]
    if m == 0:
        return
    s = np.asarray(seeds) & _CLEAR
    t = np.full(m, party, dtype=np.uint8)
    v = np.zeros(m, dtype=np.uint8)
    x = np.asarray(x, dtype=np.uint64)
    for i in range(n - nu):
        bit = ((x >> np.uint64(n - 1 - i)) & 1).astype(np.uint8)
        y = np.empty_like(s)
        for which in (0, 1):
            sel = bit == which
            if sel.any():
                y[sel] = _mmo(which, s[sel])
        tn = (y[:, 0] & 1).astype(np.uint8)
        vn = ((y[:, 0] >> np.uint64(1)) & 1).astype(np.uint8)
        c = np.asarray(ctl[:, i])
        v ^= vn ^ (t & c & 1)
        tn ^= t & ((c >> (1 + bit)) & 1)
        fix = np.asarray(scw[:, i, :]) * t[:, None].astype(np.uint64)
        s = (y & _CLEAR) ^ fix
        t = tn
    block = _mmo(2, s) ^ (np.asarray(fin) * t[:, None].astype(np.uint64))
    out[:] = v ^ _leaf_bits(block, x & np.uint64((1 << nu) - 1))


def dcf_gen(n, nu, alpha, seeds0, seeds1, scw, ctl, fin, threads=1) -> None:
    m = alpha.shape[0]
    if m == 0:
        return
    s = [np.asarray(seeds0) & _CLEAR, np.asarray(seeds1) & _CLEAR]
    t = [np.zeros(m, dtype=np.uint8), np.ones(m, dtype=np.uint8)]
    va = np.zeros(m, dtype=np.uint8)
    alpha = np.asarray(alpha, dtype=np.uint64)
    for i in range(n - nu):
        a = ((alpha >> np.uint64(n - 1 - i)) & 1).astype(np.uint8)
        S, T, V = {}, {}, {}
        for b in (0, 1):
            for c in (0, 1):
                S[b, c], T[b, c], V[b, c] = _children(c, s[b])
        keep = a.astype(bool)                   # True: the right child is kept
        pick = lambda left, right, cond: np.where(cond[:, None] if left.ndim == 2 else cond, right, left)  # noqa: E731
        lose_s = [pick(S[b, 0], S[b, 1], ~keep) for b in (0, 1)]
        keep_s = [pick(S[b, 0], S[b, 1], keep) for b in (0, 1)]
        lose_v = [pick(V[b, 0], V[b, 1], ~keep) for b in (0, 1)]
        keep_v = [pick(V[b, 0], V[b, 1], keep) for b in (0, 1)]
        keep_t = [pick(T[b, 0], T[b, 1], keep) for b in (0, 1)]
        cw = lose_s[0] ^ lose_s[1]
        vcw = lose_v[0] ^ lose_v[1] ^ va ^ a                 # beta = 1 when the left child is lost (a = 1)
        va = va ^ keep_v[0] ^ keep_v[1] ^ vcw
        tl = T[0, 0] ^ T[1, 0] ^ a ^ 1
        tr = T[0, 1] ^ T[1, 1] ^ a
        scw[:, i, :] = cw
        ctl[:, i] = vcw | (tl << 1) | (tr << 2)
        tkeep = np.where(keep, tr, tl)
        for b in (0, 1):
            s[b] = keep_s[b] ^ (cw * t[b][:, None].astype(np.uint64))
            t[b] = keep_t[b] ^ (t[b] & tkeep)
    low = (alpha & np.uint64((1 << nu) - 1)).astype(np.int64)
    j = np.arange(128)
    below = (j[None, :] < low[:, None])                                  # the leaf's 1{j < alpha_low}
    weights = (np.uint64(1) << (j % 64).astype(np.uint64))
    words = np.stack([(below[:, :64] * weights[:64]).sum(axis=1, dtype=np.uint64),
                      (below[:, 64:] * weights[64:]).sum(axis=1, dtype=np.uint64)], axis=1)
    fill = np.where(va.astype(bool), np.uint64(2**64 - 1), np.uint64(0))[:, None]
    fin[:] = _mmo(2, s[0]) ^ _mmo(2, s[1]) ^ fill ^ words
