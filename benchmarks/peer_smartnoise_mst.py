"""Peer baseline: smartnoise-synth's MST synthesizer on a table of strings (e.g. NIST CRC).

Runs ONLY in the separate peer environment ``.venv-synthpeers`` (smartnoise-synth 1.0.8 and
smartnoise-sql are installed there with ``--no-deps``; never install them into ``.venv``)::

    .venv-synthpeers/bin/python benchmarks/peer_smartnoise_mst.py \\
        --input secured/data/nist_crc_national2019.parquet --epsilon 1.0 --delta 1e-6 \\
        --out /tmp/peer_mst/nist2019_eps1.csv [--columns AGEP,SEX,...] [--seed 0]

Every column is modelled as categorical (smartnoise's MST accepts only categorical/ordinal
columns). Wide numeric columns are first put into FIXED bins whose edges are written below and
never read from the data (see ``BINS``); the special codes of the NIST data dictionary ('N',
WGTP '0', POVPIP '501') stay values of their own, and numbers outside the edges go to the end
bins. Binned columns come out of the synthesizer as bin labels such as ``[25,30)``.

Privacy budget. smartnoise spends ``preprocessor_eps`` only when a column transformer must learn
something from the private rows (bounds of continuous columns). Here the transformer is built
and fitted beforehand on PUBLIC category lists, so nothing is learnt from the rows and the whole
(epsilon, delta) goes to MST's measurements; the script checks that the preprocessing odometer
spent 0 and prints it. The category list of a column is, in order of preference: the labels of
its fixed bins; the code list of the data dictionary (``--dictionary``, the bundled NIST CRC
dictionary by default; an integer 'min'/'max' range of at most 200 values is enumerated); and
only when neither exists, the values seen in the data, which is smartnoise's own default
behaviour and is NOT differentially private (such columns are listed in the output as
``categories_from_data``). A cell outside its public list is an error.

Noise is drawn by OpenDP from the system's secure RNG and cannot be seeded; ``--seed`` seeds
numpy, which smartnoise uses for the tree selection and for sampling. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

DEFAULT_DICTIONARY = Path(__file__).resolve().parents[1] / "secured" / "data" / "nist_crc_data_dictionary.json"

_WEIGHT_EDGES = [1, 5, 10, 15, 20, 25, 30, 40, 50, 60, 70, 80, 90, 100, 125, 150, 175, 200, 250, 300, 400, 500,
                 750, 1000, 1500, 2000, 10000]

# Fixed, data-independent bins: column -> (right-open edges, codes kept as values of their own).
BINS: dict[str, tuple[list[float], list[str]]] = {
    # age in 5-year bands, 0-99 (the dictionary's range)
    "AGEP": (list(range(0, 101, 5)), []),
    # income in dollars: negatives, exactly 0, then round-dollar bands up to the dictionary's max
    "PINCP": ([-9000, 0, 1, 5000, 10000, 15000, 20000, 25000, 30000, 40000, 50000, 60000, 75000, 100000,
               125000, 150000, 200000, 300000, 500000, 1341001], ["N"]),
    # income-to-poverty ratio in steps of 25 (percent) up to 500; 501 ("above 5x") is its own code
    "POVPIP": (list(range(0, 501, 25)) + [501], ["N", "501"]),
    # sampling weights: the same hand-picked round edges for both; WGTP 0 (group quarters) is a code
    "PWGTP": (_WEIGHT_EDGES, []),
    "WGTP": (_WEIGHT_EDGES, ["0"]),
    # people per square mile: round edges roughly 2-3 per decade
    "DENSITY": ([0, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000], []),
    # 4-digit industry codes grouped by hundreds ([100,200) = codes 0100-0199)
    "INDP": (list(range(0, 10001, 100)), ["N"]),
}


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def bin_labels(edges: list[float]) -> list[str]:
    return [f"[{_fmt(lo)},{_fmt(hi)})" for lo, hi in zip(edges[:-1], edges[1:])]


def apply_bins(values: pd.Series, edges: list[float], codes: list[str]) -> pd.Series:
    """Map each cell to its fixed bin label; listed codes are kept as they are. Numbers below
    the first edge go to the first bin, at or above the last edge to the last bin."""
    labels = np.array(bin_labels(edges), dtype=object)
    is_code = values.isin(codes)
    numbers = pd.to_numeric(values.where(~is_code), errors="coerce")
    bad = numbers.isna() & ~is_code
    if bad.any():
        raise ValueError(f"column {values.name}: {int(bad.sum())} cells are neither numbers nor listed codes")
    index = np.clip(np.searchsorted(np.asarray(edges, dtype=float), numbers.fillna(edges[0]).to_numpy(),
                                    side="right") - 1, 0, len(labels) - 1)
    return pd.Series(np.where(is_code, values, labels[index]), index=values.index, name=values.name)


def dictionary_categories(entry: dict) -> list[str] | None:
    values = entry.get("values") if isinstance(entry, dict) else None
    if not isinstance(values, dict):
        return None
    codes = [k for k in values if k not in ("min", "max")]
    if "min" in values or "max" in values:
        lo, hi = values.get("min"), values.get("max")
        if not (isinstance(lo, int) and isinstance(hi, int) and hi - lo < 200):
            return None  # a wide or non-integer range: not usable as a category list
        codes += [str(v) for v in range(lo, hi + 1) if str(v) not in codes]
    return codes


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--input", required=True, help="parquet table, every column as strings")
    ap.add_argument("--epsilon", type=float, required=True)
    ap.add_argument("--delta", type=float, required=True)
    ap.add_argument("--out", required=True, help="CSV to write the synthetic rows to")
    ap.add_argument("--columns", default="", help="comma-separated subset of columns (default: all)")
    ap.add_argument("--preprocessor-eps", type=float, default=0.0,
                    help="passed to smartnoise's fit; stays unspent because the transformer is fitted "
                         "on public categories beforehand (default 0.0)")
    ap.add_argument("--dictionary", default=str(DEFAULT_DICTIONARY),
                    help="JSON data dictionary with public code lists ('' for none)")
    ap.add_argument("--seed", type=int, default=None, help="seeds numpy (tree selection, sampling), not the noise")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args(argv)

    from snsynth.mst import MSTSynthesizer
    from snsynth.transform.label import LabelTransformer
    from snsynth.transform.table import TableTransformer

    # mbi 1.x warns that smartnoise hands it a DataFrame; harmless
    warnings.filterwarnings("ignore", message="Pandas dataframe inputs are deprecated")
    if args.seed is not None:
        np.random.seed(args.seed)

    table = pd.read_parquet(args.input)
    if args.columns:
        wanted = [c.strip() for c in args.columns.split(",") if c.strip()]
        missing = [c for c in wanted if c not in table.columns]
        if missing:
            ap.error(f"columns not in the input: {missing}")
        table = table[wanted]
    table = table.astype(object).where(table.notna(), "NA").astype(str)

    dictionary: dict = {}
    if args.dictionary and Path(args.dictionary).exists():
        dictionary = json.loads(Path(args.dictionary).read_text(encoding="utf-8"))

    binned, from_data, categories = {}, [], {}
    for column in table.columns:
        if column in BINS:
            edges, codes = BINS[column]
            table[column] = apply_bins(table[column], edges, codes)
            categories[column] = list(codes) + bin_labels(edges)
            binned[column] = {"edges": edges, "own_codes": codes, "bins": len(edges) - 1}
            shown = edges if len(edges) <= 30 else f"{edges[:3]} ... {edges[-2:]}"
            print(f"binned {column}: {len(edges) - 1} fixed bins, edges {shown}, own codes {codes}",
                  file=sys.stderr)
            continue
        listed = dictionary_categories(dictionary.get(column, {}))
        if listed is None:
            listed = sorted(set(table[column]))
            from_data.append(column)
        categories[column] = listed
        outside = ~table[column].isin(listed)
        if outside.any():
            raise ValueError(f"column {column}: {int(outside.sum())} cells outside its public category list")
    if from_data:
        print(f"WARNING: category lists read from the data (not DP, smartnoise's default): {from_data}",
              file=sys.stderr)

    # One label transformer per column, fitted on the public list only: nothing to learn from the rows.
    transformers = []
    for column in table.columns:
        t = LabelTransformer(nullable=False)
        t.fit(categories[column])
        transformers.append(t)
    transformer = TableTransformer(transformers)
    assert transformer.fit_complete and not transformer.needs_epsilon

    synth = MSTSynthesizer(epsilon=args.epsilon, delta=args.delta, verbose=args.verbose)
    start = time.perf_counter()
    synth.fit(table, transformer=transformer, categorical_columns=list(table.columns),
              preprocessor_eps=args.preprocessor_eps)
    fit_seconds = time.perf_counter() - start
    spent_eps, spent_delta = transformer.odometer.spent
    if spent_eps != 0.0 or not math.isclose(synth.epsilon, args.epsilon):
        raise RuntimeError(f"preprocessing spent epsilon {spent_eps}; expected none")

    start = time.perf_counter()
    rows = synth.sample(len(table))
    sample_seconds = time.perf_counter() - start
    # the inverse transform gives a DataFrame for DataFrame input, else a list of tuples
    out = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows), columns=table.columns)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    out.to_csv(args.out, index=False)

    report = {"tool": "smartnoise-synth MST", "input": str(args.input), "out": str(args.out),
              "epsilon": args.epsilon, "delta": args.delta, "rows": int(len(out)), "input_rows": int(len(table)),
              "columns": len(table.columns), "fit_seconds": round(fit_seconds, 3),
              "sample_seconds": round(sample_seconds, 3), "preprocessor_eps_given": args.preprocessor_eps,
              "preprocessor_eps_spent": float(spent_eps), "binned": sorted(binned),
              "categories_from_data": from_data, "seed": args.seed}
    print(json.dumps(report))
    return report


if __name__ == "__main__":
    main()
