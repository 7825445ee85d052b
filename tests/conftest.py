"""Shared test fixtures: the ring backends usable here, and hypothesis profiles."""

from __future__ import annotations

import os
import shutil

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "default", max_examples=60, deadline=None,
    # SMPC sessions are function-scoped fixtures that hand out one cached session per kind.
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.register_profile("thorough", max_examples=500, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def _gpu_usable() -> bool:
    try:
        from secured.backend import get_backend

        get_backend(name="cupy")
        return True
    except ImportError:
        return False


GPU = _gpu_usable()
CPU_BACKENDS = ["numpy", "cython"]
ALL_BACKENDS = CPU_BACKENDS + (["cupy"] if GPU else [])
NVCC = shutil.which("nvcc")


@pytest.fixture(params=ALL_BACKENDS)
def backend(request):
    from secured.backend import get_backend

    return get_backend(name=request.param)


def to_numpy(be, x):
    return be.to_numpy(x)


from tests.mpc.conftest import ray_runtime  # noqa: E402,F401  (one Ray instance for the run)
