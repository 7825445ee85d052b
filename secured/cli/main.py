"""``secured``: the command line of SECURED.

    secured --version
    secured demo
    secured bench ring [--sizes 256,512,1024] [--repeat 3] [--backend cython]
    secured bench mpc [--n 1024] [--relu-log2 20] [--no-ray] [--no-crypten]
    secured backends
    secured anonymize INPUT --quasi-identifiers a,b --k 5 --out OUT [--method optimal|mondrian|mdav]
    secured dp histogram INPUT --columns a,b --rho 0.5 --ledger LEDGER --out OUT
    secured assess ORIGINAL RELEASED --control CONTROL --quasi-identifiers a,b --out report.json
    secured protect INPUT --quasi-identifiers a,b --max-risk 0.05 --out OUT --report report.json
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.markup import escape

from .. import __version__
from .._config import BACKEND_NAMES
from ..exceptions import ConfigurationError
from ._common import columns as _columns
from ._common import console
from ._common import exit_with as _exit_with
from ._common import write_atomic as _write_atomic

app = typer.Typer(help="SECURED: use sensitive health data together without handing it over.",
                  no_args_is_help=True, add_completion=False)
bench_app = typer.Typer(help="Side-by-side benchmarks (ratios against baselines in the same run).",
                        no_args_is_help=True)
app.add_typer(bench_app, name="bench")
mpc_app = typer.Typer(help="Secure multiparty computation: jobs on a cluster of parties.", no_args_is_help=True)
app.add_typer(mpc_app, name="mpc")
from .hub import hub_app, register_release, require_token  # noqa: E402

app.add_typer(hub_app, name="hub")
dp_app = typer.Typer(help="Differentially private releases (OpenDP) with a budget ledger.", no_args_is_help=True)
app.add_typer(dp_app, name="dp")


def _version(value: bool) -> None:
    if value:
        console.print(f"secured {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[Optional[bool], typer.Option("--version", callback=_version, is_eager=True,
                                                    help="Print the version and exit.")] = None,
) -> None:
    """SECURED command line."""


def _parse_sizes(text: str) -> list[int]:
    try:
        sizes = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise typer.BadParameter("--sizes takes comma-separated positive integers, e.g. 256,512,1024") from None
    if not sizes or any(s <= 0 for s in sizes):
        raise typer.BadParameter("--sizes takes comma-separated positive integers, e.g. 256,512,1024")
    return sizes


def _check_backend(name: Optional[str]) -> Optional[str]:
    if name is not None and name not in BACKEND_NAMES:
        raise typer.BadParameter(f"--backend must be one of {', '.join(BACKEND_NAMES)}")
    return name


@bench_app.command("ring")
def bench_ring(
    sizes: Annotated[str, typer.Option(help="Comma-separated matrix sizes n.")] = "256,512,1024",
    repeat: Annotated[int, typer.Option(min=1, help="Timed repetitions (best is reported).")] = 3,
    backend: Annotated[Optional[str], typer.Option(help="numpy, cython or cupy (default: as configured).",
                                                   callback=_check_backend)] = None,
    prg_mib: Annotated[int, typer.Option(min=1, help="PRG stream size in MiB.")] = 256,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Exact Z_2^64 matmul vs numpy uint64 and float64 BLAS, and PRG throughput."""
    from ..bench.ring import main

    _exit_with(main, _parse_sizes(sizes), repeat, backend, prg_mib, json_out)


@bench_app.command("mpc")
def bench_mpc(
    n: Annotated[int, typer.Option(min=1, help="Matrix size for the private matmul.")] = 1024,
    relu_log2: Annotated[int, typer.Option(min=1, max=26, help="ReLU on 2^k elements.")] = 20,
    repeat: Annotated[int, typer.Option(min=1, help="Timed repetitions (best is reported).")] = 3,
    ray: Annotated[bool, typer.Option("--ray/--no-ray", help="Also run on Ray actors.")] = True,
    crypten: Annotated[bool, typer.Option("--crypten/--no-crypten", help="Run CrypTen if installed (make peers).")] = True,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Private matmul and ReLU (2 parties + dealer) vs plaintext and CrypTen, same run."""
    from ..bench.mpc import main

    _exit_with(main, n, relu_log2, repeat, ray, crypten, json_out)


@bench_app.command("train")
def bench_train(
    rows: Annotated[int, typer.Option(min=10, help="Training rows (CrypTen's setting: 3750).")] = 3750,
    features: Annotated[int, typer.Option(min=1, help="Features (CrypTen's setting: 20).")] = 20,
    repeat: Annotated[int, typer.Option(min=1, help="Timed epochs (the median is reported).")] = 3,
    crypten: Annotated[bool, typer.Option("--crypten/--no-crypten", help="Run CrypTen if installed (make peers).")] = True,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Seconds per private training epoch vs plaintext torch and CrypTen, same run."""
    from ..bench.train import main

    _exit_with(main, rows, features, repeat, crypten, json_out)


@mpc_app.command("train")
def mpc_train(config: Annotated[str, typer.Argument(help="YAML or JSON job config (see secured.jobs.train).")]) -> None:
    """Train a model privately across the parties of a config file; writes metrics and model."""
    from ..jobs.train import main

    raise typer.Exit(main([config]))


def _progress_callback(progress):
    """A rich progress bar fed by ``callback(stage, done, total)`` calls."""
    tasks: dict[str, int] = {}

    def callback(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = progress.add_task(stage, total=total)
        progress.update(tasks[stage], completed=done, total=total)

    return callback


# --register and its companions, shared by anonymize and protect
Register = Annotated[bool, typer.Option(help="Register the release in the hub (token: SECURED_TOKEN).")]
Title = Annotated[Optional[str], typer.Option(help="Inventory title for --register (default: file name).")]
Tags = Annotated[str, typer.Option(help="Comma-separated inventory tags for --register.")]


@app.command()
def anonymize(
    input: Annotated[str, typer.Argument(help="Input table (.csv or .parquet).")],
    quasi_identifiers: Annotated[str, typer.Option("--quasi-identifiers", help="Comma-separated columns.")],
    out: Annotated[str, typer.Option("--out", help="Release file (.csv or .parquet), written atomically.")],
    k: Annotated[int, typer.Option("--k", min=2, help="k of k-anonymity.")] = 5,
    method: Annotated[str, typer.Option(help="optimal (global recoding), mondrian (local recoding) or mdav "
                                             "(microaggregation of numeric columns).")] = "optimal",
    hierarchy: Annotated[Optional[list[str]], typer.Option(
        help="COLUMN=SPEC, repeatable; SPEC is a path to an ARX-format CSV or a builder: icd9, dates, flat, "
             "prefix:3,1, intervals:5,10,20, quantiles:8,4,2, ordered:2,5.")] = None,
    numeric: Annotated[str, typer.Option(help="Comma-separated numeric quasi-identifiers (mondrian).")] = "",
    max_suppression: Annotated[float, typer.Option(min=0.0, max=0.99, help="Largest share of rows to suppress.")] = 0.0,
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
    classification_target: Annotated[Optional[str], typer.Option(
        help="Also report classification utility for this column (80/20 split, logistic regression).")] = None,
    report: Annotated[Optional[str], typer.Option(help="JSON report path.")] = None,
    register: Register = False,
    title: Title = None,
    tags: Tags = "",
) -> None:
    """Anonymize a table: k-anonymity (and l, t) by optimal global recoding, Mondrian or MDAV."""
    from rich.progress import Progress

    from ..privacy.anonymizer import Anonymizer, read_table, write_json_atomic, write_table_atomic
    from ..privacy.utility import classification_utility

    def body() -> int:
        if register:
            require_token()
        table = read_table(input)
        hierarchies = _hierarchies(hierarchy, table)
        key = None
        if pseudonym_key_file:
            key = _read_key(pseudonym_key_file)
        params = dict(
            k=k, quasi_identifiers=_columns(quasi_identifiers), method=method, hierarchies=hierarchies,
            numeric=_columns(numeric), max_suppression=max_suppression, id_column=id_column, sensitive=sensitive,
            l=l, l_variant=l_variant, c=c, t=t, t_distance=t_distance, drop=_columns(drop),
            pseudonymize=_columns(pseudonymize), pseudonym_key=key)
        with Progress(console=console, transient=True) as progress:
            anonymizer = Anonymizer(**params, progress=_progress_callback(progress))
            release = anonymizer.fit_transform(table)
            result = anonymizer.report_
            if classification_target:
                result["classification_utility"] = classification_utility(
                    table, classification_target, Anonymizer(**params, utility=False))
        write_table_atomic(release, out)
        if report:
            write_json_atomic(result, report)
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
        console.print(line)
        return 0

    _exit_with(body)


def _hierarchies(items: Optional[list[str]], table) -> dict:
    from ..privacy.hierarchy import Hierarchy

    out = {}
    for item in items or []:
        if "=" not in item:
            raise ConfigurationError(f"--hierarchy takes COLUMN=PATH or COLUMN=SPEC; got {item!r}.")
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


@app.command()
def assess(
    original: Annotated[str, typer.Argument(help="The table the release was made from (.csv or .parquet).")],
    released: Annotated[str, typer.Argument(help="The release to attack.")],
    quasi_identifiers: Annotated[str, typer.Option("--quasi-identifiers", help="Columns the attacker knows.")],
    out: Annotated[str, typer.Option("--out", help="JSON report path.")],
    control: Annotated[Optional[str], typer.Option(help="Rows from the same population the release did not use.")] = None,
    sensitive: Annotated[str, typer.Option(help="Comma-separated columns to infer.")] = "",
    id_column: Annotated[Optional[str], typer.Option(help="Person id: singling out counts people.")] = None,
    numeric: Annotated[Optional[str], typer.Option(help="Comma-separated numeric columns (default: detected).")] = None,
    hierarchy: Annotated[Optional[list[str]], typer.Option(help="COLUMN=SPEC: released cells match their "
                                                                 "descendants (see anonymize).")] = None,
    n_attacks: Annotated[int, typer.Option(min=10, help="Targets per linkability/inference attack.")] = 2000,
    n_singling: Annotated[int, typer.Option(min=10, help="Predicates per singling-out attack.")] = 500,
    synthetic: Annotated[bool, typer.Option(help="Also report distance to closest record (synthetic data).")] = False,
    max_risk: Annotated[Optional[float], typer.Option(help="Mark this threshold; exit 1 when a risk's upper bound "
                                                           "reaches it.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of target sampling and tie-breaking.")] = 0,
    html_out: Annotated[Optional[str], typer.Option("--html", help="HTML report with plots.")] = None,
) -> None:
    """Attack a release: singling-out, linkability, inference (residual risk vs control, 95% CI)."""
    from rich.table import Table

    from ..privacy.anonymizer import read_table, write_json_atomic
    from ..privacy.html import assessment_html
    from ..privacy.protect import assess as run_assess
    from ..privacy.risk import distance_to_closest_record

    def body() -> int:
        if control is None:
            raise ConfigurationError("Assessment needs --control: rows from the same population that the release "
                                     "did not use (e.g. a held-out 20%).")
        ori, rel, ctl = read_table(original), read_table(released), read_table(control)
        qis, sens = _columns(quasi_identifiers), _columns(sensitive)
        nums = _columns(numeric) if numeric is not None else None
        report = run_assess(ori, rel, ctl, qis, sens, id_column=id_column, numeric=nums,
                            hierarchies=_hierarchies(hierarchy, ori), n_attacks=n_attacks, n_singling=n_singling,
                            seed=seed, progress=lambda stage: console.print(f"[dim]{escape(stage)}[/]"))
        if synthetic:
            report["distance_to_closest_record"] = distance_to_closest_record(ori, rel, ctl, [*qis, *sens],
                                                                              numeric=nums, seed=seed)
        write_json_atomic(report, out)
        if html_out:
            _write_atomic(assessment_html(report, max_risk), html_out)
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


@app.command()
def protect(
    input: Annotated[str, typer.Argument(help="Input table (.csv or .parquet).")],
    quasi_identifiers: Annotated[str, typer.Option("--quasi-identifiers", help="Comma-separated columns.")],
    out: Annotated[str, typer.Option("--out", help="Release file, written only when a setting passes.")],
    report: Annotated[str, typer.Option("--report", help="JSON report with every iteration.")],
    max_risk: Annotated[float, typer.Option(help="Every risk's upper bound must be below this.")] = 0.05,
    sensitive: Annotated[str, typer.Option(help="Comma-separated sensitive columns (inference targets, l=2).")] = "",
    control: Annotated[Optional[str], typer.Option(help="Control table; default: hold out 20% of the people.")] = None,
    hierarchy: Annotated[Optional[list[str]], typer.Option(help="COLUMN=PATH|SPEC, as for anonymize.")] = None,
    numeric: Annotated[str, typer.Option(help="Comma-separated numeric quasi-identifiers (mondrian).")] = "",
    id_column: Annotated[Optional[str], typer.Option(help="Person id: people counted once.")] = None,
    max_suppression: Annotated[float, typer.Option(min=0.0, max=0.99, help="Suppression budget (optimal).")] = 0.05,
    methods: Annotated[str, typer.Option(help="Methods to try, in order.")] = "optimal,mondrian",
    k_values: Annotated[str, typer.Option(help="The k ladder.")] = "2,5,10,20,50,100",
    n_attacks: Annotated[int, typer.Option(min=10, help="Targets per attack.")] = 1000,
    drop: Annotated[str, typer.Option(help="Direct identifiers to remove from the release.")] = "",
    pseudonymize: Annotated[str, typer.Option(help="Direct identifiers to replace by HMAC pseudonyms.")] = "",
    seed: Annotated[int, typer.Option(help="Seed of the control split and the attacks.")] = 0,
    html_out: Annotated[Optional[str], typer.Option("--html", help="HTML report with plots.")] = None,
    register: Register = False,
    title: Title = None,
    tags: Tags = "",
) -> None:
    """Anonymize, attack, strengthen, repeat: the most useful release whose risks all pass."""
    from ..privacy.anonymizer import read_table, write_json_atomic, write_table_atomic
    from ..privacy.html import protection_html
    from ..privacy.protect import Protector

    def body() -> int:
        if register:
            require_token()
        table = read_table(input)
        ctl = read_table(control) if control else None
        protector = Protector(
            quasi_identifiers=_columns(quasi_identifiers), sensitive=_columns(sensitive), max_risk=max_risk,
            hierarchies=_hierarchies(hierarchy, table), numeric=_columns(numeric), id_column=id_column,
            max_suppression=max_suppression, methods=_columns(methods), k_values=_ints(k_values, "--k-values"),
            n_attacks=n_attacks, drop=_columns(drop), pseudonymize=_columns(pseudonymize), seed=seed,
            progress=lambda stage: console.print(f"[dim]{escape(stage)}[/]"))
        protector.fit(table, ctl)
        result = protector.report_
        if protector.release_ is not None:
            write_table_atomic(protector.release_, out)
        write_json_atomic(result, report)
        if html_out:
            _write_atomic(protection_html(result), html_out)
        for it in result["iterations"]:
            s = it["settings"]
            state = ("[green]pass[/]" if it["passed"] else "[red]fail[/]") if "risks" in it else "[yellow]skipped[/]"
            extra = (f"highest upper bound {it['max_risk_upper']:.4f} ({escape(it['riskiest'])}), "
                     f"loss {it['utility']['loss']:.3f}") if "risks" in it else escape(it.get("skipped", ""))
            console.print(f"#{it['iteration']} {s['method']} k={s['k']}: {state} {extra}")
        if protector.release_ is None:
            console.print(f"[red]error:[/] {escape(result['message'])}")
            return 2
        console.print(f"released with {result['chosen']['method']} k={result['chosen']['k']}")
        if register:
            dataset_id = register_release(out, result, title, id_column, _columns(tags), protector.release_)
            console.print(f"registered in the hub as dataset {dataset_id}")
        return 0

    _exit_with(body)


def _read_key(path: str) -> bytes:
    from pathlib import Path

    p = Path(path)
    if not p.is_file():
        raise ConfigurationError(f"No key file at {path}.")
    raw = p.read_bytes().strip()
    try:
        key = bytes.fromhex(raw.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        key = raw
    if len(key) < 16:
        raise ConfigurationError("The pseudonym key file must hold at least 16 bytes (or 32 hex digits).")
    return key


@dp_app.command("histogram")
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
    budget_rho: Annotated[Optional[float], typer.Option(help="Total rho of a new ledger.")] = None,
    budget_epsilon: Annotated[Optional[float], typer.Option(help="Total epsilon of a new ledger.")] = None,
    label: Annotated[Optional[str], typer.Option(help="Name of this release in the ledger.")] = None,
    report: Annotated[Optional[str], typer.Option(help="JSON report path.")] = None,
) -> None:
    """Release a differentially private histogram (a marginal of several columns) via OpenDP."""
    from pathlib import Path

    from ..privacy.anonymizer import read_table, write_json_atomic, write_table_atomic
    from ..privacy.dp import BudgetLedger, dp_histogram

    def body() -> int:
        domains = {}
        for item in domain or []:
            if "=" not in item:
                raise ConfigurationError(f"--domain takes COLUMN=v1,v2 or COLUMN=@file; got {item!r}.")
            column, spec = item.split("=", 1)
            if spec.startswith("@"):
                if not Path(spec[1:]).is_file():
                    raise ConfigurationError(f"No domain file at {spec[1:]}.")
                values = [v for v in Path(spec[1:]).read_text().splitlines() if v]
            else:
                values = [v for v in spec.split(",") if v]
            domains[column] = values
        book = BudgetLedger(ledger, rho=budget_rho, epsilon=budget_epsilon)
        release = dp_histogram(read_table(input), _columns(columns), rho=rho, epsilon=epsilon, id_column=id_column,
                               contributions=contributions, domains=domains or None, ledger=book, label=label)
        write_table_atomic(release.table, out)
        if report:
            write_json_atomic(release.to_dict(), report)
        spent = release.rho if release.rho is not None else release.epsilon
        console.print(f"{len(release.table)} noisy cells; spent {spent:g} "
                      f"({'rho' if release.rho is not None else 'epsilon'}); ledger: {book.spent:g} of "
                      f"{book.total:g} {book.kind} used")
        if release.domain_from_data:
            console.print("[yellow]note:[/] categories were taken from the data (pass --domain to keep them public)")
        return 0

    _exit_with(body)


@app.command()
def demo() -> None:
    """Run the end-to-end demo on what the system can do today; exits 1 if a check fails."""
    from ..demo import run_demo

    _exit_with(lambda: 0 if run_demo(console) else 1)


@app.command()
def backends() -> None:
    """List the ring backends and whether each can be used on this machine."""
    from ..backend import available_backends

    for name, status in available_backends().items():
        shown = "[green]ok[/]" if status == "ok" else "[yellow]unavailable[/]: " + escape(status)
        console.print(f"{name:7s} {shown}")


if __name__ == "__main__":
    app()
