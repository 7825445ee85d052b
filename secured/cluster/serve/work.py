"""What each kind of job does. The HTTP layer and the workers only go through ``KINDS``.

A kind is a pydantic model of its parameters (every field described, unknown fields
refused), the files it takes (tables, JSON, arrays), a check that runs when the job is
submitted -- before anything is stored, so a missing column is a 400 and nothing is
written -- and a runner that calls the library (``secured.privacy``, ``secured.synth``,
``secured.bias``, ``secured.federation``) and returns the result (JSON) and output files.

Tables are parsed at submission by ``secured.io.read_table_bytes`` (CSV cells are text, an
empty cell is missing) and stored as Parquet, so the worker reads exactly what was checked.
Hierarchies over HTTP are builder specs only (``intervals:5,10``, ``prefix:3,1``, ``flat``,
``icd9``, ...): a path would make the server read its own files.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Mapping, Optional, Sequence

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from ...exceptions import BadInputError, ConfigurationError

__all__ = ["KINDS", "Kind", "prepare_inputs", "run_job", "table_bytes", "check_update_file"]

PARQUET = "application/vnd.apache.parquet"
JSON_TYPE = "application/json"
NPZ = "application/x-npz"
_BUILDERS = ("icd9", "icd10", "dates", "flat", "prefix", "intervals", "quantiles", "ordered")


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


Columns = list[str]


class AnonymizeParams(_Params):
    """k-anonymity (with l-diversity, t-closeness) of one table (``secured anonymize``)."""
    quasi_identifiers: Columns = Field(min_length=1, description="Columns an attacker may know.")
    k: int = Field(default=5, ge=2, le=1_000_000, description="k of k-anonymity.")
    method: Literal["optimal", "mondrian", "mdav"] = Field(
        default="optimal", description="optimal (global recoding), mondrian (local recoding) or mdav.")
    hierarchies: dict[str, str] = Field(default_factory=dict, description="Column -> hierarchy builder spec "
                                        "(intervals:5,10,20, prefix:3,1, quantiles:8,4, ordered:2,5, flat, icd9, "
                                        "icd10, dates); others are built from the values.")
    numeric: Columns = Field(default_factory=list, description="Numeric quasi-identifiers (mondrian, mdav).")
    max_suppression: float = Field(default=0.0, ge=0.0, le=0.99, description="Largest share of rows suppressed.")
    id_column: Optional[str] = Field(default=None, description="Person id: k counts people, not rows.")
    sensitive: Optional[str] = Field(default=None, description="Sensitive column for l and t.")
    l: Optional[float] = Field(default=None, ge=1.0, le=1e6, description="Required l-diversity.")
    l_variant: Literal["distinct", "entropy", "recursive"] = Field(default="distinct", description="l variant.")
    c: Optional[float] = Field(default=None, gt=0.0, le=1e6, description="c of recursive (c, l)-diversity.")
    t: Optional[float] = Field(default=None, gt=0.0, le=1.0, description="Required t-closeness.")
    t_distance: Literal["equal", "ordered", "hierarchical"] = Field(default="equal", description="t's distance.")
    drop: Columns = Field(default_factory=list, description="Direct identifiers removed from the release.")
    pseudonymize: Columns = Field(default_factory=list, description="Direct identifiers replaced by keyed "
                                  "HMAC pseudonyms (a random key, never stored).")
    keep: Columns = Field(default_factory=list, description="Undeclared columns kept on purpose although the "
                          "screening flags them.")
    output_format: Literal["parquet", "csv"] = Field(default="parquet", description="Format of the release.")


class ProtectParams(_Params):
    """Anonymize, attack, strengthen, repeat until every risk passes (``secured protect``)."""
    quasi_identifiers: Columns = Field(min_length=1, description="Columns an attacker may know.")
    max_risk: float = Field(default=0.05, gt=0.0, lt=1.0, description="Every risk's upper bound must be below.")
    sensitive: Columns = Field(default_factory=list, description="Sensitive columns (inference targets).")
    control_fraction: float = Field(default=0.2, ge=0.01, le=0.9, description="Share held out as control when "
                                    "no control table is uploaded.")
    hierarchies: dict[str, str] = Field(default_factory=dict, description="Column -> hierarchy builder spec.")
    numeric: Columns = Field(default_factory=list, description="Numeric quasi-identifiers (mondrian).")
    id_column: Optional[str] = Field(default=None, description="Person id: people counted once.")
    max_suppression: float = Field(default=0.02, ge=0.0, le=0.99, description="Suppression budget tried next "
                                   "to none (optimal).")
    methods: list[Literal["optimal", "mondrian", "mdav"]] = Field(default_factory=lambda: ["optimal", "mondrian"],
                                                                   min_length=1, description="Methods, in order.")
    k_values: list[int] = Field(default_factory=lambda: [2, 5, 10, 20, 50, 100], min_length=1,
                                description="The k ladder (each >= 2).")
    l: Optional[float] = Field(default=None, ge=1.0, le=1e6, description="l-diversity in every setting.")
    t: Optional[float] = Field(default=None, gt=0.0, le=1.0, description="t-closeness in every setting.")
    n_attacks: int = Field(default=2000, ge=10, le=200_000, description="Targets per attack.")
    max_attacks: int = Field(default=8000, ge=10, le=400_000, description="Most targets for an undecided release.")
    n_singling: int = Field(default=300, ge=10, le=100_000, description="Predicates per singling-out attack.")
    drop: Columns = Field(default_factory=list, description="Direct identifiers removed.")
    pseudonymize: Columns = Field(default_factory=list, description="Direct identifiers pseudonymized.")
    keep: Columns = Field(default_factory=list, description="Flagged columns kept on purpose.")
    seed: int = Field(default=0, ge=0, le=2**31 - 1, description="Seed of the control split and attacks.")
    output_format: Literal["parquet", "csv"] = Field(default="parquet", description="Format of the release.")


class AssessParams(_Params):
    """Attack a release: singling-out, linkability, inference (``secured assess``)."""
    quasi_identifiers: Columns = Field(default_factory=list, description="Columns the attacker knows (from the "
                                       "recoding when it comes from protect).")
    sensitive: Columns = Field(default_factory=list, description="Columns the attacker infers.")
    id_column: Optional[str] = Field(default=None, description="Person id (people counted once).")
    numeric: Optional[Columns] = Field(default=None, description="Numeric columns (matched by tolerance).")
    n_attacks: int = Field(default=1000, ge=10, le=200_000, description="Targets per attack.")
    n_singling: int = Field(default=300, ge=10, le=100_000, description="Predicates per singling-out attack.")
    seed: int = Field(default=0, ge=0, le=2**31 - 1, description="Seed of the attacks.")


class SynthFitParams(_Params):
    """Fit a synthetic-data generator (``secured synth fit``); the output is its JSON file."""
    generator: Literal["copula", "tvae", "tabddpm"] = Field(default="copula", description="Generator (the DP "
                                                           "generator MST needs a budget ledger: use the CLI).")
    iterations: Optional[int] = Field(default=None, ge=1, le=1_000_000, description="Training steps (tvae, "
                                      "tabddpm).")
    discrete_columns: Optional[Columns] = Field(default=None, description="Columns to treat as categories.")
    identifiers: Columns = Field(default_factory=list, description="Identifier columns, never synthesized.")
    seed: int = Field(default=0, ge=0, le=2**31 - 1, description="Seed.")
    device: Literal["auto", "cpu", "cuda"] = Field(default="auto", description="Where to train.")


class SynthEvaluateParams(_Params):
    """Fidelity, utility and privacy of synthetic rows against real ones (``secured synth evaluate``)."""
    target: Optional[str] = Field(default=None, description="Column predicted in the utility test.")
    quasi_identifiers: Optional[Columns] = Field(default=None, description="Columns for the privacy attacks.")
    n_attacks: int = Field(default=500, ge=10, le=100_000, description="Targets per attack.")
    privacy: bool = Field(default=True, description="Run the privacy attacks.")
    seed: int = Field(default=0, ge=0, le=2**31 - 1, description="Seed.")


class BiasMitigateParams(_Params):
    """Reweigh or resample a table so its outcome is independent of the protected groups."""
    protected: Columns = Field(min_length=1, description="Protected columns.")
    target: str = Field(description="Binary outcome column.")
    positive: Optional[str] = Field(default=None, description="Favourable label of the target.")
    method: Literal["reweigh", "resample"] = Field(default="reweigh", description="reweigh (adds a weight "
                                                   "column) or resample (rows drawn by group).")
    strength: float = Field(default=1.0, ge=0.0, le=1.0, description="0: no change, 1: full mitigation.")
    min_cell: int = Field(default=10, ge=0, le=1_000_000, description="Smaller groups are suppressed in reports.")
    seed: int = Field(default=0, ge=0, le=2**31 - 1, description="Seed.")
    output_format: Literal["parquet", "csv"] = Field(default="parquet", description="Format of the output.")


class AggregateParams(_Params):
    """One federated aggregation of uploaded client updates (``secured.federation`` strategies)."""
    strategy: str = Field(default="fedavg", description="fedavg, fedavgm, fedprox, fedadam, fedyogi, fedadagrad, "
                          "median, trimmed_mean, krum.")
    options: dict[str, Any] = Field(default_factory=dict, description="The strategy's options, e.g. "
                                    "{\"beta\": 0.1} for trimmed_mean.")
    round: int = Field(default=1, ge=1, le=1_000_000, description="Round number.")
    participants: list[str] = Field(default_factory=list, max_length=10_000, description=(
        "Rounds (/v1/federation/rounds): the members who each submit one update."))
    min_updates: Optional[int] = Field(default=None, ge=1, le=10_000, description=(
        "Rounds: updates needed before the owner may aggregate (default: every participant)."))


@dataclass(frozen=True)
class Kind:
    """A kind of job: its parameters, its files and what it does."""
    name: str
    params: type[_Params]
    run: Callable[[Any, Mapping[str, Any], Any], tuple[dict, dict]]
    tables: tuple[str, ...] = ()                 # required table inputs
    optional_tables: tuple[str, ...] = ()
    blobs: tuple[str, ...] = ()                  # other files (JSON, .npz), optional unless in required_blobs
    required_blobs: tuple[str, ...] = ()
    many: Optional[str] = None                   # a prefix taking any number of files (update_0, update_1, ...)
    check: Callable[[Any, Mapping[str, pd.DataFrame]], None] = field(default=lambda p, t: None)
    summary: str = ""


# -- helpers -------------------------------------------------------------------------------------

def table_bytes(df: pd.DataFrame, fmt: str = "parquet") -> tuple[bytes, str]:
    if fmt == "csv":
        return df.to_csv(index=False).encode(), "text/csv"
    buffer = io.BytesIO()
    try:
        df.to_parquet(buffer, index=False)
    except Exception:  # noqa: BLE001 - pyarrow's messages may quote the data
        raise BadInputError("The table could not be written as Parquet (a column of mixed types?); "
                            "ask for output_format csv.") from None
    return buffer.getvalue(), PARQUET


def _json_bytes(obj: Any) -> tuple[bytes, str]:
    from ...io import json_text

    return json_text(obj).encode(), JSON_TYPE


def _need(df: pd.DataFrame, columns: Sequence[Optional[str]], what: str) -> None:
    missing = [c for c in dict.fromkeys(c for c in columns if c) if c not in df.columns]
    if missing:
        raise BadInputError(f"The {what} table lacks column(s) {', '.join(map(repr, missing))}; it has "
                            f"{df.shape[1]} columns. Check the names (they are case-sensitive).")


def _hierarchies(specs: Mapping[str, str], df: pd.DataFrame) -> dict:
    from ...privacy.hierarchy import Hierarchy

    out = {}
    for column, spec in specs.items():
        if spec.partition(":")[0] not in _BUILDERS:
            raise ConfigurationError(f"The hierarchy for {column!r} must be a builder spec ({', '.join(_BUILDERS)}, "
                                     "e.g. intervals:5,10,20); files are not read over HTTP.")
        out[column] = Hierarchy.from_spec(column, spec, df[column])
    return out


# -- anonymize ----------------------------------------------------------------------------------

def _check_anonymize(p: AnonymizeParams, tables: Mapping[str, pd.DataFrame]) -> None:
    _need(tables["table"], [*p.quasi_identifiers, *p.numeric, p.id_column, p.sensitive, *p.drop, *p.pseudonymize,
                            *p.keep, *p.hierarchies], "uploaded")
    _hierarchies(p.hierarchies, tables["table"])


def _anonymizer(p: Any, df: pd.DataFrame, progress: Any, **extra: Any):
    from ...privacy.anonymizer import Anonymizer

    return Anonymizer(quasi_identifiers=list(p.quasi_identifiers), hierarchies=_hierarchies(p.hierarchies, df),
                      numeric=list(p.numeric), id_column=p.id_column, drop=list(p.drop),
                      pseudonymize=list(p.pseudonymize), keep=list(p.keep) or None, progress=progress, **extra)


def _run_anonymize(p: AnonymizeParams, tables: Mapping[str, pd.DataFrame], progress: Any) -> tuple[dict, dict]:
    df = tables["table"]
    anonymizer = _anonymizer(p, df, progress, k=p.k, method=p.method, max_suppression=p.max_suppression,
                             sensitive=p.sensitive, l=p.l, l_variant=p.l_variant, c=p.c, t=p.t,
                             t_distance=p.t_distance)
    release = anonymizer.fit_transform(df)
    report = dict(anonymizer.report_)
    return report, {"release": table_bytes(release, p.output_format),
                    "recoding": _json_bytes(anonymizer.recoding()), "report": _json_bytes(report)}


# -- protect ------------------------------------------------------------------------------------

def _check_protect(p: ProtectParams, tables: Mapping[str, pd.DataFrame]) -> None:
    _need(tables["table"], [*p.quasi_identifiers, *p.numeric, p.id_column, *p.sensitive, *p.drop, *p.pseudonymize,
                            *p.keep, *p.hierarchies], "uploaded")
    _hierarchies(p.hierarchies, tables["table"])
    if "control" in tables:
        _need(tables["control"], list(tables["table"].columns), "control")
    if any(k < 2 for k in p.k_values):
        raise ConfigurationError("Every k in k_values must be at least 2.")
    if (p.l is not None or p.t is not None) and not p.sensitive:
        raise ConfigurationError("l and t need a sensitive column (the first of 'sensitive').")


def _run_protect(p: ProtectParams, tables: Mapping[str, pd.DataFrame], progress: Any) -> tuple[dict, dict]:
    from ...privacy.protect import Protector

    df = tables["table"]
    sens = list(p.sensitive)
    template = _anonymizer(p, df, None, k=2, sensitive=sens[0] if (p.l is not None or p.t is not None) else None,
                           l=p.l, t=p.t)
    search: dict[str, Any] = {"k": sorted(set(p.k_values)), "method": list(dict.fromkeys(p.methods)),
                              "max_suppression": sorted({0.0, p.max_suppression})}
    if sens and p.l is None and p.t is None:
        search["l"] = [None, 2]
    protector = Protector(template, max_risk=p.max_risk, sensitive=sens, control_fraction=p.control_fraction,
                          search=search, n_attacks=p.n_attacks, max_attacks=p.max_attacks, n_singling=p.n_singling,
                          seed=p.seed, progress=progress)
    protector.fit(df, tables.get("control"))
    report = dict(protector.report_)
    outputs = {"report": _json_bytes(report)}
    if protector.release_ is not None:
        outputs["release"] = table_bytes(protector.release_, p.output_format)
        outputs["recoding"] = _json_bytes(protector.recoding_)
    return report, outputs


# -- assess -------------------------------------------------------------------------------------

def _check_assess(p: AssessParams, tables: Mapping[str, pd.DataFrame]) -> None:
    cols = [*p.quasi_identifiers, *p.sensitive, p.id_column, *(p.numeric or [])]
    _need(tables["original"], cols, "original")


def _run_assess(p: AssessParams, inputs: Mapping[str, Any], progress: Any) -> tuple[dict, dict]:
    from ...privacy.anonymizer import Anonymizer
    from ...privacy.protect import assess, assess_from_recoding

    ori, rel, ctl = inputs["original"], inputs["release"], inputs.get("control")
    rec = inputs.get("recoding")
    if rec is not None and "split" in rec:
        if p.quasi_identifiers or p.sensitive or p.id_column or p.numeric:
            raise ConfigurationError("quasi_identifiers, sensitive, id_column and numeric come from the protect "
                                     "recoding; leave them out.")
        report = assess_from_recoding(ori, rel, rec, ctl, progress=progress)
    else:
        if ctl is None:
            raise ConfigurationError("Assessment needs a control table (rows from the same population that the "
                                     "release did not use), or the recoding written by protect.")
        if not p.quasi_identifiers:
            raise ConfigurationError("Name the columns the attacker knows in quasi_identifiers.")
        anonymizer = Anonymizer.from_recoding(rec) if rec is not None else None
        report = assess(ori, rel, ctl, list(p.quasi_identifiers), list(p.sensitive), anonymizer=anonymizer,
                        id_column=p.id_column, numeric=p.numeric, n_attacks=p.n_attacks, n_singling=p.n_singling,
                        seed=p.seed, progress=progress)
    report = dict(report)
    return report, {"report": _json_bytes(report)}


# -- synthetic data -----------------------------------------------------------------------------

def _check_synth_fit(p: SynthFitParams, tables: Mapping[str, pd.DataFrame]) -> None:
    _need(tables["table"], [*(p.discrete_columns or []), *p.identifiers], "uploaded")


def _run_synth_fit(p: SynthFitParams, tables: Mapping[str, pd.DataFrame], progress: Any) -> tuple[dict, dict]:
    from ...synth import TVAE, GaussianCopula, TabDDPM, dumps, typed

    df = typed(tables["table"])
    if p.generator == "copula":
        generator = GaussianCopula(seed=p.seed)
    else:
        extra = {} if p.iterations is None else {"iterations": p.iterations}
        generator = (TVAE if p.generator == "tvae" else TabDDPM)(seed=p.seed, device=p.device, progress=progress,
                                                                 **extra)
    generator.fit(df, p.discrete_columns, p.identifiers or None)
    data = dumps(generator)
    return ({"generator": p.generator, "rows": int(len(df)), "columns": list(generator.schema_.names),
             "bytes": len(data)}, {"generator": (data, JSON_TYPE)})


def _check_synth_evaluate(p: SynthEvaluateParams, tables: Mapping[str, pd.DataFrame]) -> None:
    cols = list(tables["real_train"].columns)
    for name in ("synthetic", "real_holdout"):
        _need(tables[name], cols, name)
    _need(tables["real_train"], [p.target, *(p.quasi_identifiers or [])], "real_train")


def _run_synth_evaluate(p: SynthEvaluateParams, tables: Mapping[str, pd.DataFrame], progress: Any
                        ) -> tuple[dict, dict]:
    from ...synth import evaluate, typed

    report = evaluate(typed(tables["real_train"]), typed(tables["synthetic"]), typed(tables["real_holdout"]),
                      target=p.target, quasi_identifiers=p.quasi_identifiers, n_attacks=p.n_attacks,
                      privacy=p.privacy, seed=p.seed)
    return dict(report), {"report": _json_bytes(report)}


# -- bias ---------------------------------------------------------------------------------------

def _check_bias(p: BiasMitigateParams, tables: Mapping[str, pd.DataFrame]) -> None:
    _need(tables["table"], [*p.protected, p.target], "uploaded")


def _run_bias(p: BiasMitigateParams, tables: Mapping[str, pd.DataFrame], progress: Any) -> tuple[dict, dict]:
    from ...bias import Resampling, Reweighing, bias_report

    df = tables["table"]
    before = bias_report(df, list(p.protected), p.target, positive=p.positive, min_cell=p.min_cell)
    if p.method == "reweigh":
        mitigation = Reweighing(list(p.protected), p.target, positive=p.positive, strength=p.strength,
                                min_cell=p.min_cell, seed=p.seed)
        weights = mitigation.fit_transform(df)
        out = df.assign(weight=weights.to_numpy())
        after = bias_report(df, list(p.protected), p.target, positive=p.positive, min_cell=p.min_cell,
                            weights=weights.to_numpy())
    else:
        out = Resampling(list(p.protected), p.target, positive=p.positive, strength=p.strength,
                         min_cell=p.min_cell, seed=p.seed).fit(df).fit_resample(df)
        after = bias_report(out, list(p.protected), p.target, positive=p.positive, min_cell=p.min_cell)
    result = {"method": p.method, "before": before.findings, "after": after.findings, "rows": int(len(out))}
    return result, {"table": table_bytes(out, p.output_format), "report": _json_bytes(result)}


# -- federation ---------------------------------------------------------------------------------

def _arrays(data: bytes, what: str) -> tuple[list, Optional[int]]:
    import numpy as np

    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            names = sorted((n for n in npz.files if n.startswith("arr_")), key=lambda n: int(n[4:]))
            arrays = [np.array(npz[n]) for n in names]
            n = int(npz["num_examples"]) if "num_examples" in npz.files else None
    except Exception:  # noqa: BLE001 - numpy's messages can quote the file
        raise BadInputError(f"The {what} file is not an .npz of arrays arr_0, arr_1, ... (numpy.savez).") from None
    if not arrays:
        raise BadInputError(f"The {what} file holds no arrays named arr_0, arr_1, ...")
    return arrays, n


def check_update_file(data: bytes) -> None:
    """A client update as the aggregation needs it: arrays and a positive num_examples."""
    _, n = _arrays(data, "update")
    if n is None or n < 1:
        raise BadInputError("The update file needs num_examples (a positive count) next to its arrays.")


def _run_aggregate(p: AggregateParams, inputs: Mapping[str, Any], progress: Any) -> tuple[dict, dict]:
    import numpy as np

    from ...federation.strategies import Update, build

    strategy = build(p.strategy, **p.options)
    current, _ = _arrays(inputs["current"], "current")
    updates = []
    for name in sorted(k for k in inputs if k.startswith("update")):
        params, n = _arrays(inputs[name], name)
        if n is None or n < 1:
            raise BadInputError(f"The {name} file needs num_examples (a positive count) next to its arrays.")
        updates.append(Update(params, n, name))
    if not updates:
        raise BadInputError("Upload at least one update (files update_0, update_1, ...).")
    new = strategy.aggregate(p.round, updates, current)
    buffer = io.BytesIO()
    np.savez(buffer, *new)
    return ({"strategy": p.strategy, "round": p.round, "clients": len(updates),
             "examples": int(sum(u.num_examples for u in updates))}, {"params": (buffer.getvalue(), NPZ)})


KINDS: dict[str, Kind] = {k.name: k for k in (
    Kind("anonymize", AnonymizeParams, _run_anonymize, tables=("table",), check=_check_anonymize,
         summary="k-anonymity (l, t) by optimal recoding, Mondrian or MDAV; outputs release, recoding, report."),
    Kind("protect", ProtectParams, _run_protect, tables=("table",), optional_tables=("control",),
         check=_check_protect, summary="The anonymize-attack-strengthen loop; outputs release, recoding, report."),
    Kind("assess", AssessParams, _run_assess, tables=("original", "release"), optional_tables=("control",),
         blobs=("recoding",), check=_check_assess, summary="Singling-out, linkability and inference risks."),
    Kind("synth.fit", SynthFitParams, _run_synth_fit, tables=("table",), check=_check_synth_fit,
         summary="Fit a generator; output its JSON file (publish it to sample it over HTTP)."),
    Kind("synth.evaluate", SynthEvaluateParams, _run_synth_evaluate,
         tables=("real_train", "synthetic", "real_holdout"), check=_check_synth_evaluate,
         summary="Fidelity, utility and privacy of synthetic rows."),
    Kind("bias.mitigate", BiasMitigateParams, _run_bias, tables=("table",), check=_check_bias,
         summary="Reweigh or resample; outputs the table and the before/after findings."),
    Kind("federation.aggregate", AggregateParams, _run_aggregate, blobs=("current",), required_blobs=("current",),
         many="update", summary="Aggregate client updates (.npz with num_examples) with a strategy."),
)}


def prepare_inputs(kind: Kind, params: _Params, files: Mapping[str, tuple[bytes, str]]) -> dict[str, bytes]:
    """The files of a submission checked and ready to store: tables parsed (and stored as
    Parquet), JSON parsed, the kind's check run. Raises before anything is stored."""
    from ...io import read_table_bytes

    known = {*kind.tables, *kind.optional_tables, *kind.blobs}
    unknown = [n for n in files if n not in known and not (kind.many and n.startswith(kind.many))]
    if unknown:
        raise BadInputError(f"Job {kind.name} takes the files {', '.join(sorted(known)) or '(none)'}"
                            + (f" and {kind.many}_0, {kind.many}_1, ..." if kind.many else "")
                            + f"; not {', '.join(map(repr, sorted(unknown)))}.")
    missing = [n for n in (*kind.tables, *kind.required_blobs) if n not in files]
    if missing:
        raise BadInputError(f"Job {kind.name} needs the file(s) {', '.join(missing)}.")
    tables, stored = {}, {}
    for name, (data, filename) in files.items():
        if name in kind.tables or name in kind.optional_tables:
            df = read_table_bytes(data, filename)
            if len(df) == 0:
                raise BadInputError(f"The {name} table has no rows.")
            tables[name] = df
            stored[name] = table_bytes(df)[0]
        elif name == "recoding":
            try:
                value = json.loads(data.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                raise BadInputError("The recoding file is not JSON (write it with anonymize or protect).") from None
            if not isinstance(value, dict):
                raise BadInputError("The recoding file must hold a JSON object.")
            stored[name] = data
        else:
            _arrays(data, name)
            stored[name] = data
    kind.check(params, tables)
    return stored


def run_job(kind_name: str, params: Mapping[str, Any], inputs: Mapping[str, bytes], progress: Any
            ) -> tuple[dict, dict[str, tuple[bytes, str]]]:
    """Run a stored job: its inputs (name -> stored bytes) decoded, the kind's runner called."""
    if kind_name not in KINDS:
        raise ConfigurationError("Unknown job kind; this server runs: " + ", ".join(sorted(KINDS)) + ".")
    kind = KINDS[kind_name]
    parsed = kind.params.model_validate(dict(params))
    decoded: dict[str, Any] = {}
    for name, data in inputs.items():
        if name in kind.tables or name in kind.optional_tables:
            decoded[name] = pd.read_parquet(io.BytesIO(data))
        elif name == "recoding":
            decoded[name] = json.loads(data.decode("utf-8"))
        else:
            decoded[name] = data
    return kind.run(parsed, decoded, progress)
