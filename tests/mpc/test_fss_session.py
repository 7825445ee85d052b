"""FSS gates inside sessions: ReLU, x < 0 and x >= 0 equal plaintext (and the classic protocol)
with protocol='fss', the cost model's choice recorded per op, 2 rounds per FSS op from the
communicators' own counters, three parties always classic, on threads and on Ray."""

from __future__ import annotations

import numpy as np
import pytest

from secured.exceptions import ConfigurationError
from secured.mpc import Session
from secured.mpc import Network
from secured.mpc.costs import CostModel


def _check(session, x):
    t = session.share(x)
    session.reset_stats()
    relu = t.relu().reveal()
    below = (t < 0).reveal()
    nonneg = session.run("ge0", t).reveal()
    xr = np.round(x * 2**16) / 2**16                          # the encoded input
    np.testing.assert_allclose(relu, np.maximum(xr, 0), atol=2**-16)
    np.testing.assert_array_equal(below, (xr < 0).astype(float))
    np.testing.assert_array_equal(nonneg, (xr >= 0).astype(float))
    return session.stats()


def _x(m=5000):
    rng = np.random.default_rng(0)
    x = rng.normal(0, 50, m)
    x[:4] = [0.0, -2**-16, 2**-16, -30000.0]
    return x


@pytest.mark.parametrize("protocol", ["fss", "classic"])
def test_thread_session_gates_equal_plaintext(protocol):
    with Session(2, protocol=protocol) as s:
        stats = _check(s, _x())
    party = stats["parties"][0]
    used = {op: counts["fss"] > 0 for op, counts in party["protocols"].items()}
    assert used == {"relu": protocol == "fss", "ltz": protocol == "fss", "ge0": protocol == "fss"}
    if protocol == "fss":
        assert party["by_op"]["relu"][1] == 2 and party["by_op"]["ltz"][1] == 2
        assert party["by_op"]["relu"][0] == 5000 * 8 + 5000 // 8          # 8.125 bytes per element
        assert stats["dealer"]["bytes_sent"] > 3 * 5000 * 2 * 900            # ~1 KB per element per party
    else:
        assert party["by_op"]["relu"][1] == 6                                 # the masked comparison, then the injection


def test_three_parties_and_the_cost_model():
    with Session(3, protocol="fss") as s:
        stats = _check(s, _x(500))
    assert all(c["fss"] == 0 for c in stats["parties"][0]["protocols"].values())
    wan = CostModel(Network(latency=0.02, bandwidth=12.5e6))               # 20 ms, 100 Mbit/s
    lan = CostModel(Network(latency=0.0, bandwidth=10e9))
    assert wan.choose("relu", 2**20, 2) == "fss" and lan.choose("relu", 2**20, 2) == "classic"
    assert wan.choose("relu", 2**20, 3) == "classic" and wan.choose("relu", 2**20, 2, "classic") == "classic"
    row = wan.report(2**20)[0]
    assert row["fss_s"] < row["classic_s"]
    with pytest.raises(ConfigurationError):
        Session(2, protocol="fastest")
    with pytest.raises(ConfigurationError):
        Session(2, link="20ms")


def test_ray_session_runs_the_fss_gates(ray_runtime):
    from secured.cluster import RaySession

    s = RaySession(2, protocol="fss")
    try:
        stats = _check(s, _x(2000))
    finally:
        s.close()
    assert stats["parties"][1]["protocols"]["relu"]["fss"] == 1


@pytest.mark.gpu
def test_fss_gates_in_a_gpu_session():
    """On a cupy session the FSS gates run on the host (keys and DCF walks are the host's): the
    same values as the CPU session's gates, 2 rounds each, results back on the GPU."""
    from ..conftest import GPU

    if not GPU:
        pytest.skip("no usable CUDA GPU / cupy here")
    x = _x(3000)
    with Session(2, protocol="fss", backend="cupy") as gpu, Session(2, protocol="fss") as cpu:
        stats = _check(gpu, x)
        _check(cpu, x)
        t, c = gpu.share(x), cpu.share(x)
        np.testing.assert_allclose(t.sigmoid().reveal(), c.sigmoid().reveal(), atol=2 * 2**-16)
        np.testing.assert_allclose(gpu.relu_with_mask(t)[1].reveal(), (np.round(x * 2**16) >= 0).astype(float))
    party = stats["parties"][0]
    assert party["protocols"]["relu"]["fss"] == 1 and party["by_op"]["relu"][1] == 2
