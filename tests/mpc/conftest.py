"""SMPC sessions for the tests: every op is checked on both communicators (in-process threads
and Ray actors) with 2, 3 and 5 parties. One local Ray instance serves the whole test run."""

from __future__ import annotations

import os
import tempfile

import pytest

from secured.mpc import Session

KINDS = [("thread", 2), ("thread", 3), ("thread", 5), ("ray", 2), ("ray", 3), ("ray", 5)]
_sessions: dict[tuple[str, int], object] = {}


@pytest.fixture(scope="session")
def ray_runtime():
    os.environ.setdefault("RAY_TMPDIR", tempfile.mkdtemp(prefix="secured-ray-"))
    from secured.cluster import ensure_ray

    ensure_ray(num_cpus=2)
    yield
    for key in [k for k in _sessions if k[0] == "ray"]:
        _sessions.pop(key).close()
    import ray

    ray.shutdown()


def make_session(kind: str, n: int, **kw):
    if kind == "thread":
        return Session(n_parties=n, **kw)
    from secured.cluster import RaySession

    return RaySession(n_parties=n, **kw)


@pytest.fixture(params=KINDS, ids=[f"{k}-{n}" for k, n in KINDS])
def session(request):
    kind, n = request.param
    if kind == "ray":
        request.getfixturevalue("ray_runtime")
    s = _sessions.get((kind, n))
    if s is None or s._closed or s._broken:
        s = _sessions[(kind, n)] = make_session(kind, n, timeout=60)
    return s


def pytest_sessionfinish(session, exitstatus):
    for key in [k for k in _sessions if k[0] == "thread"]:
        _sessions.pop(key).close()
