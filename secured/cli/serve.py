"""``secured serve``: the hub over HTTP on Ray Serve (a local Ray by default, or a cluster),
until interrupted."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from ._common import console
from ._common import exit_with as _exit_with


def serve_cmd(
    port: Annotated[int, typer.Option(min=1, max=65535, help="HTTP port.")] = 8000,
    host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0 for every interface).")] = "127.0.0.1",
    address: Annotated[Optional[str], typer.Option(help="Join this Ray cluster, e.g. ray://head:10001 or auto "
                                                        "(default: start a local Ray).")] = None,
    replicas: Annotated[int, typer.Option(min=1, max=256, help="Replicas of the HTTP ingress.")] = 1,
    workers: Annotated[int, typer.Option(min=1, max=256, help="Job runner replicas (jobs run in parallel).")] = 1,
    gpu: Annotated[Optional[bool], typer.Option("--gpu/--no-gpu", help="Put the generator deployments (sampler, "
                                                "job runners) on GPUs (default: when the cluster has one).")] = None,
    db: Annotated[Optional[str], typer.Option("--db", help="Database URL (default: SECURED_DB_URL or SQLite).")] = None,
    lake: Annotated[Optional[str], typer.Option("--lake", help="Lake URI (default: SECURED_LAKE_URL).")] = None,
) -> None:
    """Serve the hub's HTTP API (OpenAPI at /docs) until Ctrl-C. Jobs are kept in the
    knowledge base: a restart loses none."""
    def body() -> int:
        import time

        import ray
        from ray import serve

        from ..cluster.serve.deploy import serve_app
        from ..hub import Hub

        Hub(db, lake).engine.dispose()          # migrate (and check) the knowledge base before starting Ray
        if address is None:
            ray.init(ignore_reinit_error=True, log_to_driver=False, include_dashboard=False)
        else:
            ray.init(address=address, ignore_reinit_error=True, log_to_driver=False)
        serve.start(http_options={"host": host, "port": port})
        serve.run(serve_app(db, lake, replicas=replicas, workers=workers, gpu=gpu), route_prefix="/", name="secured")
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        console.print(f"serving on http://{shown}:{port} (OpenAPI: http://{shown}:{port}/docs); Ctrl-C stops",
                      soft_wrap=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            serve.shutdown()
        return 0

    _exit_with(body)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve_cmd)
