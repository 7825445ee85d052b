"""Load benchmark of the hub's HTTP service on Ray Serve (``secured.cluster.serve``), next to
calling the same hub functions directly in the same process, in the same run (the baseline:
what HTTP, Serve and the job queue cost). Ratios are printed, never asserted.

    python benchmarks/bench_serve.py                            # defaults (~4 min, 2 cores)
    python benchmarks/bench_serve.py --quick                    # ~1 min smoke run
    python benchmarks/bench_serve.py --replicas 1,2 --workers 2 --json serve.json
    python benchmarks/bench_serve.py --assess-requests 200      # the acceptance's 8 x 200 on assess

Measured (``--clients`` concurrent clients, default 8; each HTTP client is a thread with its
own ``httpx.Client`` and keep-alive connection; each direct caller a thread calling the hub):

- light route, ``GET /v1/models`` with a researcher's bearer token (one model published, so the
  answer is not empty): ``--requests`` per client (default 200). Baseline: ``hub.list_models(token)``
  by the same number of threads and calls, and by one thread in sequence; also
  ``hub.authenticate`` + ``hub.list_models`` (one extra token check, an upper bound of what the
  route does: the route parses the header and the hub method authenticates once and audits). Over HTTP: one client in
  sequence and ``--clients`` concurrently, for every ingress replica count of ``--replicas``
  (the application is redeployed for each). ``GET /v1/health`` (no token, no database) is
  measured too: the floor of HTTP + Serve alone.
- assessment route: a job per request, ``POST /v1/assess`` (multipart: original, release and
  control tables as Parquet + params: quasi_identifiers age/sex/race, ``--n-attacks``,
  ``--n-singling``) then ``GET /v1/jobs/{id}?wait=30`` until it ends; latency is end to end,
  submit to final state. ``--assess-requests`` per client (default 25; the acceptance's 8 x 200
  is ``--assess-requests 200``). Jobs are run by the ``secured-jobs`` deployment, ``--workers``
  replicas, one job at a time each; an idle runner looks for work every 0.1 s and the long poll
  looks at the job every 0.1 s, which a lone client's latency includes. Data: Adult, rows 0-1999 (original; released through
  Mondrian k=5 on age, sex, race) and rows 2000-2499 (control). Baseline:
  ``secured.privacy.protect.assess`` on the same tables (read back from the uploaded bytes) with
  the same number of threads and calls, and by one thread in sequence (the one-thread and
  one-client phases run ``--sequential-assess`` jobs, default 25).

Errors: an exception, a status other than the expected one (200; 202 for a submission), or a
job that does not end 'succeeded'. Throughput: requests finished / wall time of the phase (all
clients start together). For each phase the share of the machine's CPU that was busy and the CPU
seconds of this process (the clients, or the direct callers) are printed: on a 2-core machine
the HTTP clients, the Serve proxy, the ingress replica(s) and the job runner share two cores.
A second table gives the CPU milliseconds per request of each process of this run's Ray (the
proxy, the ingress replicas, the job runners, ...; read from /proc) and the audit rows written
per request, which show where the time of a request goes whatever else the machine runs.

The knowledge base is a SQLite file in a temporary folder (``--db`` for another URL, e.g. a
PostgreSQL database; the lake stays in the temporary folder). Ray runs locally with its
temporary files under RAY_TMPDIR (a fresh temporary folder unless set); Serve's logs are in
``$RAY_TMPDIR/ray/session_latest/logs/serve/`` and that folder is kept when a request failed
or with ``--keep-logs``.
"""

from __future__ import annotations

import argparse
import functools
import io
import json
import math
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

print = functools.partial(print, flush=True)  # noqa: A001
QIS = ["age", "sex", "race"]


# -- measuring --------------------------------------------------------------------------------------

def _loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _cpu_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine since boot (/proc/stat)."""
    try:
        with open("/proc/stat") as f:
            values = [int(x) for x in f.readline().split()[1:]]
    except OSError:
        return 0, 0
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return sum(values) - idle, sum(values)


ROLES = (("ray::ProxyActor", "proxy"), ("ray::ServeReplica:secured:secured-hub", "ingress"),
         ("ray::ServeReplica:secured:secured-jobs", "jobs"), ("ray::ServeReplica:secured:secured-sampler", "sampler"),
         ("ray::ServeController", "controller"))
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def ray_processes() -> dict[int, tuple[str, int]]:
    """pid -> (role, nice) of this run's Ray processes (those whose environment holds this
    run's RAY_TMPDIR: other Ray instances on the machine are left out)."""
    mark = f"RAY_TMPDIR={os.environ.get('RAY_TMPDIR', '')}".encode()
    out = {}
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else ():
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                if mark not in f.read().split(b"\0"):
                    continue
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read().split(b"\0")[0].decode(errors="replace")
            with open(f"/proc/{entry}/stat") as f:
                nice = int(f.read().rsplit(")", 1)[1].split()[16])
        except (OSError, ValueError, IndexError):
            continue
        role = next((r for prefix, r in ROLES if cmd.startswith(prefix)), "ray other")
        out[int(entry)] = (role, nice)
    return out


def _cpu_seconds(pids: dict[int, tuple[str, int]]) -> dict[int, float]:
    out = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            out[pid] = (int(fields[11]) + int(fields[12])) / _TICK
        except (OSError, ValueError, IndexError):
            continue
    return out


AUDIT: dict[str, Any] = {}


def audit_rows() -> int | None:
    """Rows in the knowledge base's audit table (every allowed hub call writes one)."""
    hub = AUDIT.get("hub")
    if hub is None:
        return None
    import sqlalchemy as sa

    with hub.engine.connect() as c:
        return int(c.execute(sa.text("SELECT count(*) FROM audit")).scalar())


def run_load(label: str, clients: int, per_client: int, setup: Callable[[], Callable[[], Any]]) -> dict[str, Any]:
    """``clients`` threads, each ``call = setup()`` then ``per_client`` timed ``call()``; a call
    raising counts as an error (its message, one line, is the reason)."""
    audit0 = audit_rows()
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors: list[Counter] = [Counter() for _ in range(clients)]
    extras: list[list[Any]] = [[] for _ in range(clients)]
    barrier = threading.Barrier(clients + 1)

    def worker(i: int) -> None:
        try:
            call = setup()
        except Exception as exc:  # noqa: BLE001 - a client that cannot start fails all its requests
            barrier.wait()
            errors[i][f"setup: {type(exc).__name__}: {str(exc)[:200]}"] += per_client
            return
        barrier.wait()
        for _ in range(per_client):
            start = time.perf_counter()
            try:
                extra = call()
            except Exception as exc:  # noqa: BLE001 - counted, the load goes on
                latencies[i].append(time.perf_counter() - start)
                errors[i][f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"] += 1
                continue
            latencies[i].append(time.perf_counter() - start)
            if extra is not None:
                extras[i].append(extra)
        close = getattr(call, "close", None)
        if close is not None:
            close()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    procs = ray_processes()
    barrier.wait()
    ray0 = _cpu_seconds(procs)
    busy0, total0 = _cpu_jiffies()
    cpu0 = sum(os.times()[:2])
    start = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    busy1, total1 = _cpu_jiffies()
    cpu = sum(os.times()[:2]) - cpu0
    ray1 = _cpu_seconds(procs)
    ray_cpu: Counter = Counter()
    for pid, seconds in ray1.items():
        ray_cpu[procs[pid][0]] += seconds - ray0.get(pid, seconds)
    lat = np.array([x for per in latencies for x in per]) * 1000
    reasons = sum(errors, Counter())
    out = {"label": label, "clients": clients, "per_client": per_client, "requests": int(len(lat)),
           "errors": int(sum(reasons.values())), "error_reasons": dict(reasons.most_common(5)),
           "wall_s": wall, "throughput": len(lat) / wall if wall > 0 else float("nan"),
           "p50_ms": float(np.percentile(lat, 50)) if len(lat) else float("nan"),
           "p99_ms": float(np.percentile(lat, 99)) if len(lat) else float("nan"),
           "mean_ms": float(lat.mean()) if len(lat) else float("nan"),
           "machine_cpu_busy": (busy1 - busy0) / (total1 - total0) if total1 > total0 else float("nan"),
           "this_process_cpu_s": cpu, "ray_cpu_s": {k: round(v, 3) for k, v in sorted(ray_cpu.items())},
           "ray_nice": sorted({nice for _, nice in procs.values()})}
    audit1 = audit_rows()
    out["audit_rows_per_request"] = (audit1 - audit0) / max(len(lat), 1) if audit0 is not None else None
    out["extras"] = [x for per in extras for x in per]
    print(f"  {label}: {clients} x {per_client}: {out['errors']} errors, p50 {out['p50_ms']:.1f} ms, "
          f"p99 {out['p99_ms']:.1f} ms, {out['throughput']:.1f} req/s, machine CPU {out['machine_cpu_busy']:.0%}, "
          f"this process {cpu:.1f} CPU-s in {wall:.1f} s; Ray CPU-s "
          f"{', '.join(f'{k} {v:.1f}' for k, v in out['ray_cpu_s'].items() if v >= 0.05) or '~0'}"
          + (f"; errors: {out['error_reasons']}" if reasons else ""))
    return out


# -- the service --------------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def deploy(db: str, lake: str, replicas: int, workers: int, base: str) -> None:
    """Deploy (or redeploy) the application and wait until the ingress answers."""
    import httpx
    from ray import serve

    from secured.cluster.serve.deploy import serve_app

    start = time.perf_counter()
    serve.run(serve_app(db, lake, replicas=replicas, workers=workers), route_prefix="/", name="secured")
    deadline = time.monotonic() + 120
    with httpx.Client(base_url=base, timeout=10) as c:
        while True:
            try:
                if c.get("/v1/health").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the application did not answer /v1/health within 120 s")
            time.sleep(0.2)
    print(f"\ndeployed: {replicas} ingress replica(s), {workers} job runner(s) in {time.perf_counter() - start:.1f} s")


def http_get(base: str, path: str, token: str | None, expect: int = 200) -> Callable[[], Callable[[], Any]]:
    import httpx

    def setup() -> Callable[[], Any]:
        client = httpx.Client(base_url=base, timeout=60,
                              headers={"Authorization": f"Bearer {token}"} if token else None)

        def call() -> None:
            r = client.get(path)
            if r.status_code != expect:
                raise RuntimeError(f"HTTP {r.status_code}")

        call.close = client.close
        return call

    return setup


def http_assess(base: str, token: str, files: dict[str, bytes], params: dict[str, Any],
                job_timeout: float) -> Callable[[], Callable[[], Any]]:
    import httpx

    body = json.dumps(params)

    def setup() -> Callable[[], Any]:
        client = httpx.Client(base_url=base, timeout=60, headers={"Authorization": f"Bearer {token}"})

        def call() -> dict[str, Any]:
            r = client.post("/v1/assess", data={"params": body},
                            files={n: (f"{n}.parquet", data, "application/octet-stream") for n, data in files.items()})
            if r.status_code != 202:
                raise RuntimeError(f"submit: HTTP {r.status_code}")
            job_id, deadline = r.json()["id"], time.monotonic() + job_timeout
            while True:
                r = client.get(f"/v1/jobs/{job_id}", params={"wait": 30})
                if r.status_code != 200:
                    raise RuntimeError(f"poll: HTTP {r.status_code}")
                view = r.json()
                if view["state"] not in ("queued", "running"):
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"job still {view['state']} after {job_timeout:.0f} s")
            if view["state"] != "succeeded":
                raise RuntimeError(f"job {view['state']}: {(view.get('error') or '')[:150]}")
            created, finished = (datetime.fromisoformat(view[k]) for k in ("created_at", "finished_at"))
            return {"server_s": (finished - created).total_seconds(), "attempts": view["attempts"],
                    "max_risk_upper": view["result"].get("max_risk_upper")}

        call.close = client.close
        return call

    return setup


def direct(fn: Callable[[], Any]) -> Callable[[], Callable[[], Any]]:
    return lambda: fn


# -- the benchmark ------------------------------------------------------------------------------------

def assessment_tables(rows: int, control_rows: int) -> dict[str, bytes]:
    from secured.data import load
    from secured.privacy.anonymizer import Anonymizer

    df = load("adult")
    original = df.head(rows).reset_index(drop=True)
    control = df.iloc[rows:rows + control_rows].reset_index(drop=True)
    release = Anonymizer(k=5, quasi_identifiers=QIS, method="mondrian", numeric=["age"]).fit_transform(original)
    out = {}
    for name, table in (("original", original), ("release", release), ("control", control)):
        buffer = io.BytesIO()
        table.to_parquet(buffer, index=False)
        out[name] = buffer.getvalue()
    return out


def setup_hub(db: str, lake: str) -> tuple[Any, dict[str, str]]:
    from secured.data import load
    from secured.hub import Hub
    from secured.synth import GaussianCopula, dumps, typed

    hub, admin = Hub.init(db, lake)
    if admin is None:
        raise SystemExit("--db must name an empty knowledge base (it already has members).")
    hub.add_member(admin, "hosp", "producer")
    hub.add_member(admin, "lab", "researcher")
    tokens = {"hosp": hub.create_token(admin, "hosp", ["read", "write"]),
              "lab": hub.create_token(admin, "lab", ["read"])}
    gen = GaussianCopula(seed=0).fit(typed(load("adult").head(500)[["age", "sex", "education"]]))
    hub.publish_model(tokens["hosp"], "adult-copula", dumps(gen), access="sample", visibility="all")
    assert len(hub.list_models(tokens["lab"])) == 1
    return hub, tokens


def main() -> None:
    ap = argparse.ArgumentParser(description="Load benchmark of the hub's HTTP service on Ray Serve, next to the "
                                 "same hub functions called directly (see the module docstring).")
    ap.add_argument("--clients", type=int, default=8, help="concurrent clients (threads)")
    ap.add_argument("--requests", type=int, default=200, help="light-route requests per client")
    ap.add_argument("--assess-requests", type=int, default=25, help="assessment jobs per client "
                    "(the acceptance's 8 x 200: 200)")
    ap.add_argument("--sequential-assess", type=int, default=25, help="assessment jobs of the one-client "
                    "(and one-thread) phases, at most --assess-requests")
    ap.add_argument("--replicas", default="1,2", help="ingress replica counts to measure, comma-separated")
    ap.add_argument("--workers", type=int, default=1, help="job-runner replicas (secured-jobs)")
    ap.add_argument("--n-attacks", type=int, default=100)
    ap.add_argument("--n-singling", type=int, default=30)
    ap.add_argument("--rows", type=int, default=2000, help="rows of the original table (Adult)")
    ap.add_argument("--control-rows", type=int, default=500)
    ap.add_argument("--warmup", type=int, default=20, help="untimed requests per client before each HTTP phase")
    ap.add_argument("--quick", action="store_true", help="~1 min smoke run: 8 x 50 light, 8 x 5 assess, "
                    "one replica count")
    ap.add_argument("--skip-light", action="store_true", help="only the assessment route")
    ap.add_argument("--skip-assess", action="store_true", help="only the light route")
    ap.add_argument("--db", help="knowledge-base URL (an empty database; default: SQLite in a temporary folder)")
    ap.add_argument("--num-cpus", type=int, help="Ray's logical CPUs (default: enough for the deployments)")
    ap.add_argument("--keep-logs", action="store_true", help="keep RAY_TMPDIR (Serve logs) after the run")
    ap.add_argument("--json")
    args = ap.parse_args()
    if args.quick:
        args.requests, args.assess_requests, args.warmup = 50, 5, 5
        args.replicas = args.replicas.split(",")[0]
    replica_counts = [int(x) for x in args.replicas.split(",") if x.strip()]
    n, c = args.requests, args.clients

    tmp = Path(tempfile.mkdtemp(prefix="secured-bench-serve-"))
    own_ray_tmp = "RAY_TMPDIR" not in os.environ
    if own_ray_tmp:
        os.environ["RAY_TMPDIR"] = tempfile.mkdtemp(prefix="secured-ray-")
    ray_tmp = os.environ["RAY_TMPDIR"]
    db = args.db or f"sqlite:///{tmp / 'hub.db'}"
    lake = (tmp / "lake").as_uri()
    out: dict[str, Any] = {"config": {k: v for k, v in vars(args).items() if k != "json"},
                           "machine": {"cpus": os.cpu_count(), "loadavg_start": _loadavg()}, "light": [],
                           "assess": []}
    print(f"{c} clients; light route {c} x {n}, assessment {c} x {args.assess_requests}; ingress replicas "
          f"{replica_counts}; {args.workers} job runner(s); {os.cpu_count()} CPUs; db "
          f"{'SQLite (temporary file)' if not args.db else 'given URL'}; RAY_TMPDIR={ray_tmp}")

    load_start = out["machine"]["loadavg_start"]
    if load_start and load_start[0] > 0.5 * (os.cpu_count() or 1):
        print(f"note: the machine is busy before the start (load average {load_start[0]:.1f} on {os.cpu_count()} "
              "CPUs): the numbers will move with the other programs; the per-request CPU table moves less")
    hub, tokens = setup_hub(db, lake)
    AUDIT["hub"] = hub
    files = {} if args.skip_assess else assessment_tables(args.rows, args.control_rows)

    import httpx
    from ray import serve

    from secured.cluster import ensure_ray

    need = 0.5 * max(replica_counts) + args.workers + 0.5      # ingress + job runners + sampler
    ensure_ray(num_cpus=args.num_cpus or max(os.cpu_count() or 2, math.ceil(need)))
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    failed = False
    try:
        # -- light route --------------------------------------------------------------------------
        for i, replicas in enumerate(replica_counts[-1:] if args.skip_light else replica_counts):
            deploy(db, lake, replicas, args.workers, base)
            if args.skip_light:
                break
            if i == 0:   # the direct baseline with the service deployed (same background: idle job-runner polls)
                lab = tokens["lab"]
                hub.list_models(lab)
                rows = [run_load("direct hub.list_models, 1 thread", 1, n, direct(lambda: hub.list_models(lab))),
                        run_load(f"direct hub.list_models, {c} threads", c, n, direct(lambda: hub.list_models(lab))),
                        run_load(f"direct authenticate + list_models (as the route), {c} threads", c, n,
                                 direct(lambda: (hub.authenticate(lab, "http"), hub.list_models(lab))))]
                for row, kind in zip(rows, ("direct_1", "direct", "direct_as_route")):
                    row.update(route="GET /v1/models", caller=kind, replicas=None)
                    out["light"].append(row)
            run_load("warm-up", c, args.warmup, http_get(base, "/v1/models", tokens["lab"]))
            answer = httpx.get(f"{base}/v1/models", headers={"Authorization": f"Bearer {tokens['lab']}"}).json()
            assert len(answer) == 1 and answer[0]["name"] == "adult-copula", answer
            for label, path, token, clients, kind in (
                    ("HTTP GET /v1/health (no token, no DB)", "/v1/health", None, c, "http_health"),
                    ("HTTP GET /v1/models, 1 client", "/v1/models", tokens["lab"], 1, "http_1"),
                    (f"HTTP GET /v1/models, {c} clients", "/v1/models", tokens["lab"], c, "http")):
                row = run_load(f"{label} [{replicas} replica(s)]", clients, n, http_get(base, path, token))
                row.update(route="GET " + path, caller=kind, replicas=replicas)
                out["light"].append(row)
                failed |= row["errors"] > 0

        # -- assessment route -----------------------------------------------------------------------
        if not args.skip_assess:
            import pandas as pd

            from secured.privacy.protect import assess

            tables = {k: pd.read_parquet(io.BytesIO(v)) for k, v in files.items()}
            kw = {"n_attacks": args.n_attacks, "n_singling": args.n_singling}

            def assess_direct() -> dict[str, Any]:
                report = assess(tables["original"], tables["release"], tables["control"], QIS, **kw)
                return {"max_risk_upper": dict(report).get("max_risk_upper")}

            m = args.assess_requests
            m1 = min(m, args.sequential_assess)       # one client in sequence: its latency, not a long wait
            print(f"\nassessment: original {len(tables['original'])} rows, release {len(tables['release'])}, control "
                  f"{len(tables['control'])}; n_attacks {args.n_attacks}, n_singling {args.n_singling}; uploads "
                  f"{sum(map(len, files.values())) / 1024:.0f} KiB per job")
            assess_direct()
            rows = [run_load("direct assess, 1 thread", 1, m1, direct(assess_direct)),
                    run_load(f"direct assess, {c} threads", c, m, direct(assess_direct))]
            for row, kind in zip(rows, ("direct_1", "direct")):
                row.update(route="assess", caller=kind, replicas=None)
                out["assess"].append(row)
            params = {"quasi_identifiers": QIS, **kw}
            job = http_assess(base, tokens["hosp"], files, params, job_timeout=600)
            run_load("warm-up", 1, 2, job)
            for label, clients, count, kind in (("HTTP POST /v1/assess + poll, 1 client", 1, m1, "http_1"),
                                                (f"HTTP POST /v1/assess + poll, {c} clients", c, m, "http")):
                row = run_load(f"{label} [{replica_counts[-1]} replica(s), {args.workers} runner(s)]", clients, count,
                               job)
                row.update(route="assess", caller=kind, replicas=replica_counts[-1])
                server = [x["server_s"] for x in row["extras"]]
                if server:
                    row["server_p50_ms"] = float(np.percentile(server, 50) * 1000)
                    row["server_p99_ms"] = float(np.percentile(server, 99) * 1000)
                    row["retried_jobs"] = sum(x["attempts"] > 1 for x in row["extras"])
                out["assess"].append(row)
                failed |= row["errors"] > 0
            risks = {round(x["max_risk_upper"], 12) for r in out["assess"] for x in r["extras"]}
            out["assess_same_result"] = len(risks) == 1
            print(f"  every assessment (direct and HTTP) gave the same max_risk_upper: {len(risks) == 1} "
                  f"({sorted(risks)[:3]})")
    finally:
        serve.shutdown()
        import ray

        ray.shutdown()
        hub.engine.dispose()
        shutil.rmtree(tmp, ignore_errors=True)
        if own_ray_tmp and not (failed or args.keep_logs):
            shutil.rmtree(ray_tmp, ignore_errors=True)
        elif failed or args.keep_logs:
            print(f"\nServe logs kept: {ray_tmp}/ray/session_latest/logs/serve/")

    out["machine"]["loadavg_end"] = _loadavg()
    report(out)
    if args.json:
        for section in ("light", "assess"):
            for row in out[section]:
                row.pop("extras", None)
        Path(args.json).write_text(json.dumps(out, indent=1, default=str))


def report(out: dict[str, Any]) -> None:
    def baseline(rows: list[dict], row: dict) -> dict | None:
        want = "direct_1" if row["caller"] == "http_1" else "direct"
        return next((r for r in rows if r["caller"] == want), None)

    print("\n| route | caller | replicas | clients x requests | errors | p50 ms | p99 ms | req/s | "
          "direct/HTTP throughput | machine CPU | this process CPU-s |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for section in ("light", "assess"):
        rows = out[section]
        for row in rows:
            ratio = ""
            if row["caller"] in ("http", "http_1"):
                base = baseline(rows, row)
                if base is not None and row["throughput"] > 0:
                    row["direct_over_http"] = base["throughput"] / row["throughput"]
                    ratio = f"{row['direct_over_http']:.2f}x"
            print(f"| {row['route']} | {row['caller']} | {row['replicas'] or '-'} | {row['clients']} x "
                  f"{row['per_client']} | {row['errors']} | {row['p50_ms']:.1f} | {row['p99_ms']:.1f} | "
                  f"{row['throughput']:.1f} | {ratio} | {row['machine_cpu_busy']:.0%} | "
                  f"{row['this_process_cpu_s']:.1f} |")
    print("\nCPU milliseconds per request, by process (this process: the clients or the direct callers; the "
          "machine's other processes, other programs included, are not counted):\n")
    roles = ["proxy", "ingress", "jobs", "sampler", "controller", "ray other"]
    print(f"| route | caller | replicas | this process | {' | '.join(roles)} | total | audit rows per request |")
    print("|---|---|---:|---:|" + "---:|" * (len(roles) + 2))
    for section in ("light", "assess"):
        for row in out[section]:
            n = max(row["requests"], 1)
            cells = [row["this_process_cpu_s"]] + [row["ray_cpu_s"].get(r, 0.0) for r in roles]
            audit = row["audit_rows_per_request"]
            print(f"| {row['route']} | {row['caller']} | {row['replicas'] or '-'} | "
                  + " | ".join(f"{1000 * x / n:.2f}" for x in cells) + f" | {1000 * sum(cells) / n:.2f} | "
                  f"{'-' if audit is None else f'{audit:.2f}'} |")
    nice = sorted({x for section in ("light", "assess") for row in out[section] for x in row.get("ray_nice", [])})
    print(f"\nnice values of this run's Ray processes: {nice} (this process: {os.nice(0)}); load average at the "
          f"start {out['machine']['loadavg_start']}, at the end {out['machine'].get('loadavg_end')}\n")
    direct = next((r for r in out["light"] if r["caller"] == "direct"), None)
    for row in out["light"]:
        if row["caller"] == "http_health" and direct is not None and row["throughput"] > 0:
            print(f"HTTP floor, {row['replicas']} replica(s): GET /v1/health (no token, no database) answers "
                  f"{row['throughput']:.0f} req/s, {direct['throughput'] / row['throughput']:.2f}x below the direct "
                  f"list_models' {direct['throughput']:.0f} req/s")
    for row in out["light"]:
        if row["caller"] == "http" and "direct_over_http" in row:
            print(f"light route, {row['replicas']} replica(s): HTTP throughput is 1/{row['direct_over_http']:.2f} of "
                  f"the direct call's (target: within 2x) -> {'met' if row['direct_over_http'] <= 2 else 'not met'}")
    requests = out["config"]["assess_requests"]
    if out["assess"] and requests != 200:
        print(f"assessment route: {out['config']['clients']} x {requests} here; the acceptance's 8 x 200 is "
              "--assess-requests 200")
    for row in out["assess"]:
        if row["caller"].startswith("http") and "server_p50_ms" in row:
            print(f"assessment, {row['clients']} client(s): server-side submit-to-finish p50 "
                  f"{row['server_p50_ms']:.0f} ms, p99 {row['server_p99_ms']:.0f} ms; jobs run again: "
                  f"{row['retried_jobs']}")


if __name__ == "__main__":
    main()
