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
