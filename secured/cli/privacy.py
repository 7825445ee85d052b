"""The data-flow commands: ``secured anonymize``, ``assess``, ``protect`` and ``dp histogram``.

Every output path is checked before the work starts (a folder, an unwritable place, an input
file: refused); results go to stdout, progress and errors to stderr. A release and the
documents that describe it are written so that a kill between them cannot pass off an old
report as the new release's: the report (and recoding) name the release's SHA-256, and the
release is renamed into place last.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.markup import escape

from ..exceptions import BadInputError, ConfigurationError
from ._common import RichProgress
from .bias import BiasPositive, BiasProtected, BiasTarget, bias_section, check_bias_options
from ._common import columns as _columns
from ._common import console, err_console
from ._common import exit_with as _exit_with

# --register and its companions, shared by anonymize and protect
Register = Annotated[bool, typer.Option(help="Register the release in the hub (token: SECURED_TOKEN).")]
Title = Annotated[Optional[str], typer.Option(help="Inventory title for --register (default: file name).")]
Tags = Annotated[str, typer.Option(help="Comma-separated inventory tags for --register.")]
Keep = Annotated[str, typer.Option(help="Comma-separated columns kept on purpose although they identify people "
                                        "alone or with the quasi-identifiers (or 'all'); see the report's "
                                        "undeclared_columns.")]
Items = Annotated[str, typer.Option(help="Comma-separated item columns CODE[:DATE] (codes such as "
                                         "diag_1,diag_2,diag_3; diag_1:admitted dates diag_1 by the admitted "
                                         "column): a person's items are gathered from all their rows (needs "
                                         "--id-column).")]
DatePrecision = Annotated[Optional[str], typer.Option(help="Release item dates at this precision (day, month, "
                                                           "quarter, year, none); default: the least loss that "
                                                           "meets (k, k^m).")]
AttackerPrecision = Annotated[str, typer.Option(help="How precisely the attacker knows the dates of the items they "
                                                     "know (day, month, quarter, year, none).")]
M = Annotated[Optional[int], typer.Option("--m", help="Items an attacker knows (1-4): (k, k^m)-anonymity of the "
                                                     "items and attacks with m known items.")]
ItemHierarchy = Annotated[Optional[str], typer.Option(help="Hierarchy SPEC or ARX CSV for the item codes "
                                                          "(default icd9; icd10, prefix:3,1, ...).")]
MaxItemSuppression = Annotated[float, typer.Option(min=0.0, max=0.99, help="Largest share of person-items "
                                                                           "suppressed.")]
HierarchyOpt = Annotated[Optional[list[str]], typer.Option(
    "--hierarchy", help="COLUMN=SPEC, repeatable; SPEC is a path to an ARX-format CSV or a builder: icd9, dates, flat, "
                        "prefix:3,1, intervals:5,10,20, quantiles:8,4,2, ordered:2,5. Quasi-identifiers without "
                        "one get one built from their values (reported).")]


def _parse_items(text: str) -> tuple[list[str], dict[str, str]]:
    """--items CODE[:DATE],...: the item columns and the date column of each dated one."""
    columns, dates = [], {}
    for entry in _columns(text):
        code, _, date = entry.partition(":")
        if not code or (":" in entry and not date):
            raise ConfigurationError("--items takes CODE or CODE:DATE entries, e.g. diag_1:admitted,diag_2.")
        columns.append(code)
        if date:
            dates[code] = date
    return columns, dates


def _item_options(table, items: str, m: Optional[int], item_hierarchy: Optional[str],
                  max_item_suppression: float, date_precision: Optional[str] = None) -> dict:
    """Anonymizer parameters for --items/--m."""
    import pandas as pd

    from ..privacy.hierarchy import Hierarchy

    columns, dates = _parse_items(items)
    if not columns:
        if m is not None or date_precision is not None:
            raise ConfigurationError("--m and --date-precision need --items (the columns that hold a person's items).")
        return {}
    if date_precision is not None and not dates:
        raise ConfigurationError("--date-precision needs dated items (--items CODE:DATE).")
    missing = [c for c in [*columns, *dates.values()] if c not in table.columns]
    if missing:
        raise BadInputError(f"--items names column(s) {', '.join(map(repr, missing))}, not in the table.")
    hierarchy = None
    if item_hierarchy:
        values = pd.concat([table[c] for c in columns]).dropna()
        hierarchy = Hierarchy.from_spec("items", item_hierarchy, values)
    return {"items": columns, "m": m if m is not None else 2, "item_hierarchy": hierarchy,
            "max_item_suppression": max_item_suppression, "item_dates": dates or None,
            "date_precision": date_precision}


def _keep(text: str) -> Any:
    return "all" if text.strip() == "all" else (_columns(text) or None)


def _hierarchies(items: Optional[list[str]], table) -> dict:
    from ..privacy.hierarchy import Hierarchy

    out = {}
    for item in items or []:
        if "=" not in item:
            raise ConfigurationError("--hierarchy takes COLUMN=PATH or COLUMN=SPEC (one '=' between them).")
        column, spec = item.split("=", 1)
        if column not in table.columns:
            raise ConfigurationError(f"--hierarchy names column {column!r}, which is not in the table.")
        out[column] = Hierarchy.from_spec(column, spec, table[column])
    return out


def _ints(text: str, option: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values or any(v < 2 for v in values):
        raise ConfigurationError(f"{option} takes comma-separated integers >= 2, e.g. 2,5,10,20.")
    return values


def _read_key(path: str) -> bytes:
    p = Path(path)
    if not p.is_file():
        raise BadInputError(f"No key file at {path}.")
    raw = p.read_bytes().strip()
    try:
        key = bytes.fromhex(raw.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        key = raw
    if len(key) < 16:
        raise BadInputError("The pseudonym key file must hold at least 16 bytes (or 32 hex digits).")
    return key


def _publish(release, out: str, documents: list[tuple[Any, str, str]]) -> str:
    """Write ``release`` to ``out`` and each (object, path, kind) document so that the
    documents name the release's SHA-256 and the release lands last; returns the hash."""
    from ..io import atomic_write, file_sha256, write_bytes, write_json

    suffix = Path(out).suffix.lower()
    with atomic_write(out) as tmp:
        (release.to_csv(tmp, index=False) if suffix == ".csv" else release.to_parquet(tmp, index=False))
        digest = file_sha256(tmp)
        for obj, path, kind in documents:
            if isinstance(obj, Mapping):
                obj["published"] = {**(obj.get("published") or {}), "sha256": digest, "file": Path(out).name}
            (write_json if kind == "json" else write_bytes)(obj() if callable(obj) else obj, path)
    return digest


def _levels_note(report: dict) -> None:
    for cost in report.get("levels_decided_by_few_rows", []):
        err_console.print(
            f"[yellow]note:[/] column {escape(cost['column'])!s} was generalized to level {cost['level']} because of "
            f"{cost['rows_to_suppress_one_level_lower']} row(s); --max-suppression "
            f"{cost['rows_to_suppress_one_level_lower'] / report['rows_in']:.4g} would keep level {cost['level'] - 1}")
    built = report.get("hierarchies_built")
    if built:
        err_console.print("[dim]hierarchies built: " + escape(", ".join(f"{c}={s}" for c, s in built.items())) + "[/]")


def register(app: typer.Typer, dp_app: typer.Typer) -> None:
    """Add the data-flow commands to the ``secured`` app."""
    app.command()(anonymize)
    app.command()(assess)
    app.command()(protect)
    dp_app.command("histogram")(dp_histogram_cmd)


def anonymize(
    input: Annotated[str, typer.Argument(help="Input table (.csv or .parquet).")],
    quasi_identifiers: Annotated[str, typer.Option("--quasi-identifiers", help="Comma-separated columns.")],
    out: Annotated[str, typer.Option("--out", help="Release file (.csv or .parquet), written atomically.")],
    k: Annotated[int, typer.Option("--k", min=2, help="k of k-anonymity.")] = 5,
    method: Annotated[str, typer.Option(help="optimal (global recoding), mondrian (local recoding) or mdav "
                                             "(microaggregation of numeric columns).")] = "optimal",
    hierarchy: HierarchyOpt = None,
    numeric: Annotated[str, typer.Option(help="Comma-separated numeric quasi-identifiers (mondrian).")] = "",
    max_suppression: Annotated[float, typer.Option(min=0.0, max=0.99, help="Largest share of rows to suppress "
                                                                           "(optimal only).")] = 0.0,
    id_column: Annotated[Optional[str], typer.Option(help="Person id: k counts people, not rows.")] = None,
    sensitive: Annotated[Optional[str], typer.Option(help="Sensitive column for l and t.")] = None,
    l: Annotated[Optional[float], typer.Option("--l", help="Required l-diversity.")] = None,
    l_variant: Annotated[str, typer.Option(help="distinct, entropy or recursive.")] = "distinct",
    c: Annotated[Optional[float], typer.Option("--c", help="c of recursive (c, l)-diversity.")] = None,
    t: Annotated[Optional[float], typer.Option("--t", help="Required t-closeness.")] = None,
    t_distance: Annotated[str, typer.Option(help="equal, ordered (numbers) or hierarchical (needs the "
                                                 "sensitive column's --hierarchy).")] = "equal",
    drop: Annotated[str, typer.Option(help="Comma-separated direct identifiers to remove.")] = "",
    pseudonymize: Annotated[str, typer.Option(help="Comma-separated direct identifiers to replace by "
                                                   "HMAC-SHA256 pseudonyms.")] = "",
    pseudonym_key_file: Annotated[Optional[str], typer.Option(
        help="File holding the pseudonym key (>= 16 bytes, or hex); default: a random key, not stored.")] = None,
    keep: Keep = "",
    items: Items = "",
    m: M = None,
    item_hierarchy: ItemHierarchy = None,
    max_item_suppression: MaxItemSuppression = 0.1,
    date_precision: DatePrecision = None,
    classification_target: Annotated[Optional[str], typer.Option(
        help="Also report classification utility for this column (80/20 split, logistic regression; "
             "balanced accuracy and AUROC next to the majority baseline).")] = None,
    report: Annotated[Optional[str], typer.Option(help="JSON report path.")] = None,
    recoding: Annotated[Optional[str], typer.Option(help="JSON file for the fitted recoding (hierarchies, levels "
                                                         "or cut tree): lets `secured assess --recoding` attack "
                                                         "as one who knows it. Keep it with the data.")] = None,
    register: Register = False,
    title: Title = None,
    tags: Tags = "",
) -> None:
    """Anonymize a table: k-anonymity (and l, t) by optimal global recoding, Mondrian or MDAV."""
    from ..io import check_output, read_table
    from ..privacy.anonymizer import Anonymizer
    from ..privacy.utility import classification_utility
    from .hub import register_release, require_token

    def body() -> int:
        check_output(out, inputs=[input])
        for path, what in ((report, "report"), (recoding, "recoding")):
            if path:
                check_output(path, (".json",), inputs=[input, out], what=what)
        if register:
            require_token()
        table = read_table(input)
        key = _read_key(pseudonym_key_file) if pseudonym_key_file else None
        params = dict(
            k=k, quasi_identifiers=_columns(quasi_identifiers), method=method, hierarchies=_hierarchies(hierarchy, table),
            numeric=_columns(numeric), max_suppression=max_suppression, id_column=id_column, sensitive=sensitive,
            l=l, l_variant=l_variant, c=c, t=t, t_distance=t_distance, drop=_columns(drop),
            pseudonymize=_columns(pseudonymize), pseudonym_key=key, keep=_keep(keep),
            **_item_options(table, items, m, item_hierarchy, max_item_suppression, date_precision))
        with RichProgress() as progress:
            anonymizer = Anonymizer(**params, progress=progress)
            release = anonymizer.fit_transform(table)
            result = anonymizer.report_
            if classification_target:
                result["classification_utility"] = classification_utility(
                    table, classification_target, Anonymizer(**params, utility=False))
        docs = [(result, report, "json")] if report else []
        if recoding:
            docs.append((anonymizer.recoding(), recoding, "json"))
        _publish(release, out, docs)
        _levels_note(result)
        if register:
            dataset_id = register_release(out, result, title, id_column, _columns(tags), release)
            console.print(f"registered in the hub as dataset {dataset_id}")
        r = result
        line = (f"k = {r['k']} (requested {k}); {r['suppressed']} rows suppressed; "
                f"discernibility {r['discernibility']:.0f}")
        if "utility" in r:
            line += f"; loss {r['utility']['loss']:.3f}"
        if sensitive:
            line += f"; l = {r['l']:g}, t = {r['t']:.3f}"
        if "items" in r:
            kept = next(x["kept_share"] for x in r["items"]["levels"] if x["level"] == r["items"]["level"])
            line += (f"; items (k, k^{r['items']['m']}) at level {r['items']['level']}, {kept:.1%} of person-items "
                     "kept")
        console.print(line)
        return 0

    _exit_with(body)


def assess(
    original: Annotated[str, typer.Argument(help="The table the release was made from (.csv or .parquet); with "
                                                 "--recoding from protect, the table given to protect.")],
    released: Annotated[str, typer.Argument(help="The release to attack.")],
    out: Annotated[str, typer.Option("--out", help="JSON report path.")],
    quasi_identifiers: Annotated[Optional[str], typer.Option(
        "--quasi-identifiers", help="Columns the attacker knows (taken from --recoding when it comes from "
                                    "protect).")] = None,
    control: Annotated[Optional[str], typer.Option(help="Rows from the same population the release did not use.")] = None,
    recoding: Annotated[Optional[str], typer.Option(
        help="Recoding file of the release (written by anonymize --recoding or protect): targets are generalized "
             "as the release was; from protect, every setting and the split are taken from it and the numbers "
             "reproduce the protect report's.")] = None,
    sensitive: Annotated[str, typer.Option(help="Comma-separated columns to infer.")] = "",
    id_column: Annotated[Optional[str], typer.Option(help="Person id: singling out counts people.")] = None,
    numeric: Annotated[Optional[str], typer.Option(help="Comma-separated numeric columns (default: detected).")] = None,
    hierarchy: Annotated[Optional[list[str]], typer.Option(help="COLUMN=SPEC: released cells match their "
                                                                 "descendants (see anonymize).")] = None,
    n_attacks: Annotated[int, typer.Option(min=10, help="Targets per linkability/inference attack.")] = 2000,
    n_singling: Annotated[int, typer.Option(min=10, help="Predicates per singling-out attack.")] = 500,
    items: Annotated[str, typer.Option(help="Item columns CODE[:DATE]: also attack with --m known items of a person "
                                            "(and their dates; needs --id-column).")] = "",
    m: M = None,
    attacker_date_precision: AttackerPrecision = "day",
    synthetic: Annotated[bool, typer.Option(help="Also report distance to closest record (synthetic data).")] = False,
    max_risk: Annotated[Optional[float], typer.Option(help="Mark this threshold; exit 1 when a risk's upper bound "
                                                           "reaches it.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of target sampling and tie-breaking.")] = 0,
    html_out: Annotated[Optional[str], typer.Option("--html", help="HTML report with plots.")] = None,
) -> None:
    """Attack a release: singling-out, linkability, inference (residual risk vs control, 95% CI)."""
    from rich.table import Table

    from ..io import check_output, file_sha256, read_json, read_table, write_bytes, write_json
    from ..privacy.anonymizer import Anonymizer
    from ..privacy.html import assessment_html
    from ..privacy.protect import assess as run_assess
    from ..privacy.protect import assess_from_recoding
    from ..privacy.risk import distance_to_closest_record

    def body() -> int:
        inputs = [original, released, control]
        check_output(out, (".json",), inputs=inputs, what="report")
        if html_out:
            check_output(html_out, (".html", ".htm"), inputs=inputs, what="HTML report")
        rec = read_json(recoding, "recoding file") if recoding else None
        ori, rel = read_table(original), read_table(released)
        ctl = read_table(control) if control else None
        with RichProgress() as progress:
            if rec is not None and "split" in rec:
                given = [name for name, value in (("--quasi-identifiers", quasi_identifiers), ("--sensitive", sensitive),
                                                  ("--id-column", id_column), ("--numeric", numeric),
                                                  ("--hierarchy", hierarchy), ("--items", items), ("--m", m))
                         if value]
                if given:
                    raise ConfigurationError(f"{', '.join(given)} come from the protect recoding; leave them out.")
                report = assess_from_recoding(ori, rel, rec, ctl, progress=progress)
                published = rec.get("published", {}).get("sha256")
                report["release"]["sha256"] = file_sha256(released)
                if published and published != report["release"]["sha256"]:
                    err_console.print("[yellow]warning:[/] this release is not the file protect published "
                                      "(its SHA-256 differs from the recoding's)")
            else:
                if control is None:
                    raise ConfigurationError("Assessment needs --control: rows from the same population that the "
                                             "release did not use (e.g. a held-out 20%).")
                if not quasi_identifiers:
                    raise ConfigurationError("Name the columns the attacker knows with --quasi-identifiers.")
                anonymizer = Anonymizer.from_recoding(rec) if rec is not None else None
                qis, sens = _columns(quasi_identifiers), _columns(sensitive)
                nums = _columns(numeric) if numeric is not None else None
                item_columns, item_dates = _parse_items(items)
                if m is not None and not item_columns:
                    raise ConfigurationError("--m needs --items (the columns that hold a person's items).")
                report = run_assess(ori, rel, ctl, qis, sens, anonymizer=anonymizer, id_column=id_column,
                                    numeric=nums, hierarchies=_hierarchies(hierarchy, ori) or None,
                                    n_attacks=n_attacks, n_singling=n_singling, seed=seed,
                                    items=item_columns or None, m=(m or 2) if item_columns else None,
                                    item_dates=item_dates or None, attacker_precision=attacker_date_precision,
                                    progress=progress)
                if anonymizer is None:
                    err_console.print("[dim]targets matched to released cells by coverage; an attacker who knows "
                                      "the recoding does better: pass --recoding[/]")
                if synthetic:
                    report["distance_to_closest_record"] = distance_to_closest_record(ori, rel, ctl, [*qis, *sens],
                                                                                      numeric=nums, seed=seed)
        write_json(report, out)
        if html_out:
            write_bytes(assessment_html(report, max_risk), html_out)
        table = Table("attack", "risk", "95% CI", "attack", "control", "baseline")
        for name, r in report["risks"].items():
            table.add_row(name, f"{r['risk']['value']:.4f}", f"[{r['risk']['ci'][0]:.4f}, {r['risk']['ci'][1]:.4f}]",
                          f"{r['attack_rate']['value']:.4f}", f"{r['control_rate']['value']:.4f}",
                          f"{r['baseline_rate']['value']:.4f}")
        console.print(table)
        if max_risk is not None and report["max_risk_upper"] >= max_risk:
            console.print(f"[red]risk above {max_risk:g}[/]: {escape(report['riskiest'])}")
            return 1
        return 0

    _exit_with(body)


def protect(
    input: Annotated[str, typer.Argument(help="Input table (.csv or .parquet).")],
    quasi_identifiers: Annotated[str, typer.Option("--quasi-identifiers", help="Comma-separated columns.")],
    out: Annotated[str, typer.Option("--out", help="Release file, written only when a setting passes.")],
    report: Annotated[str, typer.Option("--report", help="JSON report with every iteration.")],
    recoding: Annotated[Optional[str], typer.Option(
        help="JSON file with what `secured assess --recoding` needs to reproduce the report's numbers "
             "(default: next to the report, .recoding.json). It holds the quasi-identifiers' values: keep it "
             "with the data.")] = None,
    max_risk: Annotated[float, typer.Option(help="Every risk's upper bound must be below this.")] = 0.05,
    sensitive: Annotated[str, typer.Option(help="Comma-separated sensitive columns (inference targets).")] = "",
    control: Annotated[Optional[str], typer.Option(
        help="Control table of other people from the same population; then every input row can be published. "
             "Default: hold out --control-fraction of the people, who are not published.")] = None,
    control_fraction: Annotated[float, typer.Option(min=0.01, max=0.9, help="Share held out as control.")] = 0.2,
    hierarchy: HierarchyOpt = None,
    numeric: Annotated[str, typer.Option(help="Comma-separated numeric quasi-identifiers (mondrian).")] = "",
    id_column: Annotated[Optional[str], typer.Option(help="Person id: people counted once.")] = None,
    max_suppression: Annotated[float, typer.Option(min=0.0, max=0.99, help="Suppression budget tried next to none "
                                                                           "(optimal).")] = 0.02,
    methods: Annotated[str, typer.Option(help="Methods to try, in order.")] = "optimal,mondrian",
    k_values: Annotated[str, typer.Option(help="The k ladder.")] = "2,5,10,20,50,100",
    l: Annotated[Optional[float], typer.Option("--l", help="l-diversity of --l-column in every setting (default: "
                                                           "none and 2 are tried when --sensitive is given).")] = None,
    l_column: Annotated[Optional[str], typer.Option(help="Column for --l and --t (default: the first "
                                                         "--sensitive).")] = None,
    l_variant: Annotated[str, typer.Option(help="distinct, entropy or recursive.")] = "distinct",
    c: Annotated[Optional[float], typer.Option("--c", help="c of recursive (c, l)-diversity.")] = None,
    t: Annotated[Optional[float], typer.Option("--t", help="t-closeness of --l-column in every setting.")] = None,
    t_distance: Annotated[str, typer.Option(help="equal, ordered or hierarchical.")] = "equal",
    n_attacks: Annotated[int, typer.Option(min=10, help="Targets (and controls) per attack.")] = 2000,
    max_attacks: Annotated[int, typer.Option(min=10, help="Most targets an undecided release is attacked "
                                                          "with.")] = 8000,
    n_singling: Annotated[int, typer.Option(min=10, help="Predicates per singling-out attack.")] = 300,
    drop: Annotated[str, typer.Option(help="Direct identifiers to remove from the release.")] = "",
    pseudonymize: Annotated[str, typer.Option(help="Direct identifiers to replace by HMAC pseudonyms.")] = "",
    pseudonym_key_file: Annotated[Optional[str], typer.Option(help="Pseudonym key file (see anonymize).")] = None,
    keep: Keep = "",
    items: Items = "",
    m: M = None,
    item_hierarchy: ItemHierarchy = None,
    max_item_suppression: MaxItemSuppression = 0.1,
    date_precision: DatePrecision = None,
    attacker_date_precision: AttackerPrecision = "day",
    seed: Annotated[int, typer.Option(help="Seed of the control split and the attacks.")] = 0,
    html_out: Annotated[Optional[str], typer.Option("--html", help="HTML report with plots.")] = None,
    register: Register = False,
    title: Title = None,
    tags: Tags = "",
    bias_protected: BiasProtected = "",
    bias_target: BiasTarget = None,
    bias_positive: BiasPositive = None,
) -> None:
    """Anonymize, attack, strengthen, repeat: the most useful release whose risks all pass."""
    from ..io import check_output, read_table, write_bytes, write_json
    from ..privacy.anonymizer import Anonymizer
    from ..privacy.html import protection_html
    from ..privacy.protect import Protector
    from .hub import register_release, require_token

    def body() -> int:
        inputs = [input, control]
        rec_path = recoding or str(Path(report).with_suffix("")) + ".recoding.json"
        check_output(out, inputs=inputs)
        check_output(report, (".json",), inputs=[*inputs, out], what="report")
        check_output(rec_path, (".json",), inputs=[*inputs, out, report], what="recoding")
        if html_out:
            check_output(html_out, (".html", ".htm"), inputs=[*inputs, out, report], what="HTML report")
        if register:
            require_token()
        table = read_table(input)
        bias_columns = check_bias_options(table, bias_protected, bias_target)
        ctl = read_table(control) if control else None
        sens = _columns(sensitive)
        suppression = sorted({0.0, max_suppression})
        template = Anonymizer(
            k=2, quasi_identifiers=_columns(quasi_identifiers), hierarchies=_hierarchies(hierarchy, table),
            numeric=_columns(numeric), id_column=id_column, sensitive=(l_column or (sens[0] if sens else None))
            if (l is not None or t is not None) else None, l=l, l_variant=l_variant, c=c, t=t,
            t_distance=t_distance, drop=_columns(drop), pseudonymize=_columns(pseudonymize),
            pseudonym_key=_read_key(pseudonym_key_file) if pseudonym_key_file else None, keep=_keep(keep),
            **_item_options(table, items, m, item_hierarchy, max_item_suppression, date_precision))
        search: dict[str, Any] = {"k": _ints(k_values, "--k-values"), "method": _columns(methods),
                                  "max_suppression": suppression}
        if sens and l is None and t is None:   # the strengthening inference attacks answer to
            search["l"] = [None, 2]
        with RichProgress() as progress:
            protector = Protector(
                template, max_risk=max_risk, sensitive=sens, control_fraction=control_fraction, search=search,
                n_attacks=n_attacks, max_attacks=max_attacks, n_singling=n_singling, seed=seed,
                attacker_date_precision=attacker_date_precision, progress=progress)
            protector.fit(table, ctl)
        result = protector.report_
        if protector.release_ is not None and bias_columns:
            result["bias"] = bias_section(protector.release_, bias_columns, bias_target, bias_positive)
        page = (lambda: protection_html(result)) if html_out else None
        if protector.release_ is not None:
            docs = [(protector.recoding_, rec_path, "json"), (result, report, "json")]
            if page:
                docs.append((page, html_out, "bytes"))
            _publish(protector.release_, out, docs)
        else:
            write_json(result, report)
            if page:
                write_bytes(page(), html_out)
        for it in result["iterations"]:
            s = " ".join(f"{k}={v}" for k, v in it["settings"].items())
            state = ("[green]pass[/]" if it["passed"] else "[red]fail[/]") if "risks" in it else "[yellow]skipped[/]"
            extra = (f"highest upper bound {it['max_risk_upper']:.4f} ({escape(it['riskiest'])}), k {it['k_achieved']}, "
                     f"loss {it['utility']['loss']:.3f}") if "risks" in it else escape(it.get("skipped", ""))
            err_console.print(f"#{it['iteration']} {escape(s)}: {state} {extra}")
        if protector.release_ is None:
            err_console.print(f"[red]error:[/] {escape(result['message'])}")
            return 2
        pub = result["published"]
        console.print(f"released iteration {result['chosen_iteration']} "
                      f"({escape(' '.join(f'{k}={v}' for k, v in result['chosen'].items()))}): {pub['rows']} rows"
                      + (f"; {pub['held_out_control_rows_not_published']} control rows held out, not published"
                         if pub["held_out_control_rows_not_published"] else ""))
        if register:
            dataset_id = register_release(out, result, title, id_column, _columns(tags), protector.release_)
            console.print(f"registered in the hub as dataset {dataset_id}")
        return 0

    _exit_with(body)


def dp_histogram_cmd(
    input: Annotated[str, typer.Argument(help="Input table (.csv or .parquet).")],
    out: Annotated[str, typer.Option("--out", help="Noisy histogram (.csv or .parquet), written atomically.")],
    ledger: Annotated[str, typer.Option(help="Budget ledger (JSON); created with --budget-rho/--budget-epsilon.")],
    columns: Annotated[str, typer.Option(help="Comma-separated columns (empty: one noisy count).")] = "",
    rho: Annotated[Optional[float], typer.Option("--rho", help="zCDP budget of this release.")] = None,
    epsilon: Annotated[Optional[float], typer.Option("--epsilon", help="Pure-DP budget of this release.")] = None,
    id_column: Annotated[Optional[str], typer.Option(help="Patient id: bounds each patient's contribution.")] = None,
    contributions: Annotated[int, typer.Option(min=1, help="Rows kept per patient.")] = 1,
    domain: Annotated[Optional[list[str]], typer.Option(
        help="COLUMN=v1,v2,... or COLUMN=@file (one value per line): the public categories; repeatable.")] = None,
    key_selection: Annotated[bool, typer.Option(
        help="Release the categories found in the data through DP key selection (thresholded Laplace counts, "
             "(epsilon, delta)-DP; needs --epsilon and --delta) instead of public --domain lists.")] = False,
    delta: Annotated[Optional[float], typer.Option("--delta", help="delta of a --key-selection release.")] = None,
    budget_rho: Annotated[Optional[float], typer.Option(help="Total rho of a new ledger.")] = None,
    budget_epsilon: Annotated[Optional[float], typer.Option(help="Total epsilon of a new ledger.")] = None,
    budget_delta: Annotated[Optional[float], typer.Option(help="Total delta of a new epsilon ledger.")] = None,
    label: Annotated[Optional[str], typer.Option(help="Name of this release in the ledger.")] = None,
    report: Annotated[Optional[str], typer.Option(help="JSON report path.")] = None,
) -> None:
    """Release a differentially private histogram (a marginal of several columns) via OpenDP."""
    from ..io import check_output, read_table, write_json, write_table
    from ..privacy.dp import BudgetLedger, dp_histogram

    def body() -> int:
        check_output(out, inputs=[input, ledger])
        if report:
            check_output(report, (".json",), inputs=[input, ledger, out], what="report")
        domains = {}
        for item in domain or []:
            if "=" not in item:
                raise ConfigurationError("--domain takes COLUMN=v1,v2 or COLUMN=@file.")
            column, spec = item.split("=", 1)
            if spec.startswith("@"):
                if not Path(spec[1:]).is_file():
                    raise BadInputError(f"No domain file at {spec[1:]}.")
                values = [v for v in Path(spec[1:]).read_text().splitlines() if v]
            else:
                values = [v for v in spec.split(",") if v]
            domains[column] = values
        book = BudgetLedger(ledger, rho=budget_rho, epsilon=budget_epsilon, delta=budget_delta)
        release = dp_histogram(read_table(input), _columns(columns), rho=rho, epsilon=epsilon, id_column=id_column,
                               contributions=contributions, domains=domains or None, ledger=book, label=label,
                               key_selection=key_selection, delta=delta)
        write_table(release.table, out)
        if report:
            write_json(release.to_dict(), report)
        spent = release.rho if release.rho is not None else release.epsilon
        console.print(f"{len(release.table)} noisy cells; spent {spent:g} "
                      f"({'rho' if release.rho is not None else 'epsilon'}); ledger: {book.spent:g} of "
                      f"{book.total:g} {book.kind} used")
        if release.delta:
            err_console.print(f"[dim]categories chosen by DP key selection: noisy counts below {release.threshold} "
                              f"dropped; delta {release.delta:.3g} spent[/]")
        return 0

    _exit_with(body)
