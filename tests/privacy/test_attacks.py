"""Attacks, risk models and the protect loop, against Anonymeter's published method and
numbers measured with Anonymeter 1.1.0 on the same split, plain-Python recomputation and
planted records."""

from __future__ import annotations

import json
import math
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
from scipy.stats import hypergeom
from typer.testing import CliRunner

from secured.cli.main import app
from secured.data import load, path
from secured.exceptions import BadInputError, ConfigurationError
from secured.privacy import Hierarchy
from secured.privacy.anonymizer import Anonymizer
from secured.privacy.attacks import MixedSpace, inference, linkability, residual_risk, singling_out, wilson
from secured.privacy.protect import Protector, assess
from secured.privacy.risk import reidentification_risk, zayatz_population_uniques

QIS = ["sex", "age", "race", "marital-status", "education", "native-country", "workclass", "occupation"]
runner = CliRunner()


@pytest.fixture(scope="module")
def adult_split():
    df = load("adult").sample(frac=1, random_state=0).reset_index(drop=True)
    n = int(0.8 * len(df))
    return df.iloc[:n].reset_index(drop=True), df.iloc[n:].reset_index(drop=True)


def test_wilson_and_residual_risk():
    # Anonymeter 1.1.0 reports 0.000959 for 0 successes out of 2000 (Wilson centre, 95 %)
    assert wilson(0, 2000).value == pytest.approx(0.000959, abs=5e-7)
    z = 1.959963984540054
    s, n = 130, 400
    centre = (s + z * z / 2) / (n + z * z)
    half = z / (n + z * z) * math.sqrt(s * (n - s) / n + z * z / 4)
    assert (wilson(s, n).value, wilson(s, n).error) == pytest.approx((centre, half))
    a, c = wilson(900, 1000), wilson(600, 1000)
    r = residual_risk(a, c)
    assert r.value == pytest.approx((a.value - c.value) / (1 - c.value))
    assert r.ci[0] < r.value < r.ci[1]
    assert residual_risk(wilson(10, 1000), wilson(50, 1000)).value == 0.0  # clipped


# Means over seeds 0..9 measured with Anonymeter 1.1.0 (release = original, 2,000 attacks)
ANONYMETER = {"link1": 0.0114, "link10": 0.0835, "salary-class": 0.629, "occupation": 0.426}


def test_agrees_with_anonymeter_when_release_is_the_original(adult_split):
    ori, ctl = adult_split
    halves = (["age", "sex", "race", "marital-status"], ["education", "native-country", "workclass", "occupation"])
    seeds = range(5)
    ours = {
        "link1": np.mean([linkability(ori, ori, ctl, halves, n_neighbors=1, seed=s).risk.value for s in seeds]),
        "link10": np.mean([linkability(ori, ori, ctl, halves, n_neighbors=10, seed=s).risk.value for s in seeds]),
    }
    for secret in ("salary-class", "occupation"):
        aux = [c for c in ori.columns if c != secret]
        ours[secret] = np.mean([inference(ori, ori, ctl, aux, secret, seed=s).risk.value for s in seeds])
    for name, reference in ANONYMETER.items():
        assert abs(ours[name] - reference) <= 0.03, (name, ours[name], reference)


def test_side_by_side_with_anonymeter_when_installed(adult_split):
    """Runs Anonymeter itself (its own environment: `make peers`) on the same data and seeds."""
    from secured.bench.anonymeter_peer import anonymeter_python, run_anonymeter

    python = anonymeter_python()
    if python is None:
        pytest.skip("Anonymeter is not installed here (`make peers` creates .venv-anon)")
    ori, ctl = adult_split
    aux = [c for c in ori.columns if c != "occupation"]
    halves = (["age", "sex", "race", "marital-status"], ["education", "native-country", "workclass", "occupation"])
    specs = [{"name": "occupation", "kind": "inference", "secret": "occupation", "aux": aux, "n_attacks": 2000,
              "seeds": [0, 1, 2]},
             {"name": "link10", "kind": "linkability", "aux": halves, "n_neighbors": 10, "n_attacks": 2000,
              "seeds": [0, 1, 2]}]
    theirs = run_anonymeter(python, ori, ctl, specs, ["age"])
    assert set(theirs) == {"occupation", "link10"}
    ours = {"occupation": np.mean([inference(ori, ori, ctl, aux, "occupation", seed=s).risk.value for s in range(3)]),
            "link10": np.mean([linkability(ori, ori, ctl, halves, n_neighbors=10, seed=s).risk.value for s in range(3)])}
    for name in ours:
        assert abs(ours[name] - theirs[name]["risk"]) <= 0.03, (name, ours[name], theirs[name])


def test_singling_out_is_duplicate_aware(adult_split):
    ori, ctl = adult_split
    H = {c: Hierarchy.from_arx_csv(c, path(f"arx/adult_hierarchy_{c}.csv")) for c in QIS}
    anon = Anonymizer(k=5, quasi_identifiers=QIS, hierarchies=H, max_suppression=0.02)
    release = anon.fit_transform(ori)
    for mode in ("univariate", "multivariate"):
        r = singling_out(anon.transform(ori), release, anon.transform(ctl), QIS, mode=mode, n_attacks=200,
                         max_attempts=20_000, seed=1)
        assert r.successes["attack"] == 0 and r.details["predicates_found"] == 0
        assert r.risk.ci[1] < 0.02
    # every row twice: nothing is unique in the release, so nothing can be singled out
    doubled = pd.concat([ori, ori], ignore_index=True)
    r = singling_out(ori, doubled, ctl, QIS, mode="multivariate", n_attacks=100, max_attempts=5_000, seed=2)
    assert r.details["predicates_found"] == 0 and r.risk.value == 0.0


def test_planted_unique_record_is_found(adult_split):
    ori, ctl = adult_split
    H = {c: Hierarchy.from_arx_csv(c, path(f"arx/adult_hierarchy_{c}.csv")) for c in QIS}
    anon = Anonymizer(k=5, quasi_identifiers=QIS, hierarchies=H)
    release = anon.fit_transform(ori)
    planted = ori.iloc[[0]].copy()
    planted[["native-country", "occupation"]] = ["Atlantis", "Lighthouse-keeper"]
    ori_p = pd.concat([ori, planted], ignore_index=True)
    release_p = pd.concat([release, planted], ignore_index=True)  # a record published un-generalized
    r = singling_out(ori_p, release_p, ctl, QIS, mode="univariate", n_attacks=50, seed=3)
    assert r.details["singled_out_in_original"] >= 1
    assert any("Atlantis" in e or "Lighthouse-keeper" in e for e in r.details["examples"])


def test_inference_tracks_what_the_release_teaches():
    rng = np.random.default_rng(0)
    n = 4000
    x = rng.integers(0, 40, n)
    df = pd.DataFrame({"x": x, "c": rng.choice(list("abc"), n), "u": rng.random(n), "leak": x * 10.0 + 1,
                       "noise": rng.normal(size=n)})
    ori, ctl = df.iloc[:3000], df.iloc[3000:]
    # 'leak' is a function of x in the population too: knowing x reveals it for anyone (control as well)
    general = inference(ori, ori, ctl, ["x"], "leak", n_attacks=500, seed=0)
    assert general.attack_rate.value > 0.95 and general.risk.value < 0.1
    # 'noise' is unpredictable but the release (= original) holds each target's own value
    own = inference(ori, ori, ctl, ["x", "c", "u"], "noise", n_attacks=500, seed=0)
    assert own.risk.value > 0.9
    # numeric tolerance: guesses within 5 % count
    assert inference(ori, ori.assign(leak=ori["leak"] * 1.04), ctl, ["x"], "leak", n_attacks=300).attack_rate.value > 0.95


def test_kneighbors_matches_brute_force():
    rng = np.random.default_rng(5)
    rel = pd.DataFrame({"n": rng.normal(size=600), "c": rng.choice(list("pqrs"), 600),
                        "g": rng.choice(["[0, 10)", "[10, 20)", "*"], 600)})
    q = pd.DataFrame({"n": rng.normal(size=80), "c": rng.choice(list("pqrst"), 80),
                      "g": rng.integers(0, 20, 80).astype(str)})
    space = MixedSpace(rel, [q], ["n", "c", "g"])
    idx = space.kneighbors(space.others[0], space.subset(["n", "c", "g"]), 4, np.random.default_rng(0))
    span = max(rel["n"].max(), q["n"].max()) - min(rel["n"].min(), q["n"].min())

    def covers(cell, v):
        if cell == "*":
            return True
        lo, hi = (float(t) for t in cell.strip("[)").split(", "))
        return lo <= float(v) < hi

    for i in range(len(q)):
        d = (np.abs(rel["n"] - q["n"][i]) / span + (rel["c"] != q["c"][i])
             + np.array([0.0 if covers(cell, q["g"][i]) else 1.0 for cell in rel["g"]]))
        assert np.allclose(np.sort(d.to_numpy())[:4], d.to_numpy()[idx[i]])


def test_reidentification_models_by_hand():
    release = pd.DataFrame({"a": list("xxxyyz"), "b": ["1"] * 6})
    r = reidentification_risk(release, ["a", "b"])
    assert r["prosecutor"]["max"] == 1.0 and r["prosecutor"]["mean"] == pytest.approx(3 / 6)
    assert r["sample_uniqueness"] == pytest.approx(1 / 6)
    assert r["prosecutor"]["records_above_threshold"] == 1.0  # 1/3, 1/2 and 1/1 are all > 0.2
    assert reidentification_risk(release, ["a", "b"], threshold=0.4)["prosecutor"]["records_above_threshold"] == 0.5
    population = pd.DataFrame({"a": list("xxxxxxyyyyzz"), "b": ["1"] * 12})
    r = reidentification_risk(release, ["a", "b"], population=population)
    assert r["marketer"] == pytest.approx((3 / 6 + 2 / 4 + 1 / 2) / 6)
    assert r["journalist"]["max"] == pytest.approx(1 / 2)
    # Zayatz: recompute with the hypergeometric chances written out
    sizes, N = np.array([1, 1, 1, 2, 2, 3, 5]), 1000
    n = sizes.sum()
    values, freq = np.unique(sizes, return_counts=True)
    p = freq / freq.sum()
    once = np.array([float(Fraction(int(i) * math.comb(N - int(i), int(n) - 1), math.comb(N, int(n)))) for i in values])
    expected = 3 * p[0] * once[0] / (p * once).sum()
    assert zayatz_population_uniques(sizes, N) == pytest.approx(expected)
    assert once[1] == pytest.approx(hypergeom.pmf(1, N, 2, n))


def test_assess_bad_input(adult_split):
    ori, ctl = adult_split
    with pytest.raises(BadInputError, match="different columns.*'extra'"):
        assess(ori, ori.assign(extra=1), ctl, QIS[:3])
    with pytest.raises(BadInputError, match="control table is empty"):
        assess(ori, ori, ctl.iloc[:0], QIS[:3])
    with pytest.raises(BadInputError, match="'agee'"):
        assess(ori, ori, ctl, ["agee", "sex"])
    with pytest.raises(ConfigurationError, match="needs a control"):
        assess(ori, ori, None, QIS[:3])


def nist_args(tmp_path):
    n19, n18 = tmp_path / "n19.parquet", tmp_path / "n18.parquet"
    load("nist2019").to_parquet(n19)
    load("nist2018").to_parquet(n18)
    return [str(n19), "--quasi-identifiers", "PUMA,AGEP,SEX,RAC1P,MSP", "--sensitive", "INDP_CAT",
            "--control", str(n18), "--hierarchy", "PUMA=prefix:2", "--hierarchy", "AGEP=intervals:5,10,20,40",
            "--hierarchy", "SEX=flat", "--hierarchy", "RAC1P=flat", "--hierarchy", "MSP=flat", "--numeric", "AGEP",
            "--keep", "INDP,EDU,PINCP,PINCP_DECILE,POVPIP,PWGTP,WGTP"]


def test_protect_nist_with_2018_as_control(tmp_path):
    out, rep, page = tmp_path / "release.csv", tmp_path / "report.json", tmp_path / "report.html"
    result = runner.invoke(app, ["protect", *nist_args(tmp_path), "--out", str(out),
                                 "--report", str(rep), "--html", str(page)])
    assert result.exit_code == 0, result.output
    report = json.loads(rep.read_text())
    assert report["passed"] and out.exists() and report["iterations"]
    chosen = [it for it in report["iterations"] if it.get("passed")]
    assert chosen and all(r["ci"][1] < 0.05 for it in chosen for r in it["risks"].values())
    assert report["release"]["k"] >= report["chosen"]["k"]
    release = pd.read_csv(out, dtype=str, keep_default_na=False)
    sizes = release.groupby(["PUMA", "AGEP", "SEX", "RAC1P", "MSP"]).size()
    assert sizes.min() >= report["chosen"]["k"]
    assert "<svg" in page.read_text() and "max risk 0.05" in page.read_text()


def test_protect_impossible_threshold_writes_no_release(tmp_path):
    out, rep = tmp_path / "release.csv", tmp_path / "report.json"
    result = runner.invoke(app, ["protect", *nist_args(tmp_path), "--max-risk", "0.0005", "--k-values", "2",
                                 "--methods", "optimal", "--n-attacks", "300", "--out", str(out), "--report", str(rep)])
    assert result.exit_code == 2 and "no release was written" in result.output
    assert not out.exists() and not json.loads(rep.read_text())["passed"]


def test_protect_diabetes_people_counted_once():
    d = load("diabetes130")
    qis = ["age", "gender", "race", "diag_1", "admission_source_id"]
    H = {"age": Hierarchy.from_spec("age", "ordered:2,5", d["age"]), "diag_1": Hierarchy.icd9("diag_1", d["diag_1"]),
         **{c: Hierarchy.from_spec(c, "flat", d[c]) for c in ("gender", "race", "admission_source_id")}}
    template = Anonymizer(k=2, quasi_identifiers=qis, hierarchies=H, id_column="patient_nbr",
                          pseudonymize=["patient_nbr"], drop=["encounter_id"], keep="all")
    p = Protector(template, sensitive=["readmitted"], max_risk=0.05,   # the full loop: bench_protect.py
                  search={"k": [2], "method": ["optimal"], "max_suppression": [0.02]}).fit(d)
    assert p.report_["passed"] and p.release_ is not None
    people = p.release_.groupby(qis)["patient_nbr"].nunique()
    assert people.min() >= p.report_["chosen"]["k"]


def test_assess_cli(tmp_path, adult_split):
    ori, ctl = adult_split
    paths = {name: tmp_path / f"{name}.csv" for name in ("ori", "ctl", "bad")}
    ori.to_csv(paths["ori"], index=False)
    ctl.to_csv(paths["ctl"], index=False)
    ori.drop(columns=["race"]).to_csv(paths["bad"], index=False)
    out, page = tmp_path / "a.json", tmp_path / "a.html"
    args = ["--quasi-identifiers", "sex,age,race,marital-status", "--sensitive", "salary-class", "--n-attacks", "300",
            "--n-singling", "50"]
    result = runner.invoke(app, ["assess", str(paths["ori"]), str(paths["ori"]), "--control", str(paths["ctl"]),
                                 *args, "--out", str(out), "--html", str(page), "--max-risk", "0.05"])
    assert result.exit_code == 1, result.output          # an upper bound reaches the mark: exit 1
    report = json.loads(out.read_text())
    assert {"singling_out_univariate", "singling_out_multivariate", "linkability", "inference:salary-class"} == \
        set(report["risks"]) and "<svg" in page.read_text()
    result = runner.invoke(app, ["assess", str(paths["ori"]), str(paths["bad"]), "--control", str(paths["ctl"]),
                                 *args, "--out", str(tmp_path / "b.json")])
    assert result.exit_code == 2 and "'race'" in result.output and not (tmp_path / "b.json").exists()
    result = runner.invoke(app, ["assess", str(paths["ori"]), str(paths["ori"]), *args, "--out", str(tmp_path / "c.json")])
    assert result.exit_code == 2 and "--control" in result.output


def test_distance_to_closest_record(adult_split):
    from secured.privacy.risk import distance_to_closest_record

    ori, ctl = adult_split
    train, fresh = ori.iloc[:12000], ori.iloc[12000:18000]
    copies = distance_to_closest_record(train, train.sample(2000, random_state=1), ctl, list(ori.columns))
    assert copies["exact_copies"] == 1.0 and copies["closer_to_original"]["ci"][0] > 0.6
    unrelated = distance_to_closest_record(train, fresh.sample(2000, random_state=1), ctl, list(ori.columns))
    lo, hi = unrelated["closer_to_original"]["ci"]
    assert lo - 0.03 < 0.5 < hi + 0.03 and unrelated["exact_copies"] < 0.5


def test_protect_builds_missing_hierarchies():
    df = load("adult").head(8000)
    qis = ["age", "sex", "race", "marital-status"]
    p = Protector(Anonymizer(k=2, quasi_identifiers=qis), max_risk=0.05, n_attacks=500).fit(df)
    assert p.report_["hierarchies_built"] == {"age": "quantiles:16,8,4,2", "sex": "by-frequency:2,4",
                                              "race": "by-frequency:2,4", "marital-status": "by-frequency:2,4"}
    assert p.report_["passed"] and p.release_.groupby(qis).size().min() >= p.report_["chosen"]["k"]
    with pytest.raises(BadInputError, match="'agee'"):
        Protector(Anonymizer(k=2, quasi_identifiers=["agee"])).fit(df)
