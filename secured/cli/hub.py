"""``secured hub ...``: the knowledge base from the command line.

The database is ``--db`` or SECURED_DB_URL (default: a SQLite file in SECURED_HOME), the lake
``--lake`` or SECURED_LAKE_URL, the caller's token ``--token`` or SECURED_TOKEN. The access
rules are the hub's (``secured.hub.core``); errors never quote the values given on the command
line. Reports are mapped to inventory fields by ``secured.hub.inventory_fields``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.markup import escape

from ..exceptions import ConfigurationError
from ._common import columns as _columns
from ._common import console
from ._common import exit_with as _exit_with
from ..io import write_bytes as _write_atomic

__all__ = ["hub_app", "register_release", "require_token"]

hub_app = typer.Typer(help="The hub's knowledge base: members, tokens, datasets, lake, models.", no_args_is_help=True)
member_app = typer.Typer(help="Members (organizations) and their roles.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens: scoped, expiring, revocable.", no_args_is_help=True)
dataset_app = typer.Typer(help="The dataset inventory.", no_args_is_help=True)
lake_app = typer.Typer(help="The datalake of synthetic datasets (Parquet, content-addressed, versioned).",
                       no_args_is_help=True)
model_app = typer.Typer(help="The model registry and marketplace.", no_args_is_help=True)
run_app = typer.Typer(help="Federation runs recorded in the knowledge base.", no_args_is_help=True)
for sub, name in ((member_app, "member"), (token_app, "token"), (dataset_app, "dataset"), (lake_app, "lake"),
                  (model_app, "model"), (run_app, "run")):
    hub_app.add_typer(sub, name=name)

Db = Annotated[Optional[str], typer.Option("--db", help="Database URL (default: SECURED_DB_URL or SQLite).")]
Lake = Annotated[Optional[str], typer.Option("--lake", help="Lake URI (default: SECURED_LAKE_URL or local).")]
Tok = Annotated[Optional[str], typer.Option("--token", help="API token (default: SECURED_TOKEN).")]


def _hub(db: str | None, lake: str | None):
    from ..hub import Hub

    return Hub(db, lake)


def _token(token: str | None) -> str:
    token = token or os.environ.get("SECURED_TOKEN")
    if not token:
        raise ConfigurationError("No token: pass --token or set SECURED_TOKEN (an admin creates tokens with "
                                 "`secured hub token create`).")
    return token


def _json_file(path: str | None, what: str) -> dict | None:
    if path is None:
        return None
    p = Path(path)
    if not p.is_file():
        raise ConfigurationError(f"The {what} file does not exist; check the path given.")
    try:
        value = json.loads(p.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ConfigurationError(f"The {what} file is not valid JSON.") from None
    if not isinstance(value, (dict, list)):
        raise ConfigurationError(f"The {what} file must hold a JSON object.")
    return value


def _show(value: Any) -> None:
    console.print_json(json.dumps(value, default=str))


@hub_app.command("init")
def init(admin: Annotated[str, typer.Option(help="Name of the first admin member.")] = "admin",
         db: Db = None, lake: Lake = None) -> None:
    """Create or upgrade the knowledge base; prints the first admin's token once."""
    from ..hub import Hub

    def body() -> int:
        hub, token = Hub.init(db, lake, admin)
        if token:
            console.print(f"hub ready; admin {escape(admin)!s} token (shown once, keep it safe):")
            console.print(token, markup=False)
        else:
            console.print("hub schema is up to date (members already exist; no new token)")
        return 0

    _exit_with(body)


@member_app.command("add")
def member_add(name: str, role: Annotated[str, typer.Option(help="admin, producer or researcher.")],
               token: Tok = None, db: Db = None, lake: Lake = None) -> None:
    """Add a member (admins only)."""
    _exit_with(lambda: console.print(f"member {_hub(db, lake).add_member(_token(token), name, role)} added") or 0)


@token_app.command("create")
def token_create(member: Annotated[Optional[str], typer.Option(help="For this member (admins); default: you.")] = None,
                 scopes: Annotated[str, typer.Option(help="read, write, admin (within your token's).")] = "read",
                 days: Annotated[Optional[float], typer.Option(
                     help="Expires after this many days (default: 90, or your token's expiry when sooner).")] = None,
                 no_expiry: Annotated[bool, typer.Option(
                     "--no-expiry", help="Never expires (only from a token that never expires).")] = False,
                 token: Tok = None, db: Db = None, lake: Lake = None) -> None:
    """Issue a token (printed once); it expires no later than the token creating it."""
    def body() -> int:
        if no_expiry and days is not None:
            raise ConfigurationError("Give --days or --no-expiry, not both.")
        expires = None if no_expiry else ("default" if days is None else days)
        console.print(_hub(db, lake).create_token(_token(token), member, _columns(scopes), expires), markup=False)
        return 0

    _exit_with(body)


@token_app.command("list")
def token_list(member: Annotated[Optional[str], typer.Option(help="This member's tokens (admins); default: yours.")]
               = None, token: Tok = None, db: Db = None, lake: Lake = None) -> None:
    """Tokens: id, scopes, expiry, creating token, last use (never the secret)."""
    _exit_with(lambda: _show(_hub(db, lake).list_tokens(_token(token), member)) or 0)


@token_app.command("revoke")
def token_revoke(public_id: Annotated[str, typer.Argument(help="The id part of the token (sk_<id>_...).")],
                 token: Tok = None, db: Db = None, lake: Lake = None) -> None:
    """Revoke a token (its member or an admin) and every token created from it."""
    def body() -> int:
        count = _hub(db, lake).revoke_token(_token(token), public_id)
        console.print(f"revoked ({count} token{'s' if count != 1 else ''}, with those created from it)")
        return 0

    _exit_with(body)


@dataset_app.command("register")
def dataset_register(
    title: Annotated[str, typer.Option(help="Title, unique among your entries.")],
    file: Annotated[Optional[str], typer.Option(help="Table whose schema and counts to record (not uploaded).")] = None,
    schema: Annotated[Optional[str], typer.Option(help="JSON file: [{'name': ..., 'type': ...}, ...].")] = None,
    description: str = "", location: Annotated[Optional[str], typer.Option(help="Where it lives at the producer.")] = None,
    report: Annotated[Optional[str], typer.Option(help="anonymize/protect JSON report to record.")] = None,
    id_column: Annotated[Optional[str], typer.Option(help="Person id, to count people.")] = None,
    tags: str = "", visibility: Annotated[str, typer.Option(help="all or members.")] = "all",
    readers: Annotated[str, typer.Option(help="Members who may read it (visibility members).")] = "",
    synthetic: bool = False, derived_from: Optional[int] = None, run: Optional[str] = None,
    token: Tok = None, db: Db = None, lake: Lake = None,
) -> None:
    """Register a dataset in the inventory."""
    def body() -> int:
        fields = _fields_from(file, schema, report, id_column)
        dataset_id = _hub(db, lake).register_dataset(
            _token(token), title=title, description=description, location=location, tags=_columns(tags),
            visibility=visibility, readers=_columns(readers), synthetic=synthetic, derived_from=derived_from, run=run,
            **fields)
        console.print(f"dataset {dataset_id} registered")
        return 0

    _exit_with(body)


def _fields_from(file: str | None, schema: str | None, report: str | None, id_column: str | None) -> dict:
    from ..hub import describe_table, inventory_fields
    from ..io import read_table

    fields: dict[str, Any] = {}
    if file:
        fields.update(describe_table(read_table(file), id_column))
    if schema:
        fields["schema"] = _json_file(schema, "schema")
    if "schema" not in fields:
        raise ConfigurationError("Give --file (schema and counts read from the table) or --schema.")
    if report:
        fields.update(inventory_fields(_json_file(report, "report")))
    return fields


@dataset_app.command("update")
def dataset_update(dataset_id: int,
                   description: Optional[str] = None, location: Optional[str] = None,
                   tags: Annotated[Optional[str], typer.Option(help="Comma-separated; replaces the tags.")] = None,
                   visibility: Annotated[Optional[str], typer.Option(help="all or members.")] = None,
                   readers: Annotated[Optional[str], typer.Option(help="Comma-separated; replaces the readers.")] = None,
                   report: Annotated[Optional[str], typer.Option(help="anonymize/protect report to record.")] = None,
                   token: Tok = None, db: Db = None, lake: Lake = None) -> None:
    """Change your own dataset entry."""
    from ..hub import inventory_fields

    def body() -> int:
        changes: dict[str, Any] = {key: value for key, value in (("description", description), ("location", location),
                                                                  ("visibility", visibility)) if value is not None}
        if tags is not None:
            changes["tags"] = _columns(tags)
        if readers is not None:
            changes["readers"] = _columns(readers)
        if report:
            changes.update(inventory_fields(_json_file(report, "report")))
        if not changes:
            raise ConfigurationError("Nothing to change: pass --description, --tags, --visibility, --readers, "
                                     "--location or --report.")
        _hub(db, lake).update_dataset(_token(token), dataset_id, **changes)
        console.print(f"dataset {dataset_id} updated")
        return 0

    _exit_with(body)


@hub_app.command("audit")
def audit(limit: Annotated[int, typer.Option(min=1, help="Newest entries to show.")] = 50,
          token: Tok = None, db: Db = None, lake: Lake = None) -> None:
    """The audit log, newest first (admins only)."""
    _exit_with(lambda: _show(_hub(db, lake).audit_log(_token(token), limit)) or 0)


@dataset_app.command("list")
def dataset_list(token: Tok = None, db: Db = None, lake: Lake = None) -> None:
    """Datasets you may see."""
    _exit_with(lambda: _show(_hub(db, lake).search_datasets(_token(token))) or 0)


@dataset_app.command("show")
def dataset_show(dataset_id: int, token: Tok = None, db: Db = None, lake: Lake = None) -> None:
    """One dataset entry."""
    _exit_with(lambda: _show(_hub(db, lake).get_dataset(_token(token), dataset_id)) or 0)


@dataset_app.command("search")
def dataset_search(text: Annotated[Optional[str], typer.Argument(help="Words in title or description.")] = None,
                   tag: Annotated[Optional[list[str]], typer.Option(help="Required tag; repeatable.")] = None,
                   owner: Optional[str] = None, column: Optional[str] = None, min_k: Optional[float] = None,
                   min_l: Optional[float] = None, max_t: Optional[float] = None, max_risk: Optional[float] = None,
                   min_rows: Optional[int] = None, min_people: Optional[int] = None,
                   synthetic: Optional[bool] = None, has_bias: Optional[bool] = None,
                   derived_from: Optional[int] = None, run: Optional[str] = None,
                   visibility: Optional[str] = None, location: Optional[str] = None,
                   token: Tok = None, db: Db = None, lake: Lake = None) -> None:
    """Search the inventory: text, tags, owner, column, k/l/t, risk, counts, lineage, bias."""
    _exit_with(lambda: _show(_hub(db, lake).search_datasets(
        _token(token), text, tags=tag or [], owner=owner, column=column, min_k=min_k, min_l=min_l, max_t=max_t,
        max_risk=max_risk, min_rows=min_rows, min_people=min_people, synthetic=synthetic, has_bias=has_bias,
        derived_from=derived_from, run=run, visibility=visibility, location=location)) or 0)


@lake_app.command("put")
def lake_put(name: str, file: str,
             visibility: Annotated[str, typer.Option(help="all or members (you, the readers and admins).")] = "all",
             readers: Annotated[str, typer.Option(help="Members who may read it (visibility members).")] = "",
             token: Tok = None, db: Db = None, lake: Lake = None) -> None:
    """Store a table (.csv or .parquet) as a new version of NAME in your own namespace."""
    _exit_with(lambda: _show(_hub(db, lake).lake_put(_token(token), name, file, visibility=visibility,
                                                     readers=_columns(readers))) or 0)


@lake_app.command("get")
def lake_get(name: str, out: str, version: Optional[int] = None,
             owner: Annotated[Optional[str], typer.Option(help="The member whose NAME it is (default: you).")] = None,
             token: Tok = None, db: Db = None, lake: Lake = None) -> None:
    """Fetch a version (default: the newest you may see), checksum-verified, into OUT (.csv or .parquet)."""
    from ..io import write_table

    def body() -> int:
        write_table(_hub(db, lake).lake_get(_token(token), name, version, owner), out)
        console.print(f"written {escape(out)}")
        return 0

    _exit_with(body)


@lake_app.command("list")
def lake_list(token: Tok = None, db: Db = None, lake: Lake = None) -> None:
    """Lake objects you may see, with owners and versions."""
    _exit_with(lambda: _show(_hub(db, lake).lake_list(_token(token))) or 0)


@model_app.command("publish")
def model_publish(
    name: str, artifact: str,
    metrics: Annotated[Optional[str], typer.Option(help="JSON file of metrics.")] = None,
    lineage: Annotated[Optional[str], typer.Option(help="JSON file: clusters, datasets, training run.")] = None,
    mia: Annotated[Optional[str], typer.Option(help="JSON file of membership-inference results.")] = None,
    epsilon: Optional[float] = None, delta: Optional[float] = None, licence: Optional[str] = None,
    description: str = "", alias: Annotated[Optional[list[str]], typer.Option(help="Alias; repeatable.")] = None,
    visibility: Annotated[str, typer.Option(help="all or members, for this version.")] = "all",
    readers: Annotated[str, typer.Option(help="Members who may read this version (visibility members).")] = "",
    token: Tok = None, db: Db = None, lake: Lake = None,
) -> None:
    """Publish a model artifact as a new version (its visibility is this version's)."""
    def body() -> int:
        version = _hub(db, lake).publish_model(
            _token(token), name, artifact, metrics=_json_file(metrics, "metrics"),
            lineage=_json_file(lineage, "lineage"), membership_inference=_json_file(mia, "membership-inference"),
            epsilon=epsilon, delta=delta, licence=licence, description=description, aliases=alias or [],
            visibility=visibility, readers=_columns(readers))
        console.print(f"model {escape(name)} version {version} published")
        return 0

    _exit_with(body)


@run_app.command("list")
def run_list(token: Tok = None, db: Db = None, lake: Lake = None) -> None:
    """Federation runs you may see (status, rounds, epsilon)."""
    _exit_with(lambda: _show(_hub(db, lake).list_federation_runs(_token(token))) or 0)


@run_app.command("show")
def run_show(name: str, owner: Annotated[Optional[str], typer.Option(
        help="Whose run, when several members use the name.")] = None, token: Tok = None, db: Db = None,
        lake: Lake = None) -> None:
    """A federation run with one record per round (participants, failures, metrics, epsilon)."""
    _exit_with(lambda: _show(_hub(db, lake).show_federation_run(_token(token), name, owner)) or 0)


@model_app.command("list")
def model_list(token: Tok = None, db: Db = None, lake: Lake = None) -> None:
    """Models you may see."""
    _exit_with(lambda: _show(_hub(db, lake).list_models(_token(token))) or 0)


@model_app.command("show")
def model_show(name: str, token: Tok = None, db: Db = None, lake: Lake = None) -> None:
    """A model: versions, aliases, metrics, lineage, privacy spent, membership inference."""
    _exit_with(lambda: _show(_hub(db, lake).show_model(_token(token), name)) or 0)


@model_app.command("download")
def model_download(name: str, out: str, version: Annotated[Optional[str], typer.Option(
        help="Version number or alias (default: latest).")] = None, token: Tok = None, db: Db = None,
        lake: Lake = None) -> None:
    """Write a model artifact (checksum-verified) to OUT."""
    def body() -> int:
        data = _hub(db, lake).download_model(_token(token), name, version)
        _write_atomic(data, out)
        console.print(f"written {escape(out)} ({len(data)} bytes)")
        return 0

    _exit_with(body)


@model_app.command("sample")
def model_sample(name: str, out: str, n: Annotated[int, typer.Option("--n", help="Rows to sample.")] = 1000,
                 version: Annotated[Optional[str], typer.Option(
                     help="Version number or alias (default: latest).")] = None,
                 seed: Annotated[Optional[int], typer.Option(help="Seed of sampling.")] = None,
                 token: Tok = None, db: Db = None, lake: Lake = None) -> None:
    """Sample rows from a published synthetic-data generator through the hub (works for
    sample-only versions: you get rows, never the generator) into a table file OUT."""
    from ..io import check_output, write_table

    def body() -> int:
        check_output(out)
        rows = _hub(db, lake).sample_model(_token(token), name, n, version=version, seed=seed)
        write_table(rows, out)
        console.print(f"{len(rows):,} rows sampled from {escape(name)} -> {escape(out)}")
        return 0

    _exit_with(body)


def require_token() -> None:
    """Fail early (before any work) when --register has no token to register with."""
    _token(None)


def register_release(release_path: str, report: dict, title: str | None, id_column: str | None, tags: list[str],
                     table=None) -> int:
    """``--register`` of anonymize/protect: the release's schema, counts and scores, owned by
    the SECURED_TOKEN member, in the default hub."""
    from ..hub import Hub, describe_table, inventory_fields
    from ..io import read_table

    table = table if table is not None else read_table(release_path)
    fields = describe_table(table, id_column)
    fields.update(inventory_fields(report))
    hub = Hub()
    return hub.register_dataset(_token(None), title=title or Path(release_path).stem,
                                location=str(Path(release_path).resolve().as_uri()), tags=tags, **fields)


def register_synthetic(table_path: str, table, model_path: str, evaluation_path: str | None, title: str | None,
                       tags: list[str]) -> int:
    """``synth sample --register``: the synthetic table into the caller's lake (its own
    namespace) and the inventory (synthetic flag, the generator and its epsilon, the
    evaluation's scores), owned by the SECURED_TOKEN member."""
    from ..hub import Hub, describe_table, synthetic_fields
    from ..io import read_json
    from ..synth import load

    gen = load(model_path)
    evaluation = read_json(evaluation_path, "evaluation report") if evaluation_path else None
    fields = describe_table(table)
    fields.update(synthetic_fields({"generator": gen.name, "params": gen.get_params()}, evaluation))
    name = title or Path(table_path).stem
    hub, token = Hub(), _token(None)
    stored = hub.lake_put(token, f"synthetic/{name}", table)
    return hub.register_dataset(token, title=name, location=f"lake:{stored['owner']}/{stored['name']}"
                                f"@{stored['version']}", lake_object=stored["sha256"], tags=tags,
                                run=f"generator {gen.name}", **fields)
