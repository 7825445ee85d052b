"""The HTTP app as a Ray Serve application (draft): ``serve_app(db_url, lake_url)`` returns the
bound ingress deployment; ``serve.run(serve_app(), route_prefix="/")`` starts it on the local
Ray or the cluster Ray is connected to. Each replica opens its own connection to the
knowledge base (``SECURED_DB_URL`` / ``SECURED_LAKE_URL`` or the arguments)."""

from __future__ import annotations

from typing import Any

__all__ = ["serve_app"]


def serve_app(db_url: str | None = None, lake_url: str | None = None, *, replicas: int = 1) -> Any:
    from ray import serve

    from ...hub import Hub
    from .app import build_app

    app = build_app(lambda: Hub(db_url, lake_url))

    @serve.deployment(name="secured-hub", num_replicas=replicas)
    @serve.ingress(app)
    class HubIngress:
        """The FastAPI ingress: every route of ``secured.cluster.serve.app``."""

    return HubIngress.bind()
