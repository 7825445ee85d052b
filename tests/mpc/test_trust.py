"""The README's trust statements, attacked: a driver that tries to read a party's state or
input, to hand out its own keys, or to make values wrap silently; a library error that
would carry a party's cell to the driver."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from secured.exceptions import FixedPointOverflowError, PartyError, PartyRefused, SecuredError
from secured.mpc import Session

MARKER = "ZQXMARKER"


def test_a_private_input_is_not_opened_as_it_is(session, tmp_path):
    rows = np.arange(6, dtype=float).reshape(3, 2)
    path = tmp_path / "rows.npy"
    np.save(path, rows)
    session.load(0, "secret", str(path))
    x = session.input_from(0, "secret")
    with pytest.raises(PartyRefused, match="private input"):
        x.reveal()
    assert np.allclose((x * 2).reveal(), rows * 2)   # results computed from it are opened


def test_library_errors_inside_a_party_do_not_carry_cells(session, tmp_path):
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"a": [1.0, 2.0], "b": [MARKER, "3"]}).to_csv(bad, index=False)
    with pytest.raises(SecuredError) as err:
        session.load(0, "t", str(bad))
    assert MARKER not in str(err.value) and "not a table of numbers" in str(err.value)
    with pytest.raises(SecuredError) as err:
        session.load(0, "t", str(tmp_path / "missing.csv"))
    assert "No data file" in str(err.value)

    def leaky():
        raise ValueError(f"could not convert {MARKER!r} to float")

    with pytest.raises(PartyError) as err:
        session.load(0, "t", leaky)
    assert MARKER not in str(err.value) and "ValueError" in str(err.value)


def test_ray_party_and_dealer_actors_refuse_foreign_code_a_second_key_and_a_restart(ray_runtime):
    import ray

    from secured.cluster import RaySession

    with RaySession(n_parties=2) as s:
        party = s._parties[0]
        with pytest.raises(Exception) as err:
            ray.get(party.__ray_call__.remote(lambda actor: actor.party.ctx.private))
        assert "arbitrary code is refused" in str(err.value)
        with pytest.raises(Exception) as err:
            ray.get(party.set_key.remote(bytes(32)))
        assert "second key is refused" in str(err.value)
        with pytest.raises(Exception) as err:
            ray.get(party.start.remote(s._parties, s._dealer))
        assert "already started" in str(err.value)
        # the dealer refuses code too (it holds every party's key) and delivers its keys once
        dealer = s._dealer
        with pytest.raises(Exception) as err:
            ray.get(dealer.__ray_call__.remote(lambda actor: actor.dealer.key_for(0)))
        assert "arbitrary code is refused" in str(err.value)
        with pytest.raises(Exception) as err:
            ray.get(dealer.give_keys.remote(s._parties))
        assert "second delivery is refused" in str(err.value)
        assert (s.share(np.array([3.0])) * 2).reveal()[0] == pytest.approx(6.0)


def test_results_that_would_wrap_are_refused_before_they_run():
    with Session(2) as s:
        big = s.share(np.array([1e6]))
        with pytest.raises(FixedPointOverflowError, match="wrap"):
            big * big                                       # 1e12: past 2^31 at f = 16
        with pytest.raises(FixedPointOverflowError):
            s.share(np.full(1000, 1e12)).sum()             # 1e15: past 2^47
        with pytest.raises(FixedPointOverflowError):
            s.share(np.ones((4, 3000)) * 1000) @ s.share(np.ones((3000, 2)) * 1000)   # 3e9 per output
        with pytest.raises(FixedPointOverflowError, match="65536"):
            s.share(np.array([1e5])).reciprocal()
        # bounds follow the computation: within range, the same ops run and agree with numpy
        x, w = s.share(np.array([[1.5, -2.0]])), s.share(np.array([[4.0], [0.25]]))
        y = (x @ w * 3 + 1).relu()
        assert y.bound == pytest.approx((2.0 * 4.0 * 2) * 3 + 1)
        assert y.reveal()[0, 0] == pytest.approx(18.0 - 1.5 + 1, abs=1e-3)


def test_a_declared_bound_is_checked_by_the_owner(tmp_path):
    path = tmp_path / "v.npy"
    np.save(path, np.array([[5.0, -7.0]]))
    with Session(2) as s:
        s.load(1, "v", str(path))
        with pytest.raises(SecuredError, match="declared bound"):
            s.input_from(1, "v", bound=6.0)
        v = s.input_from(1, "v", bound=7.0)
        assert v.bound == 7.0
        with pytest.raises(FixedPointOverflowError):
            v * s.share(np.array([1e9]))


def test_checked_mode_catches_what_bounds_cannot():
    with Session(2, checked=True) as s:
        with pytest.raises(FixedPointOverflowError, match="reciprocal"):
            s.share(np.array([0.0, 2.0])).reciprocal()
        with pytest.raises(FixedPointOverflowError, match="sqrt"):
            s.share(np.array([-4.0])).sqrt()
        with pytest.raises(FixedPointOverflowError, match="exp"):
            s.share(np.array([30.0])).exp()
        assert s.share(np.array([-30.0])).exp().reveal()[0] == pytest.approx(0.0, abs=1e-3)
        assert s.share(np.array([4.0])).sqrt().reveal()[0] == pytest.approx(2.0, abs=1e-2)
    with Session(2) as s:   # without it, the README's documented behaviour: no error, a meaningless 0
        assert abs(s.share(np.array([-4.0])).sqrt().reveal()[0]) < 1
