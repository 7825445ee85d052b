"""The hub over HTTP (issue 18, first draft): a FastAPI application over the classes that
already work without Ray, served by Ray Serve. ``build_app(hub)`` is the plain ASGI app
(tests drive it with httpx); ``secured.cluster.serve.deploy`` wraps it in a Serve ingress.
"""

from .app import build_app

__all__ = ["build_app"]
