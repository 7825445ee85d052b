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
    secured bias report INPUT --protected a,b --target y [--positive L] --out R.json [--html R.html]
    secured bias mitigate INPUT --protected a,b --target y --method reweigh|resample|preferential|synthetic --out OUT
    secured synth fit INPUT --out GEN.json | sample GEN.json --n 1000 --out OUT | evaluate TRAIN SYN --holdout H --out R.json
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.markup import escape

from .. import __version__
from .._config import BACKEND_NAMES
from ._common import console
from ._common import exit_with as _exit_with

app = typer.Typer(help="SECURED: use sensitive health data together without handing it over.",
                  no_args_is_help=True, add_completion=False)
bench_app = typer.Typer(help="Side-by-side benchmarks (ratios against baselines in the same run).",
                        no_args_is_help=True)
app.add_typer(bench_app, name="bench")
mpc_app = typer.Typer(help="Secure multiparty computation: jobs on a cluster of parties.", no_args_is_help=True)
app.add_typer(mpc_app, name="mpc")
from .hub import hub_app  # noqa: E402

app.add_typer(hub_app, name="hub")
dp_app = typer.Typer(help="Differentially private releases (OpenDP) with a budget ledger.", no_args_is_help=True)
app.add_typer(dp_app, name="dp")
from . import privacy as _privacy_commands  # noqa: E402

_privacy_commands.register(app, dp_app)
from . import synth as _synth_commands  # noqa: E402

_synth_commands.register(app)
from . import bias as _bias_commands  # noqa: E402

_bias_commands.register(app)
from . import federate as _federate_commands  # noqa: E402

_federate_commands.register(app)
from . import serve as _serve_commands  # noqa: E402

_serve_commands.register(app)


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
def mpc_train(config: Annotated[str, typer.Argument(help="YAML or JSON job config (see secured.cluster.jobs.train).")]) -> None:
    """Train a model privately across the parties of a config file; writes metrics and model."""
    from ..cluster.jobs.train import main

    raise typer.Exit(main([config]))


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
