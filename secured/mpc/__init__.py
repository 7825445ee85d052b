"""SMPC engine: secret-shared tensors over Z_2^64, dealer-backed protocols, communicators.

Threat model: semi-honest parties (they follow the protocol but try to learn from what they
see) and a dealer that does not collude with any party. A party sees only uniformly random
shares and masked openings; the values it learns are the ones revealed on purpose.

>>> import numpy as np
>>> from secured.mpc import Session
>>> with Session(n_parties=2) as s:
...     w = s.share(np.eye(2))
...     x = s.share(np.array([[1.0, 2.0]]))
...     (x @ w).reveal().tolist()
[[1.0, 2.0]]
"""

from ._comm import Network
from .session import BaseSession, Session
from .tensor import SharedTensor

__all__ = ["BaseSession", "Session", "SharedTensor", "share", "Network"]

_default_sessions: dict[int, Session] = {}


def share(x, n_parties: int = 2) -> SharedTensor:
    """Secret-share ``x`` in this process's default in-process session of ``n_parties``."""
    session = _default_sessions.get(n_parties)
    if session is None or session._closed:
        session = _default_sessions[n_parties] = Session(n_parties=n_parties)
    return session.share(x)
