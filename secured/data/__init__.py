"""Bundled public datasets (see ``secured/data/README.md`` for sources and licences).

>>> from secured.data import load
>>> load("adult").shape
(30162, 9)
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np

from ..exceptions import ConfigurationError

__all__ = ["load", "path", "DATASETS", "diabetes_readmission"]

DATASETS = {
    "diabetes130": "diabetes130.parquet",
    "adult": "adult.parquet",
    "nist2019": "nist_crc_national2019.parquet",
    "nist2018": "nist_crc_national2018.parquet",
}


def path(name: str) -> Path:
    """The bundled file ``name`` (a dataset name or a file name such as 'arx/adult_hierarchy_age.csv')."""
    filename = DATASETS.get(name, name)
    candidate = Path(str(resources.files(__package__) / filename))
    if not candidate.is_file():
        raise ConfigurationError(
            f"No bundled dataset or file {name!r}. Datasets: {', '.join(DATASETS)}.")
    return candidate


def load(name: str):
    """A bundled dataset as a pandas DataFrame of strings, exactly as in the source CSV."""
    import pandas as pd

    if name not in DATASETS:
        raise ConfigurationError(f"Unknown dataset {name!r}. Datasets: {', '.join(DATASETS)}.")
    return pd.read_parquet(path(name))


_DIABETES_NUMERIC = ["time_in_hospital", "num_lab_procedures", "num_procedures", "num_medications",
                     "number_outpatient", "number_emergency", "number_inpatient", "number_diagnoses"]
_DIABETES_CATEGORICAL = ["race", "gender", "age", "admission_type_id", "discharge_disposition_id",
                         "admission_source_id", "A1Cresult", "max_glu_serum", "insulin", "change",
                         "diabetesMed"]


def diabetes_readmission(rows: int | None = None, seed: int = 0):
    """Features, labels and patient ids for 30-day readmission on diabetes130.

    Features: the 8 numeric utilisation columns (standardised later by the caller) and one-hot
    encodings of 11 categorical columns; label 1 when ``readmitted == '<30'``. ``rows`` takes a
    reproducible random subset. Returns (X float64, y float64, patient_nbr int64, column names).
    """
    import pandas as pd

    df = load("diabetes130")
    if rows is not None:
        df = df.sample(n=rows, random_state=seed)
    numeric = df[_DIABETES_NUMERIC].astype(np.float64)
    dummies = pd.get_dummies(df[_DIABETES_CATEGORICAL], dtype=np.float64)
    X = pd.concat([numeric, dummies], axis=1)
    y = (df["readmitted"] == "<30").to_numpy(dtype=np.float64)
    return X.to_numpy(), y, df["patient_nbr"].to_numpy(dtype=np.int64), list(X.columns)


# NIST CRC columns that are numbers, with the public range the data dictionary gives and the
# bins a DP generator measures them in ('N' cells mean "not applicable": missing).
_NIST_NUMERIC = {
    "AGEP": {"kind": "integer", "low": 0, "high": 99},
    "NOC": {"kind": "integer", "low": 0, "high": 19, "missing": True},
    "NPF": {"kind": "integer", "low": 2, "high": 20, "missing": True},
    "DENSITY": {"low": 16.3, "high": 52864.7, "bins": 64, "scale": "log"},
    "PINCP": {"edges": [-9000, 0, 1] + sorted({int(round(x)) for x in np.geomspace(1000, 1341000, 40)}) + [1341001],
              "missing": True},
    # 501 is a code of its own ("above 5 x the poverty line"): a bin of its own
    "POVPIP": {"kind": "integer", "edges": list(range(0, 501, 10)) + [501, 501.5], "missing": True},
    "PWGTP": {"kind": "integer", "low": 1, "high": 9999, "bins": 48, "scale": "log"},
    "WGTP": {"kind": "integer", "edges": [0, 1] + sorted({int(round(x)) for x in np.geomspace(2, 9999, 40)}) + [10000]},
}


def nist_crc(year: int = 2019):
    """A NIST CRC excerpt with its numeric columns as numbers ('N' as missing) and every other
    column as the code strings of the data dictionary."""
    import pandas as pd

    if year not in (2018, 2019):
        raise ConfigurationError(f"NIST CRC excerpts are bundled for 2018 and 2019, not {year!r}.")
    df = load(f"nist{year}")
    for column in _NIST_NUMERIC:
        df[column] = pd.to_numeric(df[column].where(df[column] != "N"))
        if _NIST_NUMERIC[column].get("kind") == "integer":
            df[column] = df[column].astype("Int64")
    return df


def nist_crc_domain(reference=None) -> dict:
    """The public domain of the NIST CRC columns, from the published data dictionary: code
    lists for categorical columns, ranges (and bins) for numbers. The dictionary does not list
    the industry codes (INDP); they are taken from ``reference`` (a public table, e.g. the
    2018 excerpt), with cells outside that list counted as 'other'; without a reference INDP
    is left out. DENSITY is one published number per PUMA: with a reference its values are
    categories (-1 for one outside them), without one it is binned on a log scale."""
    import json

    with open(path("nist_crc_data_dictionary.json"), encoding="utf-8") as f:
        dictionary = json.load(f)
    domain: dict = {}
    for column, entry in dictionary.items():
        if column in ("INDP", "DENSITY") and reference is not None:
            codes = sorted(set(reference[column].dropna()))
            domain[column] = {"categories": codes, "other": "other" if column == "INDP" else -1.0}
        elif column in _NIST_NUMERIC:
            domain[column] = dict(_NIST_NUMERIC[column])
        elif column == "INDP":
            continue
        else:
            domain[column] = {"categories": list(entry["values"])}
    return domain
