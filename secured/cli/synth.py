"""``secured synth fit|sample|evaluate|augment|publish``: synthetic data from the command line.

CSV cells are text; a column whose every present cell is a number is modelled as a number
unless ``--discrete`` names it, and ``--dates`` names the date columns. The DP generator
(``--generator mst``) takes its public domain from ``--domain FILE.json`` (see
``secured.synth.dp``) and charges ``--ledger``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from ..exceptions import BadInputError, ConfigurationError
from ._common import RichProgress
from .bias import BiasPositive, BiasProtected, BiasTarget, bias_section, check_bias_options
from ._common import columns as _columns
from ._common import console, err_console
from ._common import exit_with as _exit_with

synth_app = typer.Typer(help="Synthetic data: fit a generator, sample, evaluate against real rows, grow a table, "
                             "publish a generator.", no_args_is_help=True)

Discrete = Annotated[str, typer.Option(help="Comma-separated columns modelled as categories although numeric.")]
Dates = Annotated[str, typer.Option(help="Comma-separated date columns (ISO dates).")]
GENERATORS = ("copula", "tvae", "tabddpm", "mst")


def typed(df, **options):
    from ..synth import typed as convert

    return convert(df, **options)


def build(generator: str, seed: int, iterations: int | None, device: str, progress: Any, *, epsilon=None,
          delta=None, domain=None, condition_on=None):
    """A generator from the CLI's options."""
    from ..synth import MST, TVAE, GaussianCopula, TabDDPM

    if generator not in GENERATORS:
        raise ConfigurationError(f"--generator must be one of {', '.join(GENERATORS)}.")
    if generator != "mst" and any(v is not None for v in (epsilon, delta, domain)):
        raise ConfigurationError("--epsilon, --delta and --domain go with --generator mst (the DP generator).")
    if generator == "copula":
        return GaussianCopula(seed=seed)
    if generator == "mst":
        if epsilon is None or delta is None or domain is None:
            raise ConfigurationError("--generator mst needs --epsilon, --delta and --domain (a JSON file with the "
                                     "public domain of every column) and --ledger.")
        return MST(epsilon=epsilon, delta=delta, domain=domain, seed=seed, progress=progress)
    extra = {} if iterations is None else {"iterations": iterations}
    if condition_on is not None:
        if generator != "tabddpm":
            raise ConfigurationError("--condition-on goes with --generator tabddpm.")
        extra["condition_on"] = condition_on
    cls = TVAE if generator == "tvae" else TabDDPM
    return cls(seed=seed, device=device, progress=progress, **extra)


def _domain(path: str | None) -> dict | None:
    if path is None:
        return None
    p = Path(path)
    if not p.is_file():
        raise ConfigurationError("The --domain file does not exist; check the path.")
    try:
        value = json.loads(p.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise ConfigurationError("The --domain file is not JSON; write {column: public domain, ...}.") from None
    if not isinstance(value, dict):
        raise ConfigurationError("The --domain file must hold a JSON object {column: public domain, ...}.")
    return value


def fit(
    input: Annotated[str, typer.Argument(help="Training table (.csv or .parquet).")],
    out: Annotated[str, typer.Option("--out", help="Generator file (.json), written atomically.")],
    generator: Annotated[str, typer.Option(help="copula, tvae, tabddpm or mst (differentially private).")] = "copula",
    discrete: Discrete = "",
    dates: Dates = "",
    identifiers: Annotated[str, typer.Option(help="Comma-separated id columns left out of the model.")] = "",
    iterations: Annotated[Optional[int], typer.Option(min=1, help="Training steps (tvae, tabddpm).")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda (tvae, tabddpm).")] = "auto",
    condition_on: Annotated[Optional[str], typer.Option(help="tabddpm: a categorical column (a classification "
                                                             "target) the model is conditioned on.")] = None,
    epsilon: Annotated[Optional[float], typer.Option(help="mst: epsilon of the whole fit.")] = None,
    delta: Annotated[Optional[float], typer.Option(help="mst: delta of the whole fit.")] = None,
    domain: Annotated[Optional[str], typer.Option(help="mst: JSON file with the public domain of every column.")]
    = None,
    ledger: Annotated[Optional[str], typer.Option(help="mst: budget ledger (JSON) charged for every measurement.")]
    = None,
    budget_rho: Annotated[Optional[float], typer.Option(help="mst: total rho of a new ledger.")] = None,
    id_column: Annotated[Optional[str], typer.Option(help="mst: who each row belongs to (one row kept per person).")]
    = None,
    seed: Annotated[int, typer.Option(help="Seed of fitting.")] = 0,
) -> None:
    """Fit a generator to a table and save it (JSON: parameters, schema, learned state; no rows)."""
    from ..io import check_output, read_table

    def body() -> int:
        check_output(out, (".json",), inputs=[input], what="generator file")
        spec = _domain(domain)
        if generator == "mst" and ledger is None:
            raise ConfigurationError("--generator mst needs --ledger (and --budget-rho to create a new one).")
        if generator != "mst" and (ledger is not None or id_column is not None):
            raise ConfigurationError("--ledger and --id-column go with --generator mst.")
        with RichProgress() as progress:
            gen = build(generator, seed, iterations, device, progress, epsilon=epsilon, delta=delta, domain=spec,
                        condition_on=condition_on)
            table = read_table(input)
            if generator == "mst":
                from ..privacy.dp import BudgetLedger

                book = BudgetLedger(ledger, rho=budget_rho)
                gen.fit(typed(table, discrete=[c for c in table.columns if spec.get(c) is not None and (
                    isinstance(spec[c], list) or "categories" in spec[c])], dates=_columns(dates)),
                    ledger=book, id_column=id_column,
                    identifiers=_columns(identifiers))
            else:
                gen.fit(typed(table, discrete=_columns(discrete), dates=_columns(dates)),
                        discrete_columns=_columns(discrete), identifiers=_columns(identifiers))
        gen.save(out)
        for note in gen.schema_.notes:
            err_console.print(f"[dim]{note}[/]")
        line = f"{generator}: {len(table):,} rows, {len(gen.schema_.columns)} columns modelled -> {out}"
        if generator == "mst":
            line += f" (epsilon {epsilon:g}, delta {delta:g}; ledger: {book.spent:.6g} of {book.total:g} {book.kind})"
        console.print(line)
        return 0

    _exit_with(body)


def _conditions(items: list[str] | None, gen) -> dict[str, Any]:
    conditions = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ConfigurationError("--condition takes COLUMN=VALUE.")
        if name not in gen.schema_.names:
            raise BadInputError(f"--condition names column {name!r}, which the generator did not learn.")
        spec = gen.schema_[name]
        if spec.kind == "categorical":
            cats = {str(c): c for c in spec.categories}
            if value not in cats:
                raise BadInputError(f"--condition on column {name!r} asks for a category the generator does not "
                                    "know.")
            conditions[name] = cats[value]
        elif spec.kind == "datetime":
            conditions[name] = value
        else:
            try:
                conditions[name] = float(value)
            except ValueError:
                raise BadInputError(f"--condition on column {name!r} needs a number.") from None
    return conditions


def sample(
    model: Annotated[str, typer.Argument(help="Generator file from `secured synth fit`.")],
    out: Annotated[str, typer.Option("--out", help="Synthetic table (.csv or .parquet), written atomically.")],
    n: Annotated[int, typer.Option("--n", help="Rows to generate.")] = 1000,
    condition: Annotated[Optional[list[str]], typer.Option(help="COLUMN=VALUE fixed in every row; repeatable.")]
    = None,
    seed: Annotated[int, typer.Option(help="Seed of sampling.")] = 0,
    register: Annotated[bool, typer.Option(help="Put the table in the hub's lake and inventory (SECURED_TOKEN).")]
    = False,
    evaluation: Annotated[Optional[str], typer.Option(help="With --register: the evaluate report to record.")]
    = None,
    title: Annotated[Optional[str], typer.Option(help="Inventory title and lake name for --register.")] = None,
    tags: Annotated[str, typer.Option(help="Comma-separated inventory tags for --register.")] = "",
) -> None:
    """Generate rows from a saved generator."""
    from ..io import check_output, write_table
    from ..synth import load

    def body() -> int:
        check_output(out, inputs=[model])
        if register:
            from .hub import require_token

            require_token()
        elif evaluation is not None:
            raise ConfigurationError("--evaluation goes with --register.")
        gen = load(model)
        rows = gen.sample(n, conditions=_conditions(condition, gen) or None, seed=seed)
        write_table(rows, out)
        console.print(f"{len(rows):,} synthetic rows -> {out}")
        if register:
            from .hub import register_synthetic

            dataset_id = register_synthetic(out, rows, model, evaluation, title, _columns(tags))
            console.print(f"registered in the hub as dataset {dataset_id} (synthetic, in the lake)")
        return 0

    _exit_with(body)


def evaluate_cmd(
    real_train: Annotated[str, typer.Argument(help="The real table the generator was fitted on.")],
    synthetic: Annotated[str, typer.Argument(help="The synthetic table.")],
    holdout: Annotated[str, typer.Option("--holdout", help="Real rows the generator never saw.")],
    out: Annotated[str, typer.Option("--out", help="JSON report.")],
    html: Annotated[Optional[str], typer.Option(help="Also write the report as an HTML page.")] = None,
    target: Annotated[Optional[str], typer.Option(help="Column to predict: TSTR vs TRTR utility.")] = None,
    discrete: Discrete = "",
    dates: Dates = "",
    quasi_identifiers: Annotated[str, typer.Option(help="Columns the attacks assume known (default: all but the "
                                                        "target).")] = "",
    n_attacks: Annotated[int, typer.Option(min=10, help="Targets per attack.")] = 500,
    seed: Annotated[int, typer.Option(help="Seed.")] = 0,
) -> None:
    """Fidelity, detection, utility and privacy of a synthetic table against real rows.
    Exit code 1 when the generator memorizes its training rows."""
    from ..io import check_output, read_table, write_bytes, write_json
    from ..synth import evaluate
    from ..synth.html import evaluation_html

    def body() -> int:
        check_output(out, (".json",), inputs=[real_train, synthetic, holdout], what="report")
        if html is not None:
            check_output(html, (".html",), inputs=[real_train, synthetic, holdout, out], what="HTML report")
        d, t = _columns(discrete), _columns(dates)
        train, syn, hold = (typed(read_table(p), discrete=d, dates=t) for p in (real_train, synthetic, holdout))
        with RichProgress() as progress:
            progress("evaluating")
            report = evaluate(train, syn, hold, target=target, n_attacks=n_attacks, seed=seed,
                              quasi_identifiers=_columns(quasi_identifiers) or None)
        write_json(report, out)
        if html is not None:
            write_bytes(evaluation_html(report), html)
        line = (f"shapes {report['shapes']['mean']:.3f}, pair trends {report['pair_trends']:.3f}, k-marginal "
                f"{report['k_marginal']:.0f} (holdout {report['k_marginal_holdout']:.0f}), detection AUROC "
                f"{report['detection']['auroc']:.3f}")
        if "utility" in report:
            gb = report["utility"]["gradient_boosting"]
            line += f", TSTR F1 {gb['tstr']['f1_macro']:.3f} vs TRTR {gb['trtr']['f1_macro']:.3f}"
        privacy = report["privacy"]
        line += f"; exact copies {privacy['exact_copies']:.1%} (holdout {privacy['exact_copies_holdout']:.1%})"
        console.print(line)
        if privacy["memorizes"]:
            err_console.print("[red]memorizes:[/] " + "; ".join(privacy["reasons"]))
            return 1
        return 0

    _exit_with(body)


def augment_cmd(
    input: Annotated[str, typer.Argument(help="The table to grow (.csv or .parquet).")],
    target: Annotated[str, typer.Option(help="The column a model will predict.")],
    to: Annotated[int, typer.Option("--to", help="Rows of the grown table (real + synthetic).")],
    out: Annotated[str, typer.Option("--out", help="The grown table, written when growing helps (or --force).")],
    report: Annotated[Optional[str], typer.Option(help="JSON report of the cross-validation.")] = None,
    generator: Annotated[str, typer.Option(help="copula, tvae or tabddpm.")] = "tvae",
    iterations: Annotated[Optional[int], typer.Option(min=1, help="Training steps (tvae, tabddpm).")] = None,
    folds: Annotated[int, typer.Option(min=2, help="Cross-validation folds.")] = 3,
    learner: Annotated[str, typer.Option(help="gradient_boosting or logistic_regression.")] = "gradient_boosting",
    condition: Annotated[Optional[list[str]], typer.Option(help="COLUMN=VALUE fixed in every synthetic row; "
                                                                "repeatable (e.g. grow a minority class).")] = None,
    indicator: Annotated[Optional[str], typer.Option(help="Add a column of this name marking synthetic rows.")]
    = None,
    force: Annotated[bool, typer.Option(help="Write the grown table even when it does not help.")] = False,
    discrete: Discrete = "",
    dates: Dates = "",
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    seed: Annotated[int, typer.Option(help="Seed.")] = 0,
    bias_protected: BiasProtected = "",
    bias_target: BiasTarget = None,
    bias_positive: BiasPositive = None,
) -> None:
    """Grow a small table with synthetic rows, after checking by cross-validation that real +
    synthetic beats real alone for the target. Exit code 1 when it does not help."""
    from ..io import check_output, read_table, write_json, write_table
    from ..synth import augment

    def body() -> int:
        check_output(out, inputs=[input])
        if report is not None:
            check_output(report, (".json",), inputs=[input, out], what="report")
        if generator == "mst":
            raise ConfigurationError("augment refits its generator per fold; use copula, tvae or tabddpm.")
        table = typed(read_table(input), discrete=_columns(discrete), dates=_columns(dates))
        bias_columns = check_bias_options(table, bias_protected, bias_target)
        with RichProgress() as progress:
            gen = build(generator, seed, iterations, device, progress)
            probe = gen.clone().fit(table.head(min(len(table), 50)), discrete_columns=_columns(discrete)) \
                if condition else None
            conditions = _conditions(condition, probe) if probe is not None else None
            result = augment(table, target=target, to=to, generator=gen, folds=folds, learner=learner,
                             conditions=conditions, discrete_columns=_columns(discrete), indicator=indicator,
                             seed=seed, progress=progress)
        made = result.to_dict()
        if bias_columns:
            made["bias"] = bias_section(result.table, bias_columns, bias_target, bias_positive)
        if report is not None:
            write_json(made, report)
        (console if result.recommended else err_console).print(result.message)
        if result.recommended or force:
            write_table(result.table, out)
            console.print(f"{result.rows_real:,} real + {result.rows_synthetic:,} synthetic rows -> {out}")
        else:
            err_console.print("The grown table was not written (--force writes it anyway).")
        return 0 if result.recommended else 1

    _exit_with(body)


def publish(
    model: Annotated[str, typer.Argument(help="Generator file from `secured synth fit`.")],
    name: Annotated[str, typer.Option(help="Model name in the hub's registry.")],
    evaluation: Annotated[Optional[str], typer.Option(help="An evaluate report to publish with it.")] = None,
    access: Annotated[str, typer.Option(help="sample: others sample rows through the hub and never download the "
                                             "generator; download: they may download it.")] = "sample",
    visibility: Annotated[str, typer.Option(help="all, members or private.")] = "all",
    readers: Annotated[str, typer.Option(help="Comma-separated members who may see it (visibility members).")] = "",
    licence: Annotated[Optional[str], typer.Option(help="Licence of the model.")] = None,
    description: Annotated[str, typer.Option(help="Description.")] = "",
) -> None:
    """Publish a fitted generator in the hub's model registry (SECURED_TOKEN), with its epsilon
    when it is differentially private, its evaluation and its lineage."""
    from ..io import read_json
    from ..synth import dumps, load
    from .hub import _token

    def body() -> int:
        token = _token(None)
        gen = load(model)
        report = read_json(evaluation, "evaluation report") if evaluation else None
        from ..hub import Hub, synthetic_fields

        fields = synthetic_fields({"generator": gen.name, "params": gen.get_params()}, report)
        made = fields["anonymization"]
        metrics = {"kind": "synthetic-data generator", "generator": gen.name, **made.get("evaluation", {})}
        mi = {"attacks": fields["risks"], "max_risk_upper": fields["max_risk_upper"],
              "memorizes": made.get("memorizes")} if "risks" in fields else None
        version = Hub().publish_model(token, name, dumps(gen), metrics=metrics, epsilon=made.get("epsilon"),
                                      delta=made.get("delta"), membership_inference=mi, licence=licence,
                                      description=description, visibility=visibility, readers=_columns(readers),
                                      lineage={"generator": gen.name, "rows": gen.schema_.rows,
                                               "columns": gen.schema_.names}, access=access)
        console.print(f"published {name} version {version} ({access} access)")
        return 0

    _exit_with(body)


def register(app: typer.Typer) -> None:
    synth_app.command("fit")(fit)
    synth_app.command("sample")(sample)
    synth_app.command("evaluate")(evaluate_cmd)
    synth_app.command("augment")(augment_cmd)
    synth_app.command("publish")(publish)
    app.add_typer(synth_app, name="synth")
