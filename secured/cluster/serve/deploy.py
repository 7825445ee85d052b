"""The HTTP app as a Ray Serve application: three deployments wired with ``.bind()``.

- ``secured-hub``: the FastAPI ingress (``app.build_app``); each replica opens its own
  connection to the knowledge base. Stateless: any number of replicas.
- ``secured-jobs``: job runners (``runner.JobRunner``), one thread per replica taking queued
  jobs from the knowledge base. Serve restarts a replica that dies; the job it held goes
  stale and is run again by a runner, and only one result is stored.
- ``secured-sampler``: sampling from published generators, requests batched with
  ``@serve.batch`` (one generator load per batch, GPU when ``gpu=True``).

``serve.run(serve_app(db, lake), route_prefix="/")`` starts it on the local Ray or the
cluster Ray is connected to; ``app_builder`` is the entry point for ``serve deploy`` configs
(``ray_configs/serve-config.yaml``). Without arguments the deployments read
``SECURED_DB_URL`` and ``SECURED_LAKE_URL``.
"""

from __future__ import annotations

from typing import Any, Optional

__all__ = ["serve_app", "app_builder", "INGRESS", "JOBS", "SAMPLER"]

INGRESS, JOBS, SAMPLER = "secured-hub", "secured-jobs", "secured-sampler"


def serve_app(db_url: Optional[str] = None, lake_url: Optional[str] = None, *, replicas: int = 1, workers: int = 1,
              gpu: Optional[bool] = None, heartbeat: float = 2.0, stale_after: float = 30.0,
              max_upload_bytes: Optional[int] = None) -> Any:
    """The bound application (ingress, job runners, sampler). ``gpu``: None asks for GPUs when
    the Ray cluster has one (the sampler a quarter, the job runners the rest, so generator
    fits and samples run there with ``device="auto"``); True requires one; False never."""
    import ray
    from ray import serve

    from ...exceptions import SecuredError
    from ...hub import Hub
    from .app import MAX_UPLOAD_BYTES, build_app

    def open_hub() -> Hub:
        return Hub(db_url, lake_url)

    if gpu is None:
        gpu = ray.is_initialized() and ray.cluster_resources().get("GPU", 0) >= 1
    sampler_gpus, runner_gpus = (0.25, round(0.75 / workers, 4)) if gpu else (0, 0)

    @serve.deployment(name=JOBS, num_replicas=workers, ray_actor_options={"num_cpus": 1, "num_gpus": runner_gpus},
                      health_check_period_s=2, health_check_timeout_s=10)
    class Jobs:
        """Job runners: each replica takes jobs from the knowledge base until it stops."""

        def __init__(self) -> None:
            from .runner import JobRunner

            self.runner = JobRunner(open_hub, heartbeat=heartbeat, stale_after=stale_after).start()

        def check_health(self) -> None:
            if not self.runner.alive:
                raise RuntimeError("the job runner thread stopped")

        def status(self) -> dict[str, Any]:
            return {"runner": self.runner.name, "current": self.runner.current}

    @serve.deployment(name=SAMPLER, ray_actor_options={"num_cpus": 0.5, "num_gpus": sampler_gpus})
    class Sampler:
        """Sampling from published generators, batched; every request authorized on its own."""

        def __init__(self) -> None:
            self.hub = open_hub()

        @serve.batch(max_batch_size=16, batch_wait_timeout_s=0.005)
        async def sample(self, requests: list[tuple]) -> list[Any]:
            out = []
            for token, name, n, version, conditions, seed in requests:
                try:
                    out.append(("ok", self.hub.sample_model(token, name, n, version=version, conditions=conditions,
                                                            seed=seed)))
                except SecuredError as exc:
                    out.append(("error", exc))
            return out

    handles: dict[str, Any] = {}

    async def sample(token: str, name: str, n: int, version: Any, conditions: Any, seed: Any) -> Any:
        if "sampler" not in handles:      # this replica's handle to the sampler of its own application
            handles["sampler"] = serve.get_deployment_handle(SAMPLER, serve.get_replica_context().app_name)
        status, value = await handles["sampler"].sample.remote((token, name, n, version, conditions, seed))
        if status == "error":
            raise value
        return value

    app = build_app(open_hub, max_upload_bytes=max_upload_bytes or MAX_UPLOAD_BYTES, sampler=sample)

    # Serve's default of 5 requests in flight per replica makes the 6th client queue in the
    # proxy; the ingress is I/O-bound on the knowledge base, so it takes many at once.
    @serve.deployment(name=INGRESS, num_replicas=replicas, ray_actor_options={"num_cpus": 0.5},
                      max_ongoing_requests=64)
    @serve.ingress(app)
    class HubIngress:
        """The FastAPI ingress: every route of ``secured.cluster.serve.app``."""

        def __init__(self, jobs: Any, sampler: Any) -> None:
            self.jobs, self.sampler = jobs, sampler      # bound so Serve deploys both with the ingress

    return HubIngress.bind(Jobs.bind(), Sampler.bind())


def app_builder(args: dict[str, Any]) -> Any:
    """``serve deploy`` entry point: ``args`` may hold db_url, lake_url, replicas, workers,
    gpu, heartbeat, stale_after, max_upload_bytes (unknown keys are refused)."""
    from ...exceptions import ConfigurationError

    known = {"db_url", "lake_url", "replicas", "workers", "gpu", "heartbeat", "stale_after", "max_upload_bytes"}
    unknown = sorted(set(args or {}) - known)
    if unknown:
        raise ConfigurationError(f"Unknown application argument(s) {unknown}; known: {sorted(known)}.")
    args = dict(args or {})
    return serve_app(args.pop("db_url", None), args.pop("lake_url", None), **args)
