"""``secured synth fit|sample|evaluate``: synthetic data from the command line.

CSV cells are text; a column whose every present cell is a number is modelled as a number
unless ``--discrete`` names it, and ``--dates`` names the date columns.
"""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer

from ..exceptions import BadInputError, ConfigurationError
from ._common import columns as _columns
from ._common import console, err_console
from ._common import exit_with as _exit_with

synth_app = typer.Typer(help="Synthetic data: fit a generator, sample, evaluate against real rows.",
                        no_args_is_help=True)

Discrete = Annotated[str, typer.Option(help="Comma-separated columns modelled as categories although numeric.")]
Dates = Annotated[str, typer.Option(help="Comma-separated date columns (ISO dates).")]


def generators() -> dict[str, Any]:
    from ..synth import GaussianCopula

    return {"copula": GaussianCopula}


def typed(df, **options):
    from ..synth import typed as convert

    return convert(df, **options)


def fit(
    input: Annotated[str, typer.Argument(help="Training table (.csv or .parquet).")],
    out: Annotated[str, typer.Option("--out", help="Generator file (.json), written atomically.")],
    generator: Annotated[str, typer.Option(help="copula.")] = "copula",
    discrete: Discrete = "",
    dates: Dates = "",
    identifiers: Annotated[str, typer.Option(help="Comma-separated id columns left out of the model.")] = "",
    seed: Annotated[int, typer.Option(help="Seed of fitting.")] = 0,
) -> None:
    """Fit a generator to a table and save it."""
    from ..io import check_output, read_table

    def body() -> int:
        known = generators()
        if generator not in known:
            raise ConfigurationError(f"--generator must be one of {', '.join(known)}.")
        check_output(out, (".json",), inputs=[input], what="generator file")
        table = typed(read_table(input), discrete=_columns(discrete), dates=_columns(dates))
        gen = known[generator](seed=seed).fit(table, discrete_columns=_columns(discrete),
                                              identifiers=_columns(identifiers))
        gen.save(out)
        for note in gen.schema_.notes:
            err_console.print(f"[dim]{note}[/]")
        console.print(f"{generator}: {len(table):,} rows, {len(gen.schema_.columns)} columns modelled -> {out}")
        return 0

    _exit_with(body)


def sample(
    model: Annotated[str, typer.Argument(help="Generator file from `secured synth fit`.")],
    out: Annotated[str, typer.Option("--out", help="Synthetic table (.csv or .parquet), written atomically.")],
    n: Annotated[int, typer.Option("--n", help="Rows to generate.")] = 1000,
    condition: Annotated[Optional[list[str]], typer.Option(help="COLUMN=VALUE fixed in every row; repeatable.")]
    = None,
    seed: Annotated[int, typer.Option(help="Seed of sampling.")] = 0,
) -> None:
    """Generate rows from a saved generator."""
    from ..io import check_output, write_table
    from ..synth import load

    def body() -> int:
        check_output(out, inputs=[model])
        gen = load(model)
        conditions = {}
        for item in condition or []:
            name, sep, value = item.partition("=")
            if not sep or not name:
                raise ConfigurationError("--condition takes COLUMN=VALUE.")
            if name not in gen.schema_.names:
                raise BadInputError(f"--condition names column {name!r}, which the generator did not learn.")
            spec = gen.schema_[name]
            if spec.kind != "categorical":
                try:
                    conditions[name] = float(value)
                except ValueError:
                    raise BadInputError(f"--condition on column {name!r} needs a number.") from None
            else:
                cats = {str(c): c for c in spec.categories}
                if value not in cats:
                    raise BadInputError(f"--condition on column {name!r} asks for a category the training table "
                                        "did not have.")
                conditions[name] = cats[value]
        rows = gen.sample(n, conditions=conditions or None, seed=seed)
        write_table(rows, out)
        console.print(f"{len(rows):,} synthetic rows -> {out}")
        return 0

    _exit_with(body)


def evaluate_cmd(
    real_train: Annotated[str, typer.Argument(help="The real table the generator was fitted on.")],
    synthetic: Annotated[str, typer.Argument(help="The synthetic table.")],
    holdout: Annotated[str, typer.Option("--holdout", help="Real rows the generator never saw.")],
    out: Annotated[str, typer.Option("--out", help="JSON report.")],
    target: Annotated[Optional[str], typer.Option(help="Column to predict: TSTR vs TRTR utility.")] = None,
    discrete: Discrete = "",
    dates: Dates = "",
    quasi_identifiers: Annotated[str, typer.Option(help="Columns the attacks assume known (default: all but the "
                                                        "target).")] = "",
    n_attacks: Annotated[int, typer.Option(min=10, help="Targets per attack.")] = 500,
    seed: Annotated[int, typer.Option(help="Seed.")] = 0,
) -> None:
    """Fidelity, detection, utility and privacy of a synthetic table against real rows."""
    from ..io import check_output, read_table, write_json
    from ..synth import evaluate

    def body() -> int:
        check_output(out, (".json",), inputs=[real_train, synthetic, holdout], what="report")
        d, t = _columns(discrete), _columns(dates)
        train, syn, hold = (typed(read_table(p), discrete=d, dates=t) for p in (real_train, synthetic, holdout))
        report = evaluate(train, syn, hold, target=target, quasi_identifiers=_columns(quasi_identifiers) or None,
                          n_attacks=n_attacks, seed=seed)
        write_json(report, out)
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


def register(app: typer.Typer) -> None:
    synth_app.command("fit")(fit)
    synth_app.command("sample")(sample)
    synth_app.command("evaluate")(evaluate_cmd)
    app.add_typer(synth_app, name="synth")
