"""The hub's knowledge base: members and tokens, dataset inventory, datalake, model registry.

Every call takes an API token and is checked, then recorded in the audit log in the same
transaction as its effect (a refused call is audited in a transaction of its own, so the
refusal is kept while nothing else changes). Tokens look like ``sk_<public id>_<secret>``;
only the SHA-256 of the secret is stored, tokens carry scopes (read, write, admin), may
expire and can be revoked.

Roles: an admin adds members and issues tokens for them; producers register datasets and put
synthetic datasets in the lake; every member with a write token may publish models. Entries
are visible to all members (``visibility="all"``) or to named members only; only the owner
changes an entry; admins read everything.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import operator
import re
import secrets
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator, Sequence

import pandas as pd
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError as SAIntegrityError
from sqlalchemy.orm import Session, sessionmaker

from ..exceptions import AccessDenied, ConfigurationError, IntegrityError, NotFound
from .db import make_engine, upgrade
from .lake import ObjectStore
from .schema import (ROLES, SCOPES, AuditEntry, Dataset, DatasetReader, DatasetTag, LakeObject, Member, Model,
                     ModelAlias, ModelReader, ModelVersion, Token)

__all__ = ["Hub", "Principal"]

_TOKEN = re.compile(r"^sk_([0-9a-f]{16})_([A-Za-z0-9_-]{20,100})$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._/:@-]{0,199}$")


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _aware(t: datetime | None) -> datetime | None:
    return t if t is None or t.tzinfo else t.replace(tzinfo=timezone.utc)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class Principal:
    member_id: int
    name: str
    role: str
    scopes: frozenset[str]
    token_id: str


class Hub:
    """``Hub(db_url, lake_url)``; ``Hub.init(...)`` creates the schema and the first admin."""

    def __init__(self, url: str | None = None, lake_url: str | None = None, *, migrate: bool = True) -> None:
        self.engine = make_engine(url)
        if migrate:
            upgrade(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.store = ObjectStore(lake_url)

    @classmethod
    def init(cls, url: str | None = None, lake_url: str | None = None, admin: str = "admin") -> tuple["Hub", str | None]:
        """The hub, and an admin token when the hub had no member yet (None otherwise)."""
        hub = cls(url, lake_url)
        with hub._tx() as s:
            if s.scalar(select(func.count()).select_from(Member)):
                return hub, None
            member = Member(name=_check_name(admin, "member name"), role="admin", created_at=_now())
            s.add(member)
            s.flush()
            token = hub._issue(s, member, SCOPES, None)
            s.add(AuditEntry(at=_now(), member_id=member.id, action="hub.init", target=member.name, allowed=True))
        return hub, token

    # -- plumbing -----------------------------------------------------------------------------
    @contextmanager
    def _tx(self) -> Iterator[Session]:
        with self._sessions() as session, session.begin():
            yield session

    def _issue(self, s: Session, member: Member, scopes: Sequence[str], expires: datetime | None) -> str:
        public, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
        s.add(Token(public_id=public, secret_hash=_hash(secret), member_id=member.id, scopes=",".join(sorted(scopes)),
                    created_at=_now(), expires_at=expires))
        return f"sk_{public}_{secret}"

    def _refuse(self, principal: Principal | None, action: str, target: str | None, reason: str,
                error: type[Exception] = AccessDenied, token_id: str | None = None) -> None:
        with self._tx() as s:
            s.add(AuditEntry(at=_now(), member_id=principal.member_id if principal else None,
                             token_id=principal.token_id if principal else token_id, action=action,
                             target=target, allowed=False, reason=reason))
        raise error(reason)

    def _audit(self, s: Session, p: Principal, action: str, target: str | None) -> None:
        s.add(AuditEntry(at=_now(), member_id=p.member_id, token_id=p.token_id, action=action, target=target,
                         allowed=True))

    def authenticate(self, token: str, action: str = "auth") -> Principal:
        """The member behind ``token``; an unknown, malformed, expired or revoked token is
        refused (and the refusal audited)."""
        m = _TOKEN.match(token) if isinstance(token, str) else None
        if m is None:
            self._refuse(None, action, None, "The token is malformed; tokens look like sk_<id>_<secret>.")
        public, secret = m.group(1), m.group(2)
        with self._tx() as s:
            row = s.scalar(select(Token).where(Token.public_id == public))
            member = s.get(Member, row.member_id) if row is not None else None
        if row is None or not hmac.compare_digest(row.secret_hash, _hash(secret)):
            self._refuse(None, action, None, "The token is not valid for this hub.", token_id=public)
        if row.revoked_at is not None:
            self._refuse(None, action, None, "The token was revoked; ask an admin for a new one.", token_id=public)
        if row.expires_at is not None and _aware(row.expires_at) <= _now():
            self._refuse(None, action, None, "The token has expired; ask an admin for a new one.", token_id=public)
        return Principal(member.id, member.name, member.role, frozenset(row.scopes.split(",")), public)

    def _allow(self, token: str, action: str, scope: str, roles: Sequence[str] = ROLES,
               target: str | None = None) -> Principal:
        p = self.authenticate(token, action)
        if scope not in p.scopes:
            self._refuse(p, action, target, f"The token lacks the {scope!r} scope for {action}.")
        if p.role not in roles:
            self._refuse(p, action, target, f"Members with role {p.role!r} may not {action}.")
        return p

    # -- members and tokens ---------------------------------------------------------------------
    def add_member(self, token: str, name: str, role: str) -> int:
        p = self._allow(token, "member.add", "admin", ("admin",), name)
        if role not in ROLES:
            raise IntegrityError(f"Unknown role {role!r}; use one of {', '.join(ROLES)}.")
        name = _check_name(name, "member name")
        try:
            with self._tx() as s:
                member = Member(name=name, role=role, created_at=_now())
                s.add(member)
                s.flush()
                self._audit(s, p, "member.add", name)
                return member.id
        except SAIntegrityError:
            raise IntegrityError(f"A member named {name!r} already exists.") from None

    def create_token(self, token: str, member: str | None = None, scopes: Sequence[str] = ("read",),
                     expires_in_days: float | None = 90) -> str:
        """A new token for ``member`` (admins) or for the caller (scopes within its own)."""
        p = self.authenticate(token, "token.create")
        unknown = [x for x in scopes if x not in SCOPES]
        if unknown or not scopes:
            raise IntegrityError(f"Scopes must be among {', '.join(SCOPES)}.")
        target = member or p.name
        if target != p.name and not (p.role == "admin" and "admin" in p.scopes):
            self._refuse(p, "token.create", target, "Only an admin issues tokens for other members.")
        if target == p.name and not set(scopes) <= p.scopes:
            self._refuse(p, "token.create", target, "A token cannot grant scopes its creator lacks.")
        if expires_in_days is not None and expires_in_days <= 0:
            raise IntegrityError("expires_in_days must be positive (or None for no expiry).")
        with self._tx() as s:
            row = s.scalar(select(Member).where(Member.name == target))
            if row is None:
                raise NotFound(f"No member named {target!r}.")
            expires = _now() + timedelta(days=expires_in_days) if expires_in_days is not None else None
            new = self._issue(s, row, scopes, expires)
            self._audit(s, p, "token.create", target)
            return new

    def revoke_token(self, token: str, public_id: str) -> None:
        p = self.authenticate(token, "token.revoke")
        with self._tx() as s:
            row = s.scalar(select(Token).where(Token.public_id == public_id))
            if row is None:
                raise NotFound("No token with that id.")
            if row.member_id != p.member_id and not (p.role == "admin" and "admin" in p.scopes):
                allowed = False
            else:
                allowed = True
                row.revoked_at = _now()
                self._audit(s, p, "token.revoke", public_id)
        if not allowed:
            self._refuse(p, "token.revoke", public_id, "Only the token's member or an admin may revoke it.")

    def audit_log(self, token: str, limit: int = 100) -> list[dict[str, Any]]:
        p = self._allow(token, "audit.read", "admin", ("admin",))
        with self._tx() as s:
            rows = s.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)).all()
            self._audit(s, p, "audit.read", None)
        return [{"at": r.at.isoformat(), "member_id": r.member_id, "token": r.token_id, "action": r.action,
                 "target": r.target, "allowed": r.allowed, "reason": r.reason} for r in rows]

    # -- dataset inventory ------------------------------------------------------------------------
    def _members(self, s: Session, names: Sequence[str]) -> list[Member]:
        rows = s.scalars(select(Member).where(Member.name.in_(list(names)))).all()
        missing = set(names) - {m.name for m in rows}
        if missing:
            raise NotFound(f"Unknown member(s): {', '.join(sorted(missing))}.")
        return list(rows)

    def _visible(self, p: Principal):
        if p.role == "admin":
            return True
        readers = select(DatasetReader.dataset_id).where(DatasetReader.member_id == p.member_id)
        return or_(Dataset.visibility == "all", Dataset.owner_id == p.member_id, Dataset.id.in_(readers))

    def register_dataset(self, token: str, *, title: str, schema: Sequence[dict], description: str = "",
                         rows: int | None = None, people: int | None = None, location: str | None = None,
                         anonymization: dict | None = None, k: float | None = None, l: float | None = None,
                         t: float | None = None, risks: dict | None = None, max_risk_upper: float | None = None,
                         bias: dict | None = None, synthetic: bool = False, derived_from: int | None = None,
                         run: str | None = None, lake_object: str | None = None, tags: Sequence[str] = (),
                         visibility: str = "all", readers: Sequence[str] = ()) -> int:
        """A new inventory entry owned by the caller; its id."""
        p = self._allow(token, "dataset.register", "write", ("admin", "producer"), title)
        fields = _dataset_fields(title=title, schema=schema, description=description, rows=rows, people=people,
                                 location=location, anonymization=anonymization, k=k, l=l, t=t, risks=risks,
                                 max_risk_upper=max_risk_upper, bias=bias, synthetic=synthetic, run=run,
                                 lake_object=lake_object, visibility=visibility)
        tags = _tags(tags)
        try:
            with self._tx() as s:
                members = self._members(s, readers)
                if derived_from is not None:
                    parent = s.scalar(select(Dataset.id).where(Dataset.id == derived_from, self._visible(p)))
                    if parent is None:
                        raise NotFound(f"No visible dataset with id {derived_from} to derive from.")
                entry = Dataset(owner_id=p.member_id, derived_from=derived_from, created_at=_now(),
                                updated_at=_now(), **fields)
                entry.tags = [DatasetTag(tag=x) for x in tags]
                entry.readers = [DatasetReader(member_id=m.id) for m in members]
                s.add(entry)
                s.flush()
                self._audit(s, p, "dataset.register", f"dataset:{entry.id}")
                return entry.id
        except SAIntegrityError:
            raise IntegrityError(f"You already registered a dataset titled {title!r}; update it instead.") from None

    def update_dataset(self, token: str, dataset_id: int, **changes: Any) -> None:
        p = self._allow(token, "dataset.update", "write", target=f"dataset:{dataset_id}")
        tags = changes.pop("tags", None)
        readers = changes.pop("readers", None)
        with self._tx() as s:
            entry = s.scalar(select(Dataset).where(Dataset.id == dataset_id, self._visible(p)))
            if entry is None:
                raise NotFound(f"No visible dataset with id {dataset_id}.")
            owner = entry.owner_id == p.member_id
        if not owner:
            self._refuse(p, "dataset.update", f"dataset:{dataset_id}", "Only the owner may change a dataset entry.")
        current = {c: getattr(entry, c) for c in ("title", "schema", "visibility")}
        fields = _dataset_fields(**{**current, **changes}, partial=True)
        with self._tx() as s:
            entry = s.get(Dataset, dataset_id)
            for key, value in fields.items():
                setattr(entry, key, value)
            if tags is not None:
                entry.tags = [DatasetTag(tag=x) for x in _tags(tags)]
            if readers is not None:
                entry.readers = [DatasetReader(member_id=m.id) for m in self._members(s, readers)]
            entry.updated_at = _now()
            self._audit(s, p, "dataset.update", f"dataset:{dataset_id}")

    def get_dataset(self, token: str, dataset_id: int) -> dict[str, Any]:
        p = self._allow(token, "dataset.read", "read", target=f"dataset:{dataset_id}")
        with self._tx() as s:
            entry = s.scalar(select(Dataset).where(Dataset.id == dataset_id))
            visible = entry is not None and s.scalar(select(Dataset.id).where(Dataset.id == dataset_id,
                                                                             self._visible(p))) is not None
            if visible:
                self._audit(s, p, "dataset.read", f"dataset:{dataset_id}")
                return _dataset_dict(entry, s)
        if entry is not None:
            self._refuse(p, "dataset.read", f"dataset:{dataset_id}", f"No visible dataset with id {dataset_id}.",
                         NotFound)
        raise NotFound(f"No visible dataset with id {dataset_id}.")

    def search_datasets(self, token: str, text: str | None = None, *, tags: Sequence[str] = (),
                        owner: str | None = None, synthetic: bool | None = None, min_k: float | None = None,
                        max_risk: float | None = None, column: str | None = None, derived_from: int | None = None,
                        min_l: float | None = None, max_t: float | None = None, min_rows: int | None = None,
                        min_people: int | None = None, visibility: str | None = None, run: str | None = None,
                        location: str | None = None, has_bias: bool | None = None,
                        limit: int = 100) -> list[dict[str, Any]]:
        """Visible entries matching every filter given: text in title or description, tags,
        owner, synthetic, k/l/t and risk bounds, row and people counts, a schema column,
        lineage (derived_from, run), visibility, location substring, bias findings present."""
        p = self._allow(token, "dataset.search", "read")
        query = select(Dataset).where(self._visible(p))
        if text:
            like = f"%{text.lower()}%"
            query = query.where(or_(func.lower(Dataset.title).like(like), func.lower(Dataset.description).like(like)))
        for tag in tags:
            query = query.where(Dataset.id.in_(select(DatasetTag.dataset_id).where(DatasetTag.tag == tag)))
        if owner:
            query = query.where(Dataset.owner_id.in_(select(Member.id).where(Member.name == owner)))
        for value, field, compare in ((synthetic, Dataset.synthetic, operator.eq), (min_k, Dataset.k, operator.ge),
                                      (min_l, Dataset.l, operator.ge), (max_t, Dataset.t, operator.le),
                                      (max_risk, Dataset.max_risk_upper, operator.le),
                                      (min_rows, Dataset.rows, operator.ge), (min_people, Dataset.people, operator.ge),
                                      (derived_from, Dataset.derived_from, operator.eq),
                                      (visibility, Dataset.visibility, operator.eq), (run, Dataset.run, operator.eq)):
            if value is not None:
                query = query.where(compare(field, value))
        if location is not None:
            query = query.where(func.lower(Dataset.location).like(f"%{location.lower()}%"))
        with self._tx() as s:
            rows = s.scalars(query.order_by(Dataset.id)).all()
            out = [_dataset_dict(r, s) for r in rows]
            if column:
                out = [d for d in out if any(c["name"] == column for c in d["schema"])]
            if has_bias is not None:  # JSON null vs SQL NULL differ by engine: judge the value
                out = [d for d in out if bool(d["bias"]) == has_bias]
            self._audit(s, p, "dataset.search", text or None)
        return out[:limit]

    # -- datalake -------------------------------------------------------------------------------
    def lake_put(self, token: str, name: str, table: pd.DataFrame | str | Path) -> dict[str, Any]:
        """Store a (synthetic) table as Parquet under ``name``: a new version unless the
        latest version holds the same bytes."""
        p = self._allow(token, "lake.put", "write", ("admin", "producer"), name)
        name = _check_name(name, "lake name")
        if isinstance(table, (str, Path)):
            from ..io import read_table

            table = read_table(table)
        if not isinstance(table, pd.DataFrame) or table.shape[1] == 0:
            raise IntegrityError("lake put takes a non-empty table (.csv, .parquet or a DataFrame).")
        data = ObjectStore.parquet_bytes(table)
        return self._put_object(p, name, data, "parquet", "lake.put")

    def _put_object(self, p: Principal, name: str, data: bytes, kind: str, action: str) -> dict[str, Any]:
        digest = self.store.put(data)
        for _ in range(20):  # concurrent puts of one name race for the next version number
            try:
                with self._tx() as s:
                    latest = s.scalar(select(LakeObject).where(LakeObject.name == name)
                                      .order_by(LakeObject.version.desc()).limit(1))
                    if latest is not None and latest.owner_id != p.member_id and p.role != "admin":
                        owner_ok = False
                    else:
                        owner_ok = True
                        if latest is not None and latest.digest == digest:
                            self._audit(s, p, action, f"{name}@{latest.version}")
                            return _lake_dict(latest)
                        row = LakeObject(name=name, version=(latest.version + 1) if latest else 1, digest=digest,
                                         size=len(data), kind=kind, owner_id=p.member_id, created_at=_now())
                        s.add(row)
                        s.flush()
                        self._audit(s, p, action, f"{name}@{row.version}")
                        return _lake_dict(row)
                if not owner_ok:
                    self._refuse(p, action, name, f"{name!r} belongs to another member; choose another name.")
            except SAIntegrityError:
                continue
        raise IntegrityError("Could not allocate a version number; retry.")

    def lake_get(self, token: str, name: str, version: int | None = None) -> pd.DataFrame:
        p = self._allow(token, "lake.get", "read", target=name)
        row = self._lake_row(name, version, "parquet")
        data = self.store.get(row.digest)
        with self._tx() as s:
            self._audit(s, p, "lake.get", f"{name}@{row.version}")
        return pd.read_parquet(io.BytesIO(data))

    def _lake_row(self, name: str, version: int | None, kind: str) -> LakeObject:
        with self._tx() as s:
            query = select(LakeObject).where(LakeObject.name == name, LakeObject.kind == kind)
            query = query.where(LakeObject.version == version) if version is not None else \
                query.order_by(LakeObject.version.desc()).limit(1)
            row = s.scalar(query)
        if row is None:
            raise NotFound(f"No lake object {name!r}" + (f" version {version}" if version is not None else "") + ".")
        return row

    def lake_list(self, token: str) -> list[dict[str, Any]]:
        p = self._allow(token, "lake.list", "read")
        with self._tx() as s:
            rows = s.scalars(select(LakeObject).where(LakeObject.kind == "parquet")
                             .order_by(LakeObject.name, LakeObject.version)).all()
            self._audit(s, p, "lake.list", None)
        return [_lake_dict(r) for r in rows]

    # -- model registry ---------------------------------------------------------------------------
    def _model_visible(self, p: Principal):
        if p.role == "admin":
            return True
        readers = select(ModelReader.model_id).where(ModelReader.member_id == p.member_id)
        return or_(Model.visibility == "all", Model.owner_id == p.member_id, Model.id.in_(readers))

    def publish_model(self, token: str, name: str, artifact: bytes | str | Path, *, metrics: dict | None = None,
                      lineage: dict | None = None, epsilon: float | None = None, delta: float | None = None,
                      membership_inference: dict | None = None, licence: str | None = None, description: str = "",
                      aliases: Sequence[str] = (), visibility: str = "all", readers: Sequence[str] = ()) -> int:
        """A new version of model ``name`` (created, owned by the caller, when new); its number."""
        p = self._allow(token, "model.publish", "write", target=name)
        name = _check_name(name, "model name")
        if isinstance(artifact, (str, Path)):
            if not Path(artifact).is_file():
                raise IntegrityError(f"No model artifact file at {artifact}.")
            artifact = Path(artifact).read_bytes()
        if not isinstance(artifact, bytes) or not artifact:
            raise IntegrityError("A model artifact must be a non-empty file or bytes.")
        if visibility not in ("all", "members"):
            raise IntegrityError("visibility must be 'all' or 'members'.")
        for label, value in (("epsilon", epsilon), ("delta", delta)):
            if value is not None and not (isinstance(value, (int, float)) and value >= 0):
                raise IntegrityError(f"{label} must be a non-negative number.")
        for label, value in (("metrics", metrics), ("lineage", lineage), ("membership_inference", membership_inference)):
            if value is not None and not isinstance(value, dict):
                raise IntegrityError(f"{label} must be a mapping.")
        digest = self.store.put(artifact)
        for _ in range(20):
            try:
                with self._tx() as s:
                    members = self._members(s, readers)
                    model = s.scalar(select(Model).where(Model.name == name))
                    if model is None:
                        model = Model(name=name, owner_id=p.member_id, description=description, licence=licence,
                                      visibility=visibility, created_at=_now())
                        model.readers = [ModelReader(member_id=m.id) for m in members]
                        s.add(model)
                        s.flush()
                    elif model.owner_id != p.member_id:
                        break
                    version = (max((v.version for v in model.versions), default=0)) + 1
                    s.add(ModelVersion(model_id=model.id, version=version, lake_object=digest, metrics=metrics or {},
                                       lineage=lineage or {}, epsilon=epsilon, delta=delta,
                                       membership_inference=membership_inference, created_at=_now()))
                    s.add(LakeObject(name=f"model/{name}", version=version, digest=digest, size=len(artifact),
                                     kind="artifact", owner_id=p.member_id, created_at=_now()))
                    for alias in aliases:
                        s.merge(ModelAlias(model_id=model.id, alias=_check_name(alias, "alias"), version=version))
                    self._audit(s, p, "model.publish", f"{name}@{version}")
                    return version
            except SAIntegrityError:
                continue
        else:
            raise IntegrityError("Could not allocate a model version; retry.")
        self._refuse(p, "model.publish", name, f"The model {name!r} belongs to another member.")

    def _model(self, s: Session, p: Principal, name: str) -> Model | None:
        return s.scalar(select(Model).where(Model.name == name, self._model_visible(p)))

    def show_model(self, token: str, name: str) -> dict[str, Any]:
        p = self._allow(token, "model.read", "read", target=name)
        with self._tx() as s:
            model = self._model(s, p, name)
            if model is not None:
                self._audit(s, p, "model.read", name)
                return _model_dict(model, s)
        self._refuse(p, "model.read", name, f"No visible model named {name!r}.", NotFound)

    def list_models(self, token: str) -> list[dict[str, Any]]:
        p = self._allow(token, "model.list", "read")
        with self._tx() as s:
            rows = s.scalars(select(Model).where(self._model_visible(p)).order_by(Model.name)).all()
            out = [_model_dict(m, s) for m in rows]
            self._audit(s, p, "model.list", None)
        return out

    def download_model(self, token: str, name: str, version: int | str | None = None) -> bytes:
        """The artifact of a version (a number, an alias, or the latest), checksum-verified."""
        p = self._allow(token, "model.download", "read", target=name)
        with self._tx() as s:
            model = self._model(s, p, name)
            if model is None:
                found = False
            else:
                found = True
                number = _resolve_version(model, version)
                digest = next(v.lake_object for v in model.versions if v.version == number)
        if not found:
            self._refuse(p, "model.download", name, f"No visible model named {name!r}.", NotFound)
        data = self.store.get(digest)
        with self._tx() as s:
            self._audit(s, p, "model.download", f"{name}@{number}")
        return data


# -- validation and views -------------------------------------------------------------------------

def _check_name(name: Any, what: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise IntegrityError(f"A {what} must be 1-200 characters: letters, digits, space and . _ / : @ -, "
                             "starting with a letter or digit.")
    return name


def _tags(tags: Sequence[str]) -> list[str]:
    if isinstance(tags, str) or not all(isinstance(x, str) and 0 < len(x) <= 100 for x in tags):
        raise IntegrityError("Tags must be a list of strings of 1-100 characters.")
    return sorted(set(tags))


def _dataset_fields(*, partial: bool = False, **f: Any) -> dict[str, Any]:
    known = {"title", "schema", "description", "rows", "people", "location", "anonymization", "k", "l", "t", "risks",
             "max_risk_upper", "bias", "synthetic", "run", "lake_object", "visibility"}
    unknown = set(f) - known
    if unknown:
        raise IntegrityError(f"Unknown dataset field(s): {', '.join(sorted(unknown))}.")
    if not isinstance(f.get("title"), str) or not f["title"].strip() or len(f["title"]) > 300:
        raise IntegrityError("A dataset needs a title of 1-300 characters.")
    schema = f.get("schema")
    if not isinstance(schema, (list, tuple)) or not schema or not all(
            isinstance(c, dict) and set(c) <= {"name", "type", "description"} and isinstance(c.get("name"), str)
            and c["name"] and isinstance(c.get("type"), str) and c["type"] for c in schema):
        raise IntegrityError("Malformed schema: give a non-empty list of {'name': ..., 'type': ...} columns.")
    names = [c["name"] for c in schema]
    if len(set(names)) != len(names):
        raise IntegrityError("Malformed schema: column names repeat.")
    f["schema"] = [dict(c) for c in schema]
    if f.get("visibility", "all") not in ("all", "members"):
        raise IntegrityError("visibility must be 'all' or 'members'.")
    for key in ("rows", "people"):
        if f.get(key) is not None and not (isinstance(f[key], int) and not isinstance(f[key], bool) and f[key] >= 0):
            raise IntegrityError(f"{key} must be a non-negative integer.")
    for key in ("k", "l", "t", "max_risk_upper"):
        if f.get(key) is not None and not isinstance(f[key], (int, float)):
            raise IntegrityError(f"{key} must be a number.")
    for key in ("anonymization", "risks", "bias"):
        if f.get(key) is not None and not isinstance(f[key], dict):
            raise IntegrityError(f"{key} must be a mapping.")
    return f


def _dataset_dict(d: Dataset, s: Session) -> dict[str, Any]:
    owner = s.get(Member, d.owner_id)
    return {"id": d.id, "owner": owner.name if owner else None, "title": d.title, "description": d.description,
            "schema": d.schema, "rows": d.rows, "people": d.people, "location": d.location,
            "anonymization": d.anonymization, "k": d.k, "l": d.l, "t": d.t, "risks": d.risks,
            "max_risk_upper": d.max_risk_upper, "bias": d.bias, "synthetic": d.synthetic,
            "derived_from": d.derived_from, "run": d.run, "lake_object": d.lake_object,
            "tags": sorted(x.tag for x in d.tags), "visibility": d.visibility,
            "created_at": _aware(d.created_at).isoformat(), "updated_at": _aware(d.updated_at).isoformat()}


def _lake_dict(r: LakeObject) -> dict[str, Any]:
    return {"name": r.name, "version": r.version, "sha256": r.digest, "bytes": r.size, "kind": r.kind,
            "created_at": _aware(r.created_at).isoformat()}


def _model_dict(m: Model, s: Session) -> dict[str, Any]:
    owner = s.get(Member, m.owner_id)
    return {"name": m.name, "owner": owner.name if owner else None, "description": m.description,
            "licence": m.licence, "visibility": m.visibility,
            "aliases": {a.alias: a.version for a in m.aliases},
            "versions": [{"version": v.version, "sha256": v.lake_object, "metrics": v.metrics, "lineage": v.lineage,
                          "epsilon": v.epsilon, "delta": v.delta, "membership_inference": v.membership_inference,
                          "created_at": _aware(v.created_at).isoformat()} for v in m.versions]}


def _resolve_version(model: Model, version: int | str | None) -> int:
    numbers = [v.version for v in model.versions]
    if version is None:
        return max(numbers)
    if isinstance(version, str) and not version.isdigit():
        for alias in model.aliases:
            if alias.alias == version:
                return alias.version
        raise NotFound(f"The model has no alias {version!r}.")
    if int(version) not in numbers:
        raise NotFound(f"The model has no version {int(version)}.")
    return int(version)


def describe_table(df: pd.DataFrame, id_column: str | None = None) -> dict[str, Any]:
    """Schema, rows and people of a table, for ``register_dataset``."""
    if not isinstance(df, pd.DataFrame):
        raise ConfigurationError("describe_table takes a pandas DataFrame.")
    schema = [{"name": str(c), "type": str(t)} for c, t in df.dtypes.items()]
    people = int(df[id_column].nunique()) if id_column and id_column in df.columns else None
    return {"schema": schema, "rows": int(len(df)), "people": people}
