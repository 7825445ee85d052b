"""``secured serve``: the hub over HTTP on the local Ray (or a cluster), until interrupted (draft)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from ._common import console
from ._common import exit_with as _exit_with


def serve_cmd(
    port: Annotated[int, typer.Option(min=1, max=65535, help="HTTP port.")] = 8000,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    address: Annotated[Optional[str], typer.Option(help="Join this Ray cluster (default: a local Ray).")] = None,
    replicas: Annotated[int, typer.Option(min=1, help="Replicas of the HTTP ingress.")] = 1,
    db: Annotated[Optional[str], typer.Option("--db", help="Database URL (default: SECURED_DB_URL or SQLite).")] = None,
    lake: Annotated[Optional[str], typer.Option("--lake", help="Lake URI (default: SECURED_LAKE_URL).")] = None,
) -> None:
    """Serve the hub's HTTP API (OpenAPI at /docs) until Ctrl-C."""
    def body() -> int:
        import time

        import ray
        from ray import serve

        from ..cluster.serve.deploy import serve_app

        ray.init(address=address, ignore_reinit_error=True, log_to_driver=False, include_dashboard=False)
        serve.start(http_options={"host": host, "port": port})
        serve.run(serve_app(db, lake, replicas=replicas), route_prefix="/")
        console.print(f"serving on http://{host}:{port} (OpenAPI: http://{host}:{port}/docs); Ctrl-C stops")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            serve.shutdown()
        return 0

    _exit_with(body)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve_cmd)
