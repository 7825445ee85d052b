"""The deploy configurations in ``ray_configs/`` pass the validators of the tools that read them,
without starting Ray or reaching a cloud:

- the Serve config (``serve deploy``) and the RayService's ``serveConfigV2``: Ray's own
  ``ServeDeploySchema`` (what ``serve deploy`` calls), no key the schema would silently drop, an
  import path that resolves to ``secured.cluster.serve.deploy:app_builder``, deployments named as
  the app names them, ``args`` that agree with the deployment options, a valid runtime_env;
- the ``ray up`` cluster YAMLs: Ray's ``prepare_config`` (fills the provider defaults offline) then
  ``validate_config`` (``ray/autoscaler/ray-schema.json`` with jsonschema), as ``ray up`` does
  before it contacts the provider, plus every node type running ``make build``;
- the KubeRay manifests: the field rules of KubeRay's ray.io/v1 types and its validation
  (``headGroupSpec.template.spec.containers``, unique ``groupName``, replicas within
  ``[minReplicas, maxReplicas]``, ``rayStartParams`` as a string-to-string map, ...), the RayJob's
  ``runtimeEnvYAML`` through ``ray.runtime_env.RuntimeEnv`` and its entrypoint module.

Each validator raises on a broken copy (the ``test_broken_copy_is_rejected`` cases)."""

from __future__ import annotations

import copy
import importlib
import importlib.util
import re
import shlex
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

CONFIGS = Path(__file__).resolve().parents[1] / "ray_configs"
APP_MODULE, APP_BUILDER = "secured.cluster.serve.deploy", "app_builder"
DEPLOYMENTS = {"secured-hub", "secured-jobs", "secured-sampler"}
APP_ARGS = {"db_url": str, "lake_url": str, "replicas": int, "workers": int, "gpu": bool}
LAKE_SCHEMES = ("file://", "s3://", "gs://")
CLUSTER_YAMLS = ["local-cluster.yaml", "aws-cluster.yaml"]
# KubeRay: RayCluster names are at most 53 characters; a RayService or RayJob gets a 6-character
# suffix for its cluster, so 47. Names are DNS-1035 labels.
MAX_KUBERAY_NAME = 53 - 6
DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
SUBMISSION_MODES = {"K8sJobMode", "HTTPMode", "InteractiveMode", "SidecarMode"}
SECRET_ENV = {"SECURED_DB_URL", "SECURED_TOKEN"}


class ConfigError(ValueError):
    """A configuration breaks a rule that its tool (or the app) relies on."""


def _require(condition: Any, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def _load(name: str) -> dict:
    return yaml.safe_load((CONFIGS / name).read_text())


# --------------------------------------------------------------------------------------------
# Ray Serve


def _unknown_keys(data: Any, model: Any, where: str) -> list[str]:
    """Keys the pydantic model does not define: ServeDeploySchema ignores them (forward
    compatibility), so a misspelt option would be dropped without a word."""
    if not isinstance(data, dict):
        return []
    known = set(model.model_fields) | {f.alias for f in model.model_fields.values() if f.alias}
    return [f"{where}.{key}" for key in data if key not in known]


def _check_runtime_env(runtime_env: Any, where: str) -> None:
    from ray.runtime_env import RuntimeEnv

    _require(isinstance(runtime_env, dict), f"{where} must be a mapping")
    unknown = set(runtime_env) - set(RuntimeEnv.known_fields)
    _require(not unknown, f"{where}: unknown runtime_env fields {sorted(unknown)}")
    RuntimeEnv(**runtime_env)  # Ray's own checks (env_vars Dict[str, str], pip vs conda, ...)
    for name in SECRET_ENV & set(runtime_env.get("env_vars") or {}):
        raise ConfigError(f"{where}: {name} is a secret; set it on the nodes, not in the config")


def _resolve(import_path: str) -> Any:
    module, sep, attr = import_path.partition(":")
    if not sep:
        module, _, attr = import_path.rpartition(".")
    return getattr(importlib.import_module(module), attr)


def check_serve_config(config: Any) -> Any:
    """What ``serve deploy`` checks (``ServeDeploySchema.model_validate``) and what the SECURED
    app needs; returns the parsed schema."""
    from ray.serve.schema import (DeploymentSchema, HTTPOptionsSchema, RayActorOptionsSchema,
                                  ServeApplicationSchema, ServeDeploySchema, gRPCOptionsSchema)

    _require(isinstance(config, dict), "a Serve config is a mapping")
    unknown = _unknown_keys(config, ServeDeploySchema, "config")
    unknown += _unknown_keys(config.get("http_options"), HTTPOptionsSchema, "http_options")
    unknown += _unknown_keys(config.get("grpc_options"), gRPCOptionsSchema, "grpc_options")
    for i, app in enumerate(config.get("applications") or []):
        unknown += _unknown_keys(app, ServeApplicationSchema, f"applications[{i}]")
        for j, dep in enumerate((app or {}).get("deployments") or []):
            unknown += _unknown_keys(dep, DeploymentSchema, f"applications[{i}].deployments[{j}]")
            unknown += _unknown_keys((dep or {}).get("ray_actor_options"), RayActorOptionsSchema,
                                     f"applications[{i}].deployments[{j}].ray_actor_options")
    _require(not unknown, f"keys the Serve schema does not know (typos?): {unknown}")

    schema = ServeDeploySchema.model_validate(config)
    _require(schema.applications, "the config deploys no application")
    for app in schema.applications:
        where = f"application {app.name!r}"
        _require(app.import_path == f"{APP_MODULE}:{APP_BUILDER}",
                 f"{where}: import_path must be {APP_MODULE}:{APP_BUILDER}, not {app.import_path!r}")
        names = [d.name for d in app.deployments]
        _require(set(names) <= DEPLOYMENTS, f"{where}: unknown deployments {set(names) - DEPLOYMENTS}")
        _require(len(names) == len(set(names)), f"{where}: a deployment is listed twice")
        args = app.args or {}
        for key, value in args.items():
            _require(key in APP_ARGS, f"{where}: app_builder takes no argument {key!r}")
            kind = APP_ARGS[key]
            _require(isinstance(value, kind) and (kind is bool or not isinstance(value, bool)),
                     f"{where}: args.{key} must be {kind.__name__}")
        if "db_url" in args:
            from sqlalchemy.engine import make_url

            _require(make_url(args["db_url"]).password is None,
                     f"{where}: args.db_url holds a password; give it to the nodes (PGPASSWORD)")
        if "lake_url" in args:
            _require(args["lake_url"].startswith(LAKE_SCHEMES), f"{where}: lake_url scheme")
        for key in ("replicas", "workers"):
            _require(args.get(key, 1) >= 1, f"{where}: args.{key} must be at least 1")
        by_name = {d.name: d for d in app.deployments}
        for name, key in (("secured-hub", "replicas"), ("secured-jobs", "workers")):
            dep = by_name.get(name)
            if dep is not None and key in args and "num_replicas" in dep.model_fields_set:
                _require(dep.num_replicas == args[key],
                         f"{where}: {name}.num_replicas disagrees with args.{key}")
        sampler = by_name.get("secured-sampler")
        if sampler is not None and "ray_actor_options" in sampler.model_fields_set and "gpu" in args:
            on_gpu = (sampler.ray_actor_options.num_gpus or 0) > 0
            _require(on_gpu == args["gpu"], f"{where}: secured-sampler num_gpus disagrees with args.gpu")
        _check_runtime_env(app.runtime_env, f"{where}: runtime_env")
        builder = _resolve(app.import_path)
        _require(callable(builder) and builder.__name__ == APP_BUILDER,
                 f"{where}: {app.import_path} is not the app builder")
    return schema


# --------------------------------------------------------------------------------------------
# ray up


def check_cluster_config(config: Any) -> dict:
    """What ``ray up`` does before it contacts a provider: fill the provider's defaults
    (``prepare_config``) and validate against ``ray-schema.json`` (``validate_config``)."""
    from ray.autoscaler._private.util import prepare_config, validate_config

    _require(isinstance(config, dict), "a cluster config is a mapping")
    try:
        prepared = prepare_config(copy.deepcopy(config))
    except KeyError as exc:  # `ray up` fails the same way (no provider, no provider type, ...)
        raise ConfigError(f"ray up cannot prepare the config: missing {exc}") from exc
    validate_config(prepared)

    ray_bin = "~/secured/.venv/bin/ray"
    for key in ("head_start_ray_commands", "worker_start_ray_commands"):
        starts = [c for c in prepared[key] if " start " in c]
        _require(starts and all(ray_bin in c for c in starts),
                 f"{key}: start Ray from the project's virtualenv ({ray_bin})")
    _require(any("--autoscaling-config=~/ray_bootstrap_config.yaml" in c
                 for c in prepared["head_start_ray_commands"]),
             "head_start_ray_commands: the head needs --autoscaling-config=~/ray_bootstrap_config.yaml")
    # A node type's own worker_setup_commands replace the merged global ones (autoscaler.py).
    for name, node_type in prepared["available_node_types"].items():
        if name == prepared["head_node_type"]:
            setup = prepared["head_setup_commands"]
        else:
            setup = node_type.get("worker_setup_commands", prepared["worker_setup_commands"])
        _require(any("make build" in c for c in setup), f"node type {name}: no `make build` in its setup")
    return prepared


# --------------------------------------------------------------------------------------------
# KubeRay


def _check_name(manifest: dict, kind: str) -> None:
    name = (manifest.get("metadata") or {}).get("name", "")
    _require(isinstance(name, str) and DNS_1035.match(name) and len(name) <= MAX_KUBERAY_NAME,
             f"{kind} name {name!r}: a DNS-1035 label of at most {MAX_KUBERAY_NAME} characters")


def _check_start_params(params: Any, where: str) -> None:
    _require(isinstance(params, dict), f"{where}.rayStartParams is required (a mapping, may be {{}})")
    for key, value in params.items():
        _require(isinstance(key, str) and isinstance(value, str),
                 f"{where}.rayStartParams.{key}: KubeRay takes strings only (quote {value!r})")


def _containers(group: dict, where: str) -> list:
    containers = (((group.get("template") or {}).get("spec") or {}).get("containers")) or []
    _require(isinstance(containers, list) and containers, f"{where}: template.spec.containers is empty")
    for c in containers:
        _require(c.get("name") and c.get("image"), f"{where}: every container needs a name and an image")
        for env in c.get("env") or []:
            _require(env.get("name") not in SECRET_ENV or "value" not in env,
                     f"{where}: {env.get('name')} must come from a Secret (valueFrom), not a value")
    return containers


def check_kuberay_cluster(spec: Any, where: str) -> None:
    """A RayClusterSpec as KubeRay's types and ValidateRayClusterSpec / the webhook read it."""
    import ray

    _require(isinstance(spec, dict), f"{where} is required")
    _require(str(spec.get("rayVersion")) == ray.__version__,
             f"{where}.rayVersion must be the pinned Ray ({ray.__version__})")
    head = spec.get("headGroupSpec")
    _require(isinstance(head, dict), f"{where}.headGroupSpec is required")
    _check_start_params(head.get("rayStartParams"), f"{where}.headGroupSpec")
    _containers(head, f"{where}.headGroupSpec")
    groups = spec.get("workerGroupSpecs") or []
    _require(isinstance(groups, list), f"{where}.workerGroupSpecs must be a list")
    names = [g.get("groupName") for g in groups]
    _require(all(isinstance(n, str) and n for n in names), f"{where}: every worker group needs a groupName")
    _require(len(names) == len(set(names)), f"{where}: worker group names must be unique")
    for group in groups:
        here = f"{where}.workerGroupSpecs[{group['groupName']}]"
        low, high = group.get("minReplicas", 0), group.get("maxReplicas", 2**31 - 1)
        count = group.get("replicas", low)
        _require(all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in (low, high, count)),
                 f"{here}: replicas, minReplicas, maxReplicas are non-negative integers")
        _require(low <= count <= high, f"{here}: needs minReplicas <= replicas <= maxReplicas")
        _check_start_params(group.get("rayStartParams"), here)
        _containers(group, here)


def _gpu_groups(spec: dict) -> list[str]:
    out = []
    for group in spec.get("workerGroupSpecs") or []:
        for c in group["template"]["spec"]["containers"]:
            if int(((c.get("resources") or {}).get("limits") or {}).get("nvidia.com/gpu", 0)) >= 1:
                out.append(group["groupName"])
    return out


def check_rayservice(manifest: Any) -> None:
    _require(isinstance(manifest, dict), "a manifest is a mapping")
    _require(manifest.get("apiVersion") == "ray.io/v1" and manifest.get("kind") == "RayService",
             "apiVersion ray.io/v1, kind RayService")
    _check_name(manifest, "RayService")
    spec = manifest.get("spec") or {}
    serve = spec.get("serveConfigV2")
    _require(isinstance(serve, str), "spec.serveConfigV2 is a YAML string (a `|` block)")
    check_serve_config(yaml.safe_load(serve))
    check_kuberay_cluster(spec.get("rayClusterConfig"), "spec.rayClusterConfig")
    _require(_gpu_groups(spec["rayClusterConfig"]), "a worker group with an nvidia.com/gpu limit")
    for group in [spec["rayClusterConfig"]["headGroupSpec"]] + spec["rayClusterConfig"].get("workerGroupSpecs", []):
        for c in group["template"]["spec"]["containers"]:
            refs = {e["name"]: e.get("valueFrom", {}).get("secretKeyRef") for e in c.get("env") or []}
            _require(refs.get("SECURED_DB_URL"), f"container {c['name']}: SECURED_DB_URL from a Secret")


def check_rayjob(manifest: Any) -> None:
    _require(isinstance(manifest, dict), "a manifest is a mapping")
    _require(manifest.get("apiVersion") == "ray.io/v1" and manifest.get("kind") == "RayJob",
             "apiVersion ray.io/v1, kind RayJob")
    _check_name(manifest, "RayJob")
    spec = manifest.get("spec") or {}
    argv = shlex.split(spec.get("entrypoint") or "")
    _require(argv[:2] == ["python", "-m"] and len(argv) >= 3 and argv[2].startswith("secured.jobs."),
             "entrypoint must be `python -m secured.jobs.<job> CONFIG`")
    _require(importlib.util.find_spec(argv[2]) is not None, f"entrypoint module {argv[2]} does not exist")
    env_yaml = spec.get("runtimeEnvYAML", "")
    _require(isinstance(env_yaml, str), "runtimeEnvYAML is a YAML string (a `|` block)")
    _check_runtime_env(yaml.safe_load(env_yaml) or {}, "runtimeEnvYAML")
    _require(spec.get("shutdownAfterJobFinishes") is True, "shutdownAfterJobFinishes: true")
    _require(spec.get("submissionMode", "K8sJobMode") in SUBMISSION_MODES, "submissionMode")
    ttl = spec.get("ttlSecondsAfterFinished", 0)
    _require(isinstance(ttl, int) and ttl >= 0, "ttlSecondsAfterFinished is a non-negative integer")
    deadline = spec.get("activeDeadlineSeconds")
    _require(deadline is None or (isinstance(deadline, int) and deadline > 0),
             "activeDeadlineSeconds must be a positive integer")
    _require(not spec.get("suspend") or spec.get("shutdownAfterJobFinishes"), "suspend needs shutdownAfterJobFinishes")
    cluster = spec.get("rayClusterSpec")
    check_kuberay_cluster(cluster, "spec.rayClusterSpec")
    # The entrypoint runs on the head pod: its config file and SECURED_TOKEN must be there.
    head = cluster["headGroupSpec"]["template"]["spec"]["containers"][0]
    if len(argv) >= 4:
        mounts = [m["mountPath"].rstrip("/") for m in head.get("volumeMounts") or []]
        _require(any(argv[3].startswith(m + "/") for m in mounts),
                 f"the job's config {argv[3]} is on no volume of the head container")
    refs = {e["name"]: e.get("valueFrom", {}).get("secretKeyRef") for e in head.get("env") or []}
    _require(refs.get("SECURED_TOKEN"), "the head container needs SECURED_TOKEN from a Secret")


# --------------------------------------------------------------------------------------------
# The configurations as written


def test_app_builder_exists():
    module = importlib.import_module(APP_MODULE)
    assert callable(getattr(module, APP_BUILDER, None)), f"{APP_MODULE} has no {APP_BUILDER}"


def test_serve_config_is_valid():
    schema = check_serve_config(_load("serve-config.yaml"))
    assert [app.name for app in schema.applications] == ["secured"]
    assert {d.name for d in schema.applications[0].deployments} == DEPLOYMENTS


@pytest.mark.parametrize("name", CLUSTER_YAMLS)
def test_cluster_config_is_valid(name):
    prepared = check_cluster_config(_load(name))
    assert prepared["head_node_type"] in prepared["available_node_types"]


def test_aws_cluster_has_a_gpu_worker_and_no_real_ids():
    config = _load("aws-cluster.yaml")
    assert config["provider"]["type"] == "aws"
    gpu = [t for t in config["available_node_types"].values() if t["resources"].get("GPU", 0) >= 1]
    assert gpu and all(t["max_workers"] >= 1 for t in gpu)
    text = (CONFIGS / "aws-cluster.yaml").read_text()
    assert not re.search(r"\b\d{12}\b|arn:aws", text), "an AWS account id or ARN in the config"
    images = [t["node_config"]["ImageId"] for t in config["available_node_types"].values()]
    assert all("REPLACE" in image for image in images), "AMI ids are per region: keep placeholders"


def test_rayservice_is_valid():
    check_rayservice(_load("kuberay-rayservice.yaml"))


def test_rayjob_is_valid():
    manifest = _load("kuberay-rayjob.yaml")
    check_rayjob(manifest)
    assert shlex.split(manifest["spec"]["entrypoint"])[2] == "secured.jobs.federate"


# --------------------------------------------------------------------------------------------
# Broken copies: each validator rejects them


def _set(path: str, value: Any) -> Callable[[dict], None]:
    """Set (or, with _DELETE, remove) the value at a /-separated path; list indexes are numbers."""
    def mutate(doc: dict) -> None:
        keys = path.split("/")
        node = doc
        for key in keys[:-1]:
            node = node[int(key)] if isinstance(node, list) else node[key]
        last = int(keys[-1]) if isinstance(node, list) else keys[-1]
        if value is _DELETE:
            del node[last]
        else:
            node[last] = value
    return mutate


_DELETE = object()


def _serve_v2(mutate: Callable[[dict], None]) -> Callable[[dict], None]:
    """Apply a mutation to the Serve config inside a RayService's serveConfigV2 string."""
    def outer(doc: dict) -> None:
        inner = yaml.safe_load(doc["spec"]["serveConfigV2"])
        mutate(inner)
        doc["spec"]["serveConfigV2"] = yaml.safe_dump(inner)
    return outer


APP, HEAD, JOB = "applications/0", "spec/rayClusterConfig/headGroupSpec", "spec/rayClusterSpec"
WORKERS, GPU_TYPE = "spec/rayClusterConfig/workerGroupSpecs", "available_node_types/ray.worker.gpu"
FEDERATE = "python -m secured.jobs.federate"

BROKEN: dict[str, tuple[Callable[[Any], Any], dict[str, Callable[[dict], None]]]] = {
    "serve-config.yaml": (check_serve_config, {
        "no import_path": _set(f"{APP}/import_path", _DELETE),
        "other builder": _set(f"{APP}/import_path", f"{APP_MODULE}:serve_app"),
        "unknown deployment": _set(f"{APP}/deployments/0/name", "secured-web"),
        "misspelt option": _set(f"{APP}/deployments/0/num_replica", 3),
        "negative replicas": _set(f"{APP}/deployments/0/num_replicas", -1),
        "args vs replicas": _set(f"{APP}/args/replicas", 5),
        "gpu arg, sampler on cpu": _set(f"{APP}/args/gpu", True),
        "unknown arg": _set(f"{APP}/args/threads", 4),
        "password in db_url": _set(f"{APP}/args/db_url", "postgresql+psycopg://u:pw@h/db"),
        "int env var": _set(f"{APP}/runtime_env/env_vars/SECURED_NUM_THREADS", 2),
        "bad proxy_location": _set("proxy_location", "Everywhere"),
    }),
    "local-cluster.yaml": (check_cluster_config, {
        "no provider": _set("provider", _DELETE),
        "command read as a mapping": _set("head_start_ray_commands/1", {"ray start --resources='{\"dealer\"": "1}'"}),
    }),
    "aws-cluster.yaml": (check_cluster_config, {
        "unknown top-level key": _set("max_worker", 3),
        "fractional resources": _set(f"{GPU_TYPE}/resources/GPU", 0.5),
        "no node_config": _set("available_node_types/ray.worker.cpu/node_config", _DELETE),
        "gpu setup without make build": _set(f"{GPU_TYPE}/worker_setup_commands", ["pip install cupy-cuda12x"]),
        "unknown head type": _set("head_node_type", "ray.head.gpu"),
    }),
    "kuberay-rayservice.yaml": (check_rayservice, {
        "int rayStartParams": _set(f"{HEAD}/rayStartParams/num-cpus", 0),
        "replicas above max": _set(f"{WORKERS}/0/replicas", 9),
        "duplicate groupName": _set(f"{WORKERS}/1/groupName", "cpu-workers"),
        "no head containers": _set(f"{HEAD}/template/spec/containers", []),
        "serveConfigV2 as a mapping": lambda doc: doc["spec"].update(serveConfigV2={"applications": []}),
        "serveConfigV2 without import_path": _serve_v2(_set(f"{APP}/import_path", _DELETE)),
        "literal db url": _set(f"{HEAD}/template/spec/containers/0/env/0", {"name": "SECURED_DB_URL", "value": "x"}),
        "old apiVersion": _set("apiVersion", "ray.io/v1alpha1"),
        "name too long": _set("metadata/name", "s" * 48),
    }),
    "kuberay-rayjob.yaml": (check_rayjob, {
        "no such job": _set("spec/entrypoint", "python -m secured.jobs.nope /configs/federate.json"),
        "not a secured job": _set("spec/entrypoint", "python train.py"),
        "config on no volume": _set("spec/entrypoint", f"{FEDERATE} /tmp/federate.json"),
        "int runtime env var": _set("spec/runtimeEnvYAML", "env_vars:\n  SECURED_NUM_THREADS: 2\n"),
        "token in runtime env": _set("spec/runtimeEnvYAML", "env_vars:\n  SECURED_TOKEN: sk_x\n"),
        "keeps the cluster": _set("spec/shutdownAfterJobFinishes", False),
        "minReplicas above max": _set(f"{JOB}/workerGroupSpecs/0/minReplicas", 3),
        "int worker rayStartParams": _set(f"{JOB}/workerGroupSpecs/0/rayStartParams", {"num-cpus": 4}),
        "no token": _set(f"{JOB}/headGroupSpec/template/spec/containers/0/env", []),
        "other ray version": _set(f"{JOB}/rayVersion", "2.9.0"),
    }),
}
CASES = [(name, why, check, mutate) for name, (check, cases) in BROKEN.items() for why, mutate in cases.items()]


@pytest.mark.parametrize("name, why, check, mutate", CASES, ids=[f"{n}:{w}" for n, w, _, _ in CASES])
def test_broken_copy_is_rejected(name, why, check, mutate):
    import jsonschema

    doc = _load(name)
    check(copy.deepcopy(doc))  # the file as written passes ...
    broken = copy.deepcopy(doc)
    mutate(broken)
    with pytest.raises((ValueError, TypeError, jsonschema.ValidationError)):
        check(broken)  # ... and the broken copy does not
