"""The hub's knowledge base: members and tokens, dataset inventory, datalake, model registry.

Audit. Every call takes an API token and is checked, then recorded in the audit log in the
same transaction as its effect. Every refusal is audited, one row per refused call, in a
transaction of its own (the refusal is kept while nothing else changes): a failed
authentication, and after it every AccessDenied, NotFound and IntegrityError (input of the
wrong type or out of range included; it is checked before it reaches the database). The row's
target and reason are cut to their column sizes with control characters replaced, so an audit
write never fails on what the caller sent. Messages never quote a value the caller gave
(names, titles, tags, paths): they say what is wrong and what to do.

Tokens look like ``sk_<public id>_<secret>``; only the SHA-256 of the secret is stored. A
token carries scopes (read, write, admin), may expire and can be revoked.

- A token creates tokens only with a subset of its own scopes, expiring no later than itself
  and its creators (a token with an expiry cannot create one without); anything else is
  refused. Expiry: more than 0 and at most ``MAX_TOKEN_DAYS`` days, or None (never); by
  default 90 days, cut to the creator's own expiry.
- A new token records the token that created it; revoking a token revokes every token created
  from it, transitively, and a token is refused at authentication when it or any token in its
  chain of creators is revoked or expired.
- An admin (role admin with the admin scope) issues, lists and revokes tokens of any member;
  any other member only its own. Listings never show a secret or its hash. Last use is
  recorded at authentication, at most once a minute per token.
- The audit names the new token's public id as the target of ``token.create``.

Roles: an admin adds members; producers register datasets and put synthetic datasets in the
lake; every member with a write token may publish models. Only the owner changes an entry.

Visibility: a dataset entry, a lake object and a model version are each visible to all
members (``visibility="all"``) or only to their owner and the named readers (``"members"``).
Admins read everything: every entry, every member's lake objects, every model version. What a
caller may not see cannot be told from what does not exist (NotFound, audited).

- A lake object has its own visibility (``lake_put(..., visibility=, readers=)``) and inherits
  that of what it belongs to: it is hidden from a member who may not see an inventory entry of
  the same owner recording its bytes (the entry's ``lake_object`` is the object's sha256), or a
  model version of the same owner with those bytes. ``lake_list`` leaves such objects out,
  ``lake_get`` refuses them, and the latest version is the newest one the caller may see.
- A model's visibility is per version: ``publish_model(..., visibility=, readers=)`` applies
  to the version being published. ``list_models``/``show_model`` show a model when at least
  one version is visible, with only the visible versions and the aliases pointing at them;
  ``download_model`` refuses an invisible version and an alias pointing at one; the default
  (latest) is the newest visible version. Artifacts are lake objects named ``model/<name>``
  served only by ``download_model``, under their version's rule.

Names: member, lake and model names and aliases are NFC-normalized and must be 1-200 (aliases
1-100) ASCII letters, digits, single spaces and ``. _ / : @ -``, starting with a letter or
digit and not ending with a space; titles and tags are NFC text without control, format or
line-break characters, spaces other than U+0020, repeated spaces, or leading or trailing
spaces. Two names that look the same therefore cannot coexist. Lake names have a namespace per
member: an object is unique per (owner, name, version). ``lake_put`` always writes into the
caller's own namespace; a put naming another owner is refused, admins included (there is no
put on behalf), so no member can block or take over another's name. Reads name the owner
(default: the caller). The prefix ``model/`` is reserved for the registry's artifacts.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import io
import json
import math
import operator
import re
import secrets
import unicodedata
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from numbers import Integral, Real
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import pandas as pd
from sqlalchemy import and_, bindparam, func, literal_column, not_, or_, select, true, update
from sqlalchemy.exc import DBAPIError, IntegrityError as SAIntegrityError, InterfaceError, OperationalError, \
    SQLAlchemyError
from sqlalchemy.orm import Session, aliased, sessionmaker

from ..exceptions import (AccessDenied, BadInputError, ConfigurationError, HubError, IntegrityError, NotFound,
                          StateConflict, Unauthenticated)
from .db import make_engine, unreachable, upgrade
from .lake import ObjectStore
from .schema import (JOB_STATES, ROLES, SCOPES, VISIBILITIES, AuditEntry, Dataset, DatasetReader, DatasetTag,
                     FederationRun, Job,
                     LakeObject, LakeReader, Member, Model, ModelAlias, ModelVersion, ModelVersionReader, Token)

__all__ = ["Hub", "Principal", "describe_table", "MAX_TOKEN_DAYS", "DEFAULT_TOKEN_DAYS", "RESERVED_LAKE_PREFIX"]

MAX_TOKEN_DAYS = 3650
DEFAULT_TOKEN_DAYS = 90
RESERVED_LAKE_PREFIX = "model/"

_TOKEN = re.compile(r"sk_([0-9a-f]{16})_([A-Za-z0-9_-]{20,100})")
_PUBLIC_ID = re.compile(r"[0-9a-f]{16}")
_DIGEST = re.compile(r"[0-9a-f]{64}")
_JOB_ID = re.compile(r"[0-9a-f]{32}")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._/:@-]*")
_UNPRINTABLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_LAST_USE_STEP = timedelta(seconds=60)
_MAX_CHAIN = 64
_INT_MAX = 2**31 - 1          # Integer columns (ids, versions) on PostgreSQL
_BIGINT_MAX = 2**63 - 1       # BigInteger columns (rows, people)
_AUDIT_TARGET, _AUDIT_REASON = 300, 300


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _aware(t: datetime | None) -> datetime | None:
    return t if t is None or t.tzinfo else t.replace(tzinfo=timezone.utc)


def _iso(t: datetime | None) -> str | None:
    return None if t is None else _aware(t).astimezone(timezone.utc).isoformat()


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _label(value: Any) -> str | None:
    """A caller's value as audit text; never raises."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (bool, int, float)):
        try:
            return str(value)
        except ValueError:             # an int too long to print
            return f"<{type(value).__name__}>"
    return f"<{type(value).__name__}>"


def _clip(text: str | None, size: int) -> str | None:
    """``text`` cut to ``size`` characters, control and unencodable characters replaced."""
    if text is None:
        return None
    return "".join("?" if unicodedata.category(c) in _UNPRINTABLE else c for c in text[:size])


@dataclass(frozen=True)
class Principal:
    member_id: int
    name: str
    role: str
    scopes: frozenset[str]
    token_id: str


@functools.lru_cache(maxsize=1)
def _lineage_query():
    """A token and its chain of creators (recursive CTE, built once; the token's row id is the
    ``token_row`` parameter)."""
    tokens = Token.__table__
    chain = (select(tokens.c.id, tokens.c.parent_id, tokens.c.expires_at, tokens.c.revoked_at,
                    literal_column("1").label("depth"))
             .where(tokens.c.id == bindparam("token_row")).cte("chain", recursive=True))
    parent = tokens.alias("parent")
    chain = chain.union_all(select(parent.c.id, parent.c.parent_id, parent.c.expires_at, parent.c.revoked_at,
                                   chain.c.depth + literal_column("1"))
                            .where(parent.c.id == chain.c.parent_id, chain.c.depth < _MAX_CHAIN))
    return select(chain.c.expires_at, chain.c.revoked_at)


def _is_admin(p: Principal) -> bool:
    return p.role == "admin" and "admin" in p.scopes


class Hub:
    """``Hub(db_url, lake_url)``; ``Hub.init(...)`` creates the schema and the first admin."""

    def __init__(self, url: str | None = None, lake_url: str | None = None, *, migrate: bool = True) -> None:
        self.engine = make_engine(url)
        if migrate:
            try:
                upgrade(self.engine)
            except DBAPIError:
                self.engine.dispose()
                raise unreachable() from None
            except Exception as exc:  # noqa: BLE001 - alembic's errors for a database it cannot place
                from alembic.util import CommandError

                if not isinstance(exc, CommandError):
                    raise
                self.engine.dispose()
                raise HubError("The knowledge base database was made by a newer SECURED (or another program); "
                               "upgrade SECURED or point SECURED_DB_URL at the right database.") from None
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._read_sessions = sessionmaker(self.engine.execution_options(secured_readonly=True),
                                           expire_on_commit=False)
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
            token, public = hub._issue(s, member, SCOPES, None, None)
            s.add(AuditEntry(at=_now(), member_id=member.id, token_id=public, action="hub.init", target=member.name,
                             allowed=True))
        return hub, token

    # -- plumbing -----------------------------------------------------------------------------
    @contextmanager
    def _tx(self, readonly: bool = False) -> Iterator[Session]:
        """A transaction; ``readonly`` ones must not write (SQLite: no write lock is taken)."""
        try:
            with (self._read_sessions if readonly else self._sessions)() as session, session.begin():
                yield session
        except (OperationalError, InterfaceError):
            raise unreachable() from None

    def _issue(self, s: Session, member: Member, scopes: Sequence[str], expires: datetime | None,
               parent_id: int | None) -> tuple[str, str]:
        public, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
        s.add(Token(public_id=public, secret_hash=_hash(secret), member_id=member.id, scopes=",".join(sorted(scopes)),
                    created_at=_now(), expires_at=expires, parent_id=parent_id))
        return f"sk_{public}_{secret}", public

    def _record(self, p: Principal | None, action: str, target: Any, reason: str, token_id: str | None = None) -> None:
        """One audit row for a refused call, in a transaction of its own."""
        with self._tx() as s:
            s.add(AuditEntry(at=_now(), member_id=p.member_id if p else None,
                             token_id=p.token_id if p else token_id, action=action,
                             target=_clip(_label(target), _AUDIT_TARGET), allowed=False,
                             reason=_clip(reason, _AUDIT_REASON)))

    def _refuse(self, p: Principal | None, action: str, target: Any, reason: str,
                error: type[HubError] = AccessDenied, token_id: str | None = None) -> None:
        self._record(p, action, target, reason, token_id)
        exc = error(reason)
        exc._audited = True
        raise exc

    @contextmanager
    def _guard(self, p: Principal, action: str, target: Any) -> Iterator[None]:
        """Audit any refusal raised in the body (once), as a refusal of ``action``."""
        try:
            yield
        except HubError as exc:
            if not getattr(exc, "_audited", False):
                exc._audited = True
                self._record(p, action, target, str(exc))
            raise
        except SQLAlchemyError:   # a value the checks let through and the database refused
            error = IntegrityError("The knowledge base could not store or look up this input (a value of the wrong "
                                   "type, out of range or colliding with another entry); check the arguments.")
            error._audited = True
            self._record(p, action, target, str(error))
            raise error from None

    def _audit(self, s: Session, p: Principal, action: str, target: str | None) -> None:
        s.add(AuditEntry(at=_now(), member_id=p.member_id, token_id=p.token_id, action=action,
                         target=_clip(target, _AUDIT_TARGET), allowed=True))

    def _lineage(self, s: Session, token_row: int) -> tuple[bool, datetime | None]:
        """(revoked, earliest expiry) over a token and its chain of creators, in one query."""
        rows = s.execute(_lineage_query(), {"token_row": token_row}).all()
        expiries = [_aware(r.expires_at) for r in rows if r.expires_at is not None]
        return any(r.revoked_at is not None for r in rows), min(expiries) if expiries else None

    def authenticate(self, token: str, action: str = "auth") -> Principal:
        """The member behind ``token``; an unknown, malformed, expired or revoked token (or one
        created from an expired or revoked token) is refused, and the refusal audited."""
        m = _TOKEN.fullmatch(token) if isinstance(token, str) else None
        if m is None:
            self._refuse(None, action, None, "The token is malformed; tokens look like sk_<id>_<secret>.",
                         Unauthenticated)
        public, secret = m.group(1), m.group(2)
        now = _now()
        problem, principal, touch = None, None, None
        with self._tx(readonly=True) as s:
            row = s.scalar(select(Token).where(Token.public_id == public))
            matches = hmac.compare_digest(row.secret_hash if row is not None else "0" * 64, _hash(secret))
            if row is None or not matches:
                problem = "The token is not valid for this hub."
            else:
                revoked, expires = self._lineage(s, row.id)
                if revoked:
                    problem = "The token (or a token it was created from) was revoked; ask an admin for a new one."
                elif expires is not None and expires <= now:
                    problem = "The token (or a token it was created from) has expired; ask an admin for a new one."
                else:
                    member = s.get(Member, row.member_id)
                    if row.last_used_at is None or _aware(row.last_used_at) <= now - _LAST_USE_STEP:
                        touch = row.id                  # at most one write per token and minute
                    principal = Principal(member.id, member.name, member.role, frozenset(row.scopes.split(",")),
                                          public)
        if touch is not None:
            with self._tx() as s:
                s.execute(update(Token).where(Token.id == touch, or_(Token.last_used_at.is_(None),
                                                                    Token.last_used_at <= now - _LAST_USE_STEP))
                          .values(last_used_at=now))
        if problem is not None:
            self._refuse(None, action, None, problem, Unauthenticated, token_id=public)
        return principal

    def _allow(self, token: str, action: str, scope: str, roles: Sequence[str] = ROLES,
               target: Any = None) -> Principal:
        p = self.authenticate(token, action)
        if scope not in p.scopes:
            self._refuse(p, action, target, f"The token lacks the {scope!r} scope for {action}.")
        if p.role not in roles:
            self._refuse(p, action, target, f"Members with role {p.role!r} may not {action}.")
        return p

    def authorize(self, token: str, action: str, scope: str = "read") -> Principal:
        """Check a token for a service action outside the knowledge base's tables (an HTTP
        route that computes, such as a bias report) and audit the call; a refusal is audited
        as every other one."""
        p = self._allow(token, action, scope)
        with self._tx() as s:
            self._audit(s, p, action, None)
        return p

    # -- members and tokens ---------------------------------------------------------------------
    def add_member(self, token: str, name: str, role: str) -> int:
        p = self._allow(token, "member.add", "admin", ("admin",), name)
        with self._guard(p, "member.add", name):
            if not isinstance(role, str) or role not in ROLES:
                raise IntegrityError(f"Unknown role; use one of {', '.join(ROLES)}.")
            name = _check_name(name, "member name")
            try:
                with self._tx() as s:
                    member = Member(name=name, role=role, created_at=_now())
                    s.add(member)
                    s.flush()
                    self._audit(s, p, "member.add", name)
                    return member.id
            except SAIntegrityError:
                raise IntegrityError("A member with this name already exists; choose another name.") from None

    def create_token(self, token: str, member: str | None = None, scopes: Sequence[str] = ("read",),
                     expires_in_days: float | None | str = "default") -> str:
        """A new token for ``member`` (admins) or for the caller, with scopes among the creating
        token's own, expiring after ``expires_in_days`` (None: never; "default": 90 days, or the
        creating token's own expiry when sooner), never later than the creating token."""
        p = self.authenticate(token, "token.create")
        with self._guard(p, "token.create", p.name if member is None else member):
            scopes = _scopes(scopes)
            days = _days(expires_in_days)
            target = p.name if member is None else _check_name(member, "member name")
            if target != p.name and not _is_admin(p):
                raise AccessDenied("Only an admin issues tokens for other members.")
            if not set(scopes) <= p.scopes:
                raise AccessDenied("A token can only create tokens with scopes it has itself.")
            with self._tx() as s:
                parent = s.scalar(select(Token).where(Token.public_id == p.token_id))
                revoked, ceiling = self._lineage(s, parent.id)
                now = _now()
                if revoked or (ceiling is not None and ceiling <= now):
                    raise AccessDenied("The token was revoked or has expired; ask an admin for a new one.")
                if days == "default":
                    expires = now + timedelta(days=DEFAULT_TOKEN_DAYS)
                    expires = min(expires, ceiling) if ceiling is not None else expires
                elif days is None:
                    if ceiling is not None:
                        raise AccessDenied("This token expires, so it cannot create a token that never expires; "
                                           "give expires_in_days.")
                    expires = None
                else:
                    expires = now + timedelta(days=days)
                    if ceiling is not None and expires > ceiling:
                        raise AccessDenied("A token cannot create a token that expires after itself; ask for fewer "
                                           "days (or leave the default).")
                row = s.scalar(select(Member).where(Member.name == target))
                if row is None:
                    raise NotFound("No member with this name.")
                new, public = self._issue(s, row, scopes, expires, parent.id)
                self._audit(s, p, "token.create", public)
                return new

    def list_tokens(self, token: str, member: str | None = None) -> list[dict[str, Any]]:
        """The tokens of ``member`` (default: the caller; another member's: admins only): id,
        scopes, expiry, the creating token's id, creation, last use and revocation. Never the
        secret or its hash."""
        p = self.authenticate(token, "token.list")
        with self._guard(p, "token.list", p.name if member is None else member):
            target = p.name if member is None else _check_name(member, "member name")
            if target != p.name and not _is_admin(p):
                raise AccessDenied("Only an admin lists another member's tokens.")
            creator = aliased(Token)
            with self._tx() as s:
                owner = s.scalar(select(Member).where(Member.name == target))
                if owner is None:
                    raise NotFound("No member with this name.")
                rows = s.execute(select(Token, creator.public_id).outerjoin(creator, creator.id == Token.parent_id)
                                 .where(Token.member_id == owner.id).order_by(Token.id)).all()
                self._audit(s, p, "token.list", owner.name)
        return [{"id": t.public_id, "member": owner.name, "scopes": t.scopes.split(","),
                 "expires_at": _iso(t.expires_at), "created_by": parent, "created_at": _iso(t.created_at),
                 "last_used_at": _iso(t.last_used_at), "revoked_at": _iso(t.revoked_at)} for t, parent in rows]

    def revoke_token(self, token: str, public_id: str) -> int:
        """Revoke a token (its member or an admin) and every token created from it,
        transitively; the number of tokens revoked."""
        p = self.authenticate(token, "token.revoke")
        with self._guard(p, "token.revoke", public_id):
            if not isinstance(public_id, str) or not _PUBLIC_ID.fullmatch(public_id):
                raise IntegrityError("A token id is the 16 hex digits after sk_ (sk_<id>_<secret>).")
            with self._tx() as s:
                row = s.scalar(select(Token).where(Token.public_id == public_id))
                if row is None:
                    raise NotFound("No token with that id.")
                if row.member_id != p.member_id and not _is_admin(p):
                    raise AccessDenied("Only the token's member or an admin may revoke it.")
                family, frontier = [row.id], [row.id]
                while frontier:
                    frontier = list(s.scalars(select(Token.id).where(Token.parent_id.in_(frontier))))
                    family += frontier
                now = _now()
                revoked = 0
                for start in range(0, len(family), 500):
                    revoked += s.execute(update(Token).where(Token.id.in_(family[start:start + 500]),
                                                             Token.revoked_at.is_(None))
                                         .values(revoked_at=now)).rowcount
                self._audit(s, p, "token.revoke", public_id)
        return revoked

    def audit_log(self, token: str, limit: int = 100) -> list[dict[str, Any]]:
        p = self._allow(token, "audit.read", "admin", ("admin",))
        with self._guard(p, "audit.read", None):
            limit = _int(limit, "limit", 1, 10**6)
            with self._tx() as s:
                rows = s.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)).all()
                self._audit(s, p, "audit.read", None)
        return [{"at": _iso(r.at), "member_id": r.member_id, "token": r.token_id, "action": r.action,
                 "target": r.target, "allowed": r.allowed, "reason": r.reason} for r in rows]

    # -- dataset inventory ------------------------------------------------------------------------
    def _members(self, s: Session, names: Sequence[str]) -> list[Member]:
        rows = s.scalars(select(Member).where(Member.name.in_(list(names)))).all() if names else []
        if len(rows) != len(set(names)):
            raise NotFound("Unknown reader: every reader must be the name of a member of the hub.")
        return list(rows)

    def _visible(self, p: Principal):
        if p.role == "admin":
            return true()
        readers = select(DatasetReader.dataset_id).where(DatasetReader.member_id == p.member_id)
        return or_(Dataset.visibility == "all", Dataset.owner_id == p.member_id, Dataset.id.in_(readers))

    def register_dataset(self, token: str, *, title: str, schema: Sequence[dict], description: str = "",
                         rows: int | None = None, people: int | None = None, location: str | None = None,
                         anonymization: dict | None = None, k: float | None = None, l: float | None = None,
                         t: float | None = None, risks: dict | None = None, max_risk_upper: float | None = None,
                         bias: dict | None = None, synthetic: bool = False, derived_from: int | None = None,
                         run: str | None = None, lake_object: str | None = None, tags: Sequence[str] = (),
                         visibility: str = "all", readers: Sequence[str] = ()) -> int:
        """A new inventory entry owned by the caller; its id. ``lake_object`` is the sha256 of the
        entry's data in the lake (``lake_put`` returns it): the lake object then inherits the
        entry's visibility."""
        p = self._allow(token, "dataset.register", "write", ("admin", "producer"), title)
        with self._guard(p, "dataset.register", title):
            fields = _dataset_fields(dict(title=title, schema=schema, description=description, rows=rows,
                                          people=people, location=location, anonymization=anonymization, k=k, l=l,
                                          t=t, risks=risks, max_risk_upper=max_risk_upper, bias=bias,
                                          synthetic=synthetic, run=run, lake_object=lake_object,
                                          visibility=visibility))
            tags = _tags(tags)
            readers = _names(readers, "readers")
            derived_from = None if derived_from is None else _int(derived_from, "derived_from", 1, _INT_MAX)
            try:
                with self._tx() as s:
                    members = self._members(s, readers)
                    if derived_from is not None:
                        parent = s.scalar(select(Dataset.id).where(Dataset.id == derived_from, self._visible(p)))
                        if parent is None:
                            raise NotFound("No visible dataset with this id to derive from.")
                    entry = Dataset(owner_id=p.member_id, derived_from=derived_from, created_at=_now(),
                                    updated_at=_now(), **fields)
                    entry.tags = [DatasetTag(tag=x) for x in tags]
                    entry.readers = [DatasetReader(member_id=m.id) for m in members]
                    s.add(entry)
                    s.flush()
                    self._audit(s, p, "dataset.register", f"dataset:{entry.id}")
                    return entry.id
            except SAIntegrityError:
                raise IntegrityError("You already registered another dataset with this title; choose another title "
                                     "or update that entry.") from None

    def update_dataset(self, token: str, dataset_id: int, **changes: Any) -> None:
        """Change the caller's own entry: any ``register_dataset`` field but ``derived_from``;
        ``tags`` and ``readers`` replace the old ones."""
        target = f"dataset:{_label(dataset_id)}"
        p = self._allow(token, "dataset.update", "write", target=target)
        with self._guard(p, "dataset.update", target):
            dataset_id = _int(dataset_id, "dataset_id", 1, _INT_MAX)
            tags = changes.pop("tags", None)
            readers = changes.pop("readers", None)
            fields = _dataset_fields(changes, partial=True)
            tags = None if tags is None else _tags(tags)
            readers = None if readers is None else _names(readers, "readers")
            try:
                with self._tx() as s:
                    entry = s.scalar(select(Dataset).where(Dataset.id == dataset_id, self._visible(p)))
                    if entry is None:
                        raise NotFound("No visible dataset with this id.")
                    if entry.owner_id != p.member_id:
                        raise AccessDenied("Only the owner may change a dataset entry.")
                    for key, value in fields.items():
                        setattr(entry, key, value)
                    if tags is not None:
                        entry.tags = [DatasetTag(tag=x) for x in tags]
                    if readers is not None:
                        entry.readers = [DatasetReader(member_id=m.id) for m in self._members(s, readers)]
                    entry.updated_at = _now()
                    s.flush()
                    self._audit(s, p, "dataset.update", f"dataset:{dataset_id}")
            except SAIntegrityError:
                raise IntegrityError("Another dataset of yours has this title; choose another title.") from None

    def get_dataset(self, token: str, dataset_id: int) -> dict[str, Any]:
        target = f"dataset:{_label(dataset_id)}"
        p = self._allow(token, "dataset.read", "read", target=target)
        with self._guard(p, "dataset.read", target):
            dataset_id = _int(dataset_id, "dataset_id", 1, _INT_MAX)
            with self._tx() as s:
                entry = s.scalar(select(Dataset).where(Dataset.id == dataset_id, self._visible(p)))
                if entry is None:
                    raise NotFound("No visible dataset with this id.")
                self._audit(s, p, "dataset.read", target)
                return _dataset_dict(entry, s)

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
        with self._guard(p, "dataset.search", text):
            text, column, run, location = (_query(v, what) for v, what in ((text, "text"), (column, "column"),
                                                                           (run, "run"), (location, "location")))
            tags = _tags(tags)
            owner = None if owner is None else _check_name(owner, "owner's member name")
            min_k, min_l, max_t, max_risk = (_real(v, what) for v, what in ((min_k, "min_k"), (min_l, "min_l"),
                                                                           (max_t, "max_t"), (max_risk, "max_risk")))
            min_rows, min_people = _count(min_rows, "min_rows"), _count(min_people, "min_people")
            derived_from = None if derived_from is None else _int(derived_from, "derived_from", 1, _INT_MAX)
            visibility = None if visibility is None else _visibility(visibility)
            for value, what in ((synthetic, "synthetic"), (has_bias, "has_bias")):
                if value is not None and not isinstance(value, bool):
                    raise IntegrityError(f"{what} must be True, False or None.")
            limit = _int(limit, "limit", 1, 10**9)
            query = select(Dataset).where(self._visible(p))
            if text:
                needle = text.lower()
                query = query.where(or_(func.lower(Dataset.title).contains(needle, autoescape=True),
                                        func.lower(Dataset.description).contains(needle, autoescape=True)))
            for tag in tags:
                query = query.where(Dataset.id.in_(select(DatasetTag.dataset_id).where(DatasetTag.tag == tag)))
            if owner:
                query = query.where(Dataset.owner_id.in_(select(Member.id).where(Member.name == owner)))
            for value, field, compare in ((synthetic, Dataset.synthetic, operator.eq),
                                          (min_k, Dataset.k, operator.ge), (min_l, Dataset.l, operator.ge),
                                          (max_t, Dataset.t, operator.le),
                                          (max_risk, Dataset.max_risk_upper, operator.le),
                                          (min_rows, Dataset.rows, operator.ge),
                                          (min_people, Dataset.people, operator.ge),
                                          (derived_from, Dataset.derived_from, operator.eq),
                                          (visibility, Dataset.visibility, operator.eq),
                                          (run, Dataset.run, operator.eq)):
                if value is not None:
                    query = query.where(compare(field, value))
            if location is not None:
                query = query.where(func.lower(Dataset.location).contains(location.lower(), autoescape=True))
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
    def _lake_visible(self, p: Principal):
        """Who sees a lake object: its owner, admins, and others its own visibility admits unless
        an entry or model version of the same owner with the same bytes is hidden from them."""
        if p.role == "admin":
            return true()
        readers = select(LakeReader.lake_object_id).where(LakeReader.member_id == p.member_id)
        own = or_(LakeObject.visibility == "all", LakeObject.id.in_(readers))
        hidden_entry = select(Dataset.id).where(Dataset.owner_id == LakeObject.owner_id,
                                                Dataset.lake_object == LakeObject.digest,
                                                not_(self._visible(p))).exists()
        version_readers = select(ModelVersionReader.version_id).where(ModelVersionReader.member_id == p.member_id)
        hidden_version = (select(ModelVersion.id).join(Model, Model.id == ModelVersion.model_id)
                          .where(Model.owner_id == LakeObject.owner_id, ModelVersion.lake_object == LakeObject.digest,
                                 ModelVersion.visibility != "all", ModelVersion.id.not_in(version_readers))
                          .exists())
        return or_(LakeObject.owner_id == p.member_id, and_(own, not_(hidden_entry), not_(hidden_version)))

    def lake_put(self, token: str, name: str, table: pd.DataFrame | str | Path, *, visibility: str = "all",
                 readers: Sequence[str] = (), owner: str | None = None) -> dict[str, Any]:
        """Store a (synthetic) table as Parquet under ``name`` in the caller's own namespace: a new
        version unless the latest version holds the same bytes with the same visibility and
        readers. ``owner``, when given, must be the caller: nobody (admins included) puts into
        another member's namespace."""
        p = self._allow(token, "lake.put", "write", ("admin", "producer"), name)
        with self._guard(p, "lake.put", name):
            name = _check_name(name, "lake name")
            if name.lower().startswith(RESERVED_LAKE_PREFIX):
                raise AccessDenied("Lake names starting with model/ are reserved for the model registry; choose "
                                   "another name.")
            if owner is not None and _check_name(owner, "owner's member name") != p.name:
                raise AccessDenied("A lake put goes into your own namespace; no member (admins included) puts "
                                   "into another member's. Leave owner out.")
            visibility = _visibility(visibility)
            readers = _names(readers, "readers")
            if isinstance(table, (str, Path)):
                from ..io import read_table

                try:
                    table = read_table(table)
                except BadInputError:
                    raise IntegrityError("lake put could not read the table file: give a readable, non-empty .csv "
                                         "or .parquet file.") from None
            if not isinstance(table, pd.DataFrame) or table.shape[1] == 0:
                raise IntegrityError("lake put takes a non-empty table (.csv, .parquet or a DataFrame).")
            try:
                data = ObjectStore.parquet_bytes(table)
            except Exception:  # noqa: BLE001 - pyarrow's messages may quote the data
                raise IntegrityError("The table could not be stored as Parquet (a column of mixed or unsupported "
                                     "types?); convert its columns first.") from None
            return self._put_object(p, name, data, visibility, readers)

    def _put_object(self, p: Principal, name: str, data: bytes, visibility: str,
                    readers: list[str]) -> dict[str, Any]:
        digest = self.store.put(data)
        for _ in range(20):  # concurrent puts of one name race for the next version number
            try:
                with self._tx() as s:
                    members = self._members(s, readers)
                    latest = s.scalar(select(LakeObject).where(LakeObject.owner_id == p.member_id,
                                                               LakeObject.name == name)
                                      .order_by(LakeObject.version.desc()).limit(1))
                    if latest is not None and latest.kind == "parquet" and latest.digest == digest and \
                            latest.visibility == visibility and \
                            {r.member_id for r in latest.readers} == {m.id for m in members}:
                        self._audit(s, p, "lake.put", f"{p.name}/{name}@{latest.version}")
                        return _lake_dict(latest, p.name)
                    row = LakeObject(name=name, version=(latest.version + 1) if latest else 1, digest=digest,
                                     size=len(data), kind="parquet", owner_id=p.member_id, visibility=visibility,
                                     created_at=_now())
                    row.readers = [LakeReader(member_id=m.id) for m in members]
                    s.add(row)
                    s.flush()
                    self._audit(s, p, "lake.put", f"{p.name}/{name}@{row.version}")
                    return _lake_dict(row, p.name)
            except SAIntegrityError:
                continue
        raise IntegrityError("Could not allocate a version number; retry.")

    def lake_get(self, token: str, name: str, version: int | None = None, owner: str | None = None) -> pd.DataFrame:
        """A version (default: the newest the caller may see) of ``owner``'s (default: the
        caller's) table ``name``, checksum-verified."""
        p = self._allow(token, "lake.get", "read", target=name)
        with self._guard(p, "lake.get", name):
            name = _check_name(name, "lake name")
            version = None if version is None else _int(version, "version", 1, _INT_MAX)
            owner = p.name if owner is None else _check_name(owner, "owner's member name")
            with self._tx() as s:
                query = (select(LakeObject).join(Member, Member.id == LakeObject.owner_id)
                         .where(Member.name == owner, LakeObject.name == name, LakeObject.kind == "parquet",
                                self._lake_visible(p)))
                query = query.where(LakeObject.version == version) if version is not None else \
                    query.order_by(LakeObject.version.desc()).limit(1)
                row = s.scalar(query)
                if row is None:
                    raise NotFound("No visible lake object with this owner, name and version; see `lake list`.")
            data = self.store.get(row.digest)
            with self._tx() as s:
                self._audit(s, p, "lake.get", f"{owner}/{name}@{row.version}")
        return pd.read_parquet(io.BytesIO(data))

    def lake_list(self, token: str) -> list[dict[str, Any]]:
        """The lake objects (tables) the caller may see, every visible version, with owners."""
        p = self._allow(token, "lake.list", "read")
        with self._guard(p, "lake.list", None):
            with self._tx() as s:
                rows = s.execute(select(LakeObject, Member.name).join(Member, Member.id == LakeObject.owner_id)
                                 .where(LakeObject.kind == "parquet", self._lake_visible(p))
                                 .order_by(Member.name, LakeObject.name, LakeObject.version)).all()
                self._audit(s, p, "lake.list", None)
        return [_lake_dict(r, owner) for r, owner in rows]

    # -- model registry ---------------------------------------------------------------------------
    @staticmethod
    def _sees(p: Principal, model: Model, v: ModelVersion) -> bool:
        return p.role == "admin" or model.owner_id == p.member_id or v.visibility == "all" or \
            any(r.member_id == p.member_id for r in v.readers)

    def _visible_versions(self, p: Principal, model: Model | None) -> list[ModelVersion]:
        return [] if model is None else [v for v in model.versions if self._sees(p, model, v)]

    def _version_for(self, s: Session, p: Principal, name: str, version: int | str | None) -> tuple[Model, ModelVersion]:
        """The model and the version of it the caller asks for, among those they may see."""
        model = s.scalar(select(Model).where(Model.name == name))
        visible = self._visible_versions(p, model)
        if not visible:
            raise NotFound("No visible model with this name.")
        return model, _resolve_version(model, visible, version)

    def publish_model(self, token: str, name: str, artifact: bytes | str | Path, *, metrics: dict | None = None,
                      lineage: dict | None = None, epsilon: float | None = None, delta: float | None = None,
                      membership_inference: dict | None = None, licence: str | None = None, description: str = "",
                      aliases: Sequence[str] = (), visibility: str = "all", readers: Sequence[str] = (),
                      access: str = "download") -> int:
        """A new version of model ``name`` (created, owned by the caller, when new); its number.
        ``visibility`` and ``readers`` apply to this version only; ``licence`` and
        ``description`` are the model's, set when it is created. ``access="sample"`` (a
        synthetic-data generator's file from ``secured.synth``) lets the members who see the
        version sample rows from it through the hub (:meth:`sample_model`) but not download it."""
        p = self._allow(token, "model.publish", "write", target=name)
        with self._guard(p, "model.publish", name):
            name = _check_name(name, "model name")
            artifact = _artifact(artifact)
            visibility = _visibility(visibility)
            readers = _names(readers, "readers")
            epsilon = _real(epsilon, "epsilon", 0.0)
            delta = _real(delta, "delta", 0.0, 1.0)
            metrics, lineage, membership_inference = (
                _json(v, what) for v, what in ((metrics, "metrics"), (lineage, "lineage"),
                                               (membership_inference, "membership_inference")))
            licence = None if licence is None else _check_text(licence, "licence", 200)
            description = _free_text(description, "description")
            aliases = [_check_name(a, "alias", 100) for a in _sequence(aliases, "aliases")]
            if access not in ("download", "sample"):
                raise IntegrityError("access must be 'download' or 'sample'.")
            if access == "sample":
                _generator(artifact)          # refused unless it is a generator the hub can sample
            digest = self.store.put(artifact)
            for _ in range(20):
                try:
                    with self._tx() as s:
                        members = self._members(s, readers)
                        model = s.scalar(select(Model).where(Model.name == name))
                        if model is None:
                            model = Model(name=name, owner_id=p.member_id, description=description,
                                          licence=licence, created_at=_now())
                            s.add(model)
                            s.flush()
                        elif model.owner_id != p.member_id:
                            raise AccessDenied("The model belongs to another member; choose another name.")
                        version = max((v.version for v in model.versions), default=0) + 1
                        entry = ModelVersion(model_id=model.id, version=version, lake_object=digest,
                                             metrics=metrics or {}, lineage=lineage or {}, epsilon=epsilon,
                                             delta=delta, membership_inference=membership_inference,
                                             visibility=visibility, access=access, created_at=_now())
                        entry.readers = [ModelVersionReader(member_id=m.id) for m in members]
                        stored = LakeObject(name=f"{RESERVED_LAKE_PREFIX}{name}", version=version, digest=digest,
                                            size=len(artifact), kind="artifact", owner_id=model.owner_id,
                                            visibility=visibility, created_at=_now())
                        stored.readers = [LakeReader(member_id=m.id) for m in members]
                        s.add_all([entry, stored])
                        for alias in dict.fromkeys(aliases):
                            s.merge(ModelAlias(model_id=model.id, alias=alias, version=version))
                        self._audit(s, p, "model.publish", f"{name}@{version}")
                        return version
                except SAIntegrityError:
                    continue
            raise IntegrityError("Could not allocate a model version; retry.")

    def show_model(self, token: str, name: str) -> dict[str, Any]:
        """The model with the versions the caller may see (and the aliases pointing at them)."""
        p = self._allow(token, "model.read", "read", target=name)
        with self._guard(p, "model.read", name):
            name = _check_name(name, "model name")
            with self._tx() as s:
                model = s.scalar(select(Model).where(Model.name == name))
                visible = self._visible_versions(p, model)
                if not visible:
                    raise NotFound("No visible model with this name.")
                self._audit(s, p, "model.read", name)
                return _model_dict(model, visible, s)

    def list_models(self, token: str) -> list[dict[str, Any]]:
        """Models with at least one version the caller may see, with those versions only."""
        p = self._allow(token, "model.list", "read")
        with self._guard(p, "model.list", None):
            with self._tx() as s:
                out = []
                for model in s.scalars(select(Model).order_by(Model.name)).all():
                    visible = self._visible_versions(p, model)
                    if visible:
                        out.append(_model_dict(model, visible, s))
                self._audit(s, p, "model.list", None)
        return out

    # -- federation runs --------------------------------------------------------------------------
    def record_federation_run(self, token: str, name: str, *, strategy: str, status: str, rounds_planned: int,
                              rounds_completed: int, participants: Sequence[str], records: Sequence[dict],
                              epsilon: float | None = None, delta: float | None = None,
                              visibility: str = "members", readers: Sequence[str] = ()) -> int:
        """Create or update the caller's run ``name`` (one row per owner and name) after a
        round; its id. Visibility 'members': its owner, admins and ``readers``."""
        p = self._allow(token, "federation.record", "write", target=name)
        with self._guard(p, "federation.record", name):
            name = _check_name(name, "run name")
            strategy = _check_text(strategy, "strategy", 100)
            if status not in ("running", "failed", "completed"):
                raise IntegrityError("status must be 'running', 'failed' or 'completed'.")
            for what, value in (("rounds_planned", rounds_planned), ("rounds_completed", rounds_completed)):
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise IntegrityError(f"{what} must be a non-negative int.")
            if rounds_completed > rounds_planned:
                raise IntegrityError("rounds_completed cannot exceed rounds_planned.")
            participants = [_check_text(x, "participant", 200) for x in _sequence(participants, "participants")]
            if not isinstance(records, (list, tuple)):
                raise IntegrityError("records must be a list of per-round mappings.")
            records = _json(list(records), "records", mapping=False)
            epsilon = _real(epsilon, "epsilon", 0.0)
            delta = _real(delta, "delta", 0.0, 1.0)
            visibility = _visibility(visibility)
            readers = _names(readers, "readers")
            with self._tx() as s:
                reader_ids = [m.id for m in self._members(s, readers)]
                run = s.scalar(select(FederationRun).where(FederationRun.owner_id == p.member_id,
                                                           FederationRun.name == name))
                now = _now()
                if run is None:
                    run = FederationRun(name=name, owner_id=p.member_id, created_at=now)
                    s.add(run)
                run.strategy, run.status = strategy, status
                run.rounds_planned, run.rounds_completed = rounds_planned, rounds_completed
                run.participants, run.records = participants, records
                run.epsilon, run.delta, run.visibility, run.readers = epsilon, delta, visibility, reader_ids
                run.updated_at = now
                s.flush()
                self._audit(s, p, "federation.record", name)
                return run.id

    @staticmethod
    def _sees_run(p: Principal, run: FederationRun) -> bool:
        return p.role == "admin" or run.owner_id == p.member_id or run.visibility == "all" or \
            p.member_id in (run.readers or [])

    def show_federation_run(self, token: str, name: str, owner: str | None = None) -> dict[str, Any]:
        """A run the caller may see (``owner``: whose run, default the caller's or the only
        visible one of that name)."""
        p = self._allow(token, "federation.read", "read", target=name)
        with self._guard(p, "federation.read", name):
            name = _check_name(name, "run name")
            with self._tx() as s:
                query = select(FederationRun, Member.name).join(Member, Member.id == FederationRun.owner_id).where(
                    FederationRun.name == name)
                if owner is not None:
                    query = query.where(Member.name == _check_name(owner, "member name"))
                rows = [(r, o) for r, o in s.execute(query).all() if self._sees_run(p, r)]
                mine = [(r, o) for r, o in rows if r.owner_id == p.member_id]
                rows = mine or rows
                if len(rows) != 1:
                    raise NotFound("No visible run with this name (give owner= when several members use it).")
                self._audit(s, p, "federation.read", name)
                return _run_dict(*rows[0])

    def list_federation_runs(self, token: str) -> list[dict[str, Any]]:
        """The runs the caller may see (without their per-round records)."""
        p = self._allow(token, "federation.list", "read")
        with self._guard(p, "federation.list", None):
            with self._tx() as s:
                rows = s.execute(select(FederationRun, Member.name).join(Member, Member.id == FederationRun.owner_id)
                                 .order_by(FederationRun.name)).all()
                out = [{k: v for k, v in _run_dict(r, o).items() if k != "records"} for r, o in rows
                       if self._sees_run(p, r)]
                self._audit(s, p, "federation.list", None)
        return out

    def download_model(self, token: str, name: str, version: int | str | None = None) -> bytes:
        """The artifact of a version (a number, an alias, or the newest the caller may see),
        checksum-verified. An invisible version, or an alias pointing at one, is refused."""
        p = self._allow(token, "model.download", "read", target=name)
        with self._guard(p, "model.download", name):
            name = _check_name(name, "model name")
            version = _version_ref(version)
            with self._tx() as s:
                model, chosen = self._version_for(s, p, name, version)
                if chosen.access == "sample" and p.role != "admin" and model.owner_id != p.member_id:
                    raise AccessDenied("This version is published for sampling only; sample rows from it with "
                                       "sample_model (`secured hub model sample`).")
                number, digest = chosen.version, chosen.lake_object
            data = self.store.get(digest)
            with self._tx() as s:
                self._audit(s, p, "model.download", f"{name}@{number}")
        return data

    def _loaded_generator(self, digest: str) -> tuple[Any, Any]:
        """The generator stored under ``digest``, loaded once per hub (the 8 most recent kept),
        with a lock so one generator samples for one caller at a time."""
        import threading

        cache = self.__dict__.setdefault("_generators", {})
        if digest not in cache:
            generator = _generator(self.store.get(digest))
            while len(cache) >= 8:
                cache.pop(next(iter(cache)))
            cache[digest] = (generator, threading.Lock())
        return cache[digest]

    def sample_model(self, token: str, name: str, n: int, *, version: int | str | None = None,
                     conditions: Mapping[str, Any] | None = None, seed: int | None = None) -> pd.DataFrame:
        """``n`` rows sampled by the hub from a published synthetic-data generator the caller may
        see (any access): the caller gets rows, never the generator or its training rows."""
        p = self._allow(token, "model.sample", "read", target=name)
        with self._guard(p, "model.sample", name):
            name = _check_name(name, "model name")
            version = _version_ref(version)
            n = _int(n, "n", 1, 1_000_000)
            seed = None if seed is None else _int(seed, "seed", 0, _INT_MAX)
            if conditions is not None and not isinstance(conditions, Mapping):
                raise IntegrityError("conditions must be a mapping {column: value}.")
            with self._tx() as s:
                _, chosen = self._version_for(s, p, name, version)
                number, digest = chosen.version, chosen.lake_object
            generator, lock = self._loaded_generator(digest)
            try:
                with lock:
                    rows = generator.sample(n, conditions=dict(conditions) if conditions else None, seed=seed)
            except (BadInputError, ConfigurationError) as exc:
                raise IntegrityError(f"The sample request was refused: {exc}") from None
            with self._tx() as s:
                self._audit(s, p, "model.sample", f"{name}@{number}")
        return rows


    # -- jobs -------------------------------------------------------------------------------------
    # Long work submitted over HTTP. A member submits (write scope) and sees, cancels and deletes
    # its own jobs (admins: every job); the service's workers take queued jobs with claim_job and
    # hold them by heartbeat. Uploaded inputs are removed from the store once the job ends
    # (unless something else in the catalogue holds the same bytes).
    def submit_job(self, token: str, kind: str, params: Mapping[str, Any] | None = None,
                   inputs: Mapping[str, bytes] | None = None, *, participants: Sequence[str] | None = None) -> str:
        """A queued job of ``kind`` with JSON ``params`` and input files (name -> bytes); its id.
        With ``participants`` (member names) the job is 'open': each participant adds one input
        of its own (``add_job_input``, e.g. a federated round's update) and the owner queues it
        with ``release_job``."""
        p = self._allow(token, "job.submit", "write", target=kind)
        with self._guard(p, "job.submit", kind):
            kind = _check_name(kind, "job kind", 40)
            params = _json(dict(params or {}), "params") or {}
            inputs = dict(inputs or {})
            if not all(isinstance(v, (bytes, bytearray)) for v in inputs.values()):
                raise IntegrityError("A job's inputs map names to file bytes.")
            names = {_check_name(n, "input name", 40): bytes(v) for n, v in inputs.items()}
            if participants is not None:
                participants = _names(participants, "participants")
                if not participants:
                    raise IntegrityError("An open job needs at least one participant.")
                params = {**params, "participants": participants}
            digests = {n: self.store.put(v) for n, v in names.items()}
            job_id = secrets.token_hex(16)
            with self._tx() as s:
                if participants is not None:
                    self._members(s, participants)
                now = _now()
                state = "queued" if participants is None else "open"
                s.add(Job(id=job_id, owner_id=p.member_id, kind=kind, state=state, params=params, inputs=digests,
                          progress={}, outputs={}, attempts=0, cancel_requested=False, created_at=now,
                          updated_at=now))
                self._audit(s, p, "job.submit", f"{kind}:{job_id}")
        return job_id

    def _own_job(self, s: Session, p: Principal, job_id: Any, participants: bool = False) -> Job:
        """The job when the caller owns it (or is an admin; or, with ``participants``, is one
        of its participants); NotFound otherwise."""
        if not isinstance(job_id, str) or not _JOB_ID.fullmatch(job_id):
            raise NotFound("No job with this id (job ids are 32 hex digits).")
        job = s.get(Job, job_id)
        if job is None or (job.owner_id != p.member_id and p.role != "admin" and not (
                participants and p.name in (job.params or {}).get("participants", []))):
            raise NotFound("No job with this id.")
        return job

    def add_job_input(self, token: str, job_id: str, data: bytes) -> str:
        """A participant's one input to an open job (stored as ``<prefix>_<member>``, the prefix
        given by the job's ``params["input_prefix"]``, default 'update'); its name. A second
        input from the same member, or an input to a job that is no longer open, is refused."""
        p = self._allow(token, "job.contribute", "write", target=job_id)
        with self._guard(p, "job.contribute", job_id):
            if not isinstance(data, (bytes, bytearray)) or not data:
                raise IntegrityError("An input is the non-empty bytes of a file.")
            digest = self.store.put(bytes(data))
            with self._tx() as s:
                job = self._own_job(s, p, job_id, participants=True)
                if p.name not in (job.params or {}).get("participants", []):
                    raise AccessDenied("Only the job's participants add inputs to it.")
                if job.state != "open":
                    raise StateConflict(f"The job is {job.state}; inputs are added while it is open.")
                name = f"{(job.params or {}).get('input_prefix', 'update')}_{p.name}"
                if name in job.inputs:
                    raise StateConflict("You already added your input to this job; each participant adds one.")
                job.inputs = {**job.inputs, name: digest}
                job.updated_at = _now()
                self._audit(s, p, "job.contribute", f"{job_id}/{p.name}")
            return name

    def release_job(self, token: str, job_id: str, min_inputs: int = 1) -> dict[str, Any]:
        """Queue an open job (its owner) once at least ``min_inputs`` participants added theirs."""
        p = self._allow(token, "job.release", "write", target=job_id)
        with self._guard(p, "job.release", job_id):
            min_inputs = _int(min_inputs, "min_inputs", 0, 10_000)
            with self._tx() as s:
                job = self._own_job(s, p, job_id)
                if job.state != "open":
                    raise StateConflict(f"The job is {job.state}; only an open job is released.")
                prefix = f"{(job.params or {}).get('input_prefix', 'update')}_"
                given = sum(1 for n in job.inputs if n.startswith(prefix))
                if given < min_inputs:
                    raise StateConflict(f"{given} of the {len(job.params.get('participants', []))} participants "
                                        f"added their input; {min_inputs} are needed.")
                job.state, job.updated_at = "queued", _now()
                self._audit(s, p, "job.release", job_id)
                return _job_dict(job, s.get(Member, job.owner_id).name)

    def get_job(self, token: str, job_id: str) -> dict[str, Any]:
        """A job of the caller (any job for admins): state, progress, result, outputs, error."""
        p = self._allow(token, "job.read", "read", target=job_id)
        with self._guard(p, "job.read", job_id):
            with self._tx() as s:
                job = self._own_job(s, p, job_id, participants=True)
                self._audit(s, p, "job.read", job_id)
                return _job_dict(job, s.get(Member, job.owner_id).name)

    def job_state(self, job_id: str) -> str | None:
        """A job's state, unaudited and without a token: for a server's long poll between two
        audited ``get_job`` calls of the same caller (None when there is no such job)."""
        if not isinstance(job_id, str) or not _JOB_ID.fullmatch(job_id):
            return None
        with self._tx(readonly=True) as s:
            return s.scalar(select(Job.state).where(Job.id == job_id))

    def pending_jobs(self, stale_after: float = 30.0) -> bool:
        """Whether a job is waiting to be taken (queued, or running with a stale heartbeat)."""
        stale = _now() - timedelta(seconds=stale_after)
        with self._tx(readonly=True) as s:
            return s.scalar(select(Job.id).where(or_(Job.state == "queued", and_(Job.state == "running",
                                                                                  Job.heartbeat_at < stale)))
                            .limit(1)) is not None

    def list_jobs(self, token: str, state: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """The caller's jobs (every member's for admins), newest first."""
        p = self._allow(token, "job.list", "read")
        with self._guard(p, "job.list", state):
            if state is not None and state not in JOB_STATES:
                raise IntegrityError(f"state must be one of {', '.join(JOB_STATES)}.")
            limit = _int(limit, "limit", 1, 10_000)
            with self._tx() as s:
                query = select(Job, Member.name).join(Member, Member.id == Job.owner_id)
                if p.role != "admin":
                    query = query.where(Job.owner_id == p.member_id)
                if state is not None:
                    query = query.where(Job.state == state)
                rows = s.execute(query.order_by(Job.created_at.desc(), Job.id).limit(limit)).all()
                self._audit(s, p, "job.list", state)
                return [_job_dict(j, owner) for j, owner in rows]

    def cancel_job(self, token: str, job_id: str) -> dict[str, Any]:
        """Cancel a queued job at once, or ask the worker of a running job to stop at its next
        step; a finished job is refused (StateConflict)."""
        p = self._allow(token, "job.cancel", "write", target=job_id)
        with self._guard(p, "job.cancel", job_id):
            with self._tx() as s:
                job = self._own_job(s, p, job_id)
                if job.state not in ("open", "queued", "running"):
                    raise StateConflict("The job has already finished; there is nothing to cancel.")
                now = _now()
                if job.state in ("open", "queued"):
                    job.state, job.finished_at = "cancelled", now
                job.cancel_requested, job.updated_at = True, now
                self._audit(s, p, "job.cancel", job_id)
                out = _job_dict(job, s.get(Member, job.owner_id).name)
                done = job.state == "cancelled"
            if done:
                self._purge_inputs(job_id)
            return out

    def delete_job(self, token: str, job_id: str) -> None:
        """Remove a finished job and its output files (cancel a running one first)."""
        p = self._allow(token, "job.delete", "write", target=job_id)
        with self._guard(p, "job.delete", job_id):
            with self._tx() as s:
                job = self._own_job(s, p, job_id)
                if job.state in ("open", "queued", "running"):
                    raise StateConflict("The job has not finished; cancel it first.")
                digests = [*job.inputs.values(), *(o["sha256"] for o in job.outputs.values())]
                s.delete(job)
                self._audit(s, p, "job.delete", job_id)
            self._remove_unreferenced(digests)

    def job_output(self, token: str, job_id: str, name: str) -> tuple[bytes, str]:
        """An output file of a finished job of the caller, and its media type."""
        p = self._allow(token, "job.download", "read", target=job_id)
        with self._guard(p, "job.download", job_id):
            with self._tx() as s:
                job = self._own_job(s, p, job_id, participants=True)
                if job.state != "succeeded":
                    raise StateConflict(f"The job is {job.state}; outputs exist once it has succeeded.")
                if not isinstance(name, str) or name not in job.outputs:
                    raise NotFound(f"The job has no such output; it has: {', '.join(sorted(job.outputs))}.")
                entry = dict(job.outputs[name])
            data = self.store.get(entry["sha256"])
            with self._tx() as s:
                self._audit(s, p, "job.download", f"{job_id}/{name}")
            return data, entry["media_type"]

    # The service's side of a job (no token: the workers are the hub's own processes).
    def claim_job(self, worker: str, *, stale_after: float = 30.0, max_attempts: int = 3) -> dict[str, Any] | None:
        """Take the oldest queued job, or a running one whose worker stopped sending heartbeats
        for ``stale_after`` seconds (it is run again; past ``max_attempts`` tries it fails).
        Returns the job (``id``, ``kind``, ``params``, ``inputs`` as sha256s) or None."""
        for _ in range(20):
            now = _now()
            stale = now - timedelta(seconds=stale_after)
            with self._tx() as s:
                job = s.scalar(select(Job).where(or_(Job.state == "queued",
                                                     and_(Job.state == "running", Job.heartbeat_at < stale)))
                               .order_by(Job.created_at, Job.id).limit(1))
                if job is None:
                    return None
                seen = (job.state, job.worker, job.attempts)
                if job.state == "running" and (job.attempts >= max_attempts or job.cancel_requested):
                    values = dict(state="cancelled" if job.cancel_requested else "failed", finished_at=now,
                                  updated_at=now, worker=None,
                                  error=None if job.cancel_requested else
                                  f"The job's worker stopped {job.attempts} times; the job was given up. Resubmit "
                                  "it, with smaller inputs if a worker ran out of memory.")
                    claimed = None
                else:
                    values = dict(state="running", worker=worker, heartbeat_at=now, updated_at=now,
                                  attempts=job.attempts + 1)
                    claimed = {"id": job.id, "kind": job.kind, "params": dict(job.params),
                               "inputs": dict(job.inputs), "attempt": job.attempts + 1}
                changed = s.execute(update(Job).where(Job.id == job.id, Job.state == seen[0],
                                                      Job.attempts == seen[2],
                                                      (Job.worker == seen[1]) if seen[1] else Job.worker.is_(None))
                                    .values(**values)).rowcount
            if changed == 1 and claimed is not None:
                return claimed
            if changed == 1:
                self._purge_inputs(job.id)
        return None

    def job_heartbeat(self, job_id: str, worker: str, progress: Mapping[str, Any] | None = None) -> str:
        """Refresh a held job (and its progress): 'ok', 'cancel' (stop: the owner cancelled)
        or 'lost' (another worker holds it now; stop without storing anything)."""
        values: dict[str, Any] = {"heartbeat_at": _now(), "updated_at": _now()}
        if progress is not None:
            values["progress"] = _json(dict(progress), "progress")
        with self._tx() as s:
            changed = s.execute(update(Job).where(Job.id == job_id, Job.worker == worker, Job.state == "running")
                                .values(**values)).rowcount
            if not changed:
                return "lost"
            return "cancel" if s.scalar(select(Job.cancel_requested).where(Job.id == job_id)) else "ok"

    def finish_job(self, job_id: str, worker: str, *, result: Mapping[str, Any] | None = None,
                   outputs: Mapping[str, tuple[bytes, str]] | None = None, error: str | None = None,
                   cancelled: bool = False, progress: Mapping[str, Any] | None = None) -> bool:
        """Store a job's end (result and output files, or an error, or its cancellation) when
        ``worker`` still holds it; False (nothing stored) when it does not."""
        stored = {name: {"sha256": self.store.put(data), "size": len(data), "media_type": media}
                  for name, (data, media) in (outputs or {}).items()}
        now = _now()
        state = "cancelled" if cancelled else "failed" if error is not None else "succeeded"
        with self._tx() as s:
            changed = s.execute(update(Job).where(Job.id == job_id, Job.worker == worker, Job.state == "running")
                                .values(state=state, result=_json(dict(result), "result") if result else None,
                                        outputs=stored, error=None if error is None else _clip(error, 1000),
                                        finished_at=now, updated_at=now,
                                        **({"progress": _json(dict(progress), "progress")} if progress else {})
                                        )).rowcount
        if changed:
            self._purge_inputs(job_id)
        else:
            self._remove_unreferenced([o["sha256"] for o in stored.values()])
        return bool(changed)

    def _purge_inputs(self, job_id: str) -> None:
        with self._tx() as s:
            job = s.get(Job, job_id)
            digests = list(job.inputs.values()) if job is not None else []
            if job is not None:
                job.inputs = {k: None for k in job.inputs}       # names kept, bytes gone
        self._remove_unreferenced(digests)

    def _remove_unreferenced(self, digests: Sequence[str]) -> None:
        """Delete objects no lake object, dataset, model version or job refers to any more."""
        digests = {d for d in digests if d}
        if not digests:
            return
        with self._tx() as s:
            held = set(s.scalars(select(LakeObject.digest).where(LakeObject.digest.in_(digests))))
            held |= set(s.scalars(select(ModelVersion.lake_object).where(ModelVersion.lake_object.in_(digests))))
            held |= set(s.scalars(select(Dataset.lake_object).where(Dataset.lake_object.in_(digests))))
            for inputs, outputs in s.execute(select(Job.inputs, Job.outputs)).all():
                held |= {d for d in (inputs or {}).values() if d in digests}
                held |= {o["sha256"] for o in (outputs or {}).values() if o["sha256"] in digests}
        for digest in digests - held:
            self.store.delete(digest)


# -- validation and views -------------------------------------------------------------------------

def _check_name(name: Any, what: str, limit: int = 200) -> str:
    """An identifier: NFC, ASCII letters, digits, single spaces and . _ / : @ -, starting with a
    letter or digit, not ending with a space, 1-``limit`` characters."""
    if isinstance(name, str):
        name = unicodedata.normalize("NFC", name)
        if len(name) <= limit and _NAME.fullmatch(name) and not name.endswith(" ") and "  " not in name:
            return name
    raise IntegrityError(f"The {what} must be 1-{limit} characters: ASCII letters, digits, single spaces and "
                         ". _ / : @ -, starting with a letter or digit and not ending with a space.")


def _check_text(value: Any, what: str, limit: int) -> str:
    """A title, tag or label: NFC text, no control/format/line-break characters, no spaces
    other than U+0020, none leading, trailing or repeated, 1-``limit`` characters."""
    if isinstance(value, str):
        value = unicodedata.normalize("NFC", value)
        if 0 < len(value) <= limit and value[0] != " " and value[-1] != " " and "  " not in value and not any(
                unicodedata.category(c) in _UNPRINTABLE or (unicodedata.category(c) == "Zs" and c != " ")
                for c in value):
            return value
    raise IntegrityError(f"The {what} must be text of 1-{limit} characters without control characters or line "
                         "breaks, and without leading, trailing or repeated spaces.")


def _free_text(value: Any, what: str, limit: int = 100_000) -> str:
    """Free text (descriptions): NFC, at most ``limit`` characters, no NUL or lone surrogate."""
    if isinstance(value, str):
        value = unicodedata.normalize("NFC", value)
        if len(value) <= limit and "\x00" not in value and not any(unicodedata.category(c) == "Cs" for c in value):
            return value
    raise IntegrityError(f"The {what} must be text of at most {limit} characters (no NUL characters).")


def _query(value: Any, what: str) -> str | None:
    """A search filter's text."""
    if value is None:
        return None
    return _free_text(value, f"{what} filter", 1000)


def _sequence(values: Any, what: str) -> list[Any]:
    if values is None:
        return []
    if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, (list, tuple, set, frozenset)):
        raise IntegrityError(f"{what} must be a list (not a single string).")
    return list(values)


def _names(values: Any, what: str) -> list[str]:
    return sorted({_check_name(x, "member name") for x in _sequence(values, what)})


def _tags(tags: Any) -> list[str]:
    return sorted({_check_text(x, "tag", 100) for x in _sequence(tags, "tags")})


def _visibility(value: Any) -> str:
    if not isinstance(value, str) or value not in VISIBILITIES:
        raise IntegrityError("visibility must be 'all' or 'members'.")
    return value


def _scopes(scopes: Any) -> list[str]:
    values = _sequence(scopes, "scopes")
    if not values or not all(isinstance(x, str) and x in SCOPES for x in values):
        raise IntegrityError(f"Scopes must be a non-empty list drawn from {', '.join(SCOPES)}.")
    return sorted(set(values))


def _days(value: Any) -> float | None | str:
    if value is None or (isinstance(value, str) and value == "default"):
        return value
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(float(value)) or \
            not 0 < float(value) <= MAX_TOKEN_DAYS:
        raise IntegrityError(f"expires_in_days must be a number of days above 0 and at most {MAX_TOKEN_DAYS} "
                             "(or None for no expiry).")
    return float(value)


def _int(value: Any, what: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or not low <= int(value) <= high:
        raise IntegrityError(f"{what} must be a whole number from {low} to {high}.")
    return int(value)


def _count(value: Any, what: str) -> int | None:
    return None if value is None else _int(value, what, 0, _BIGINT_MAX)


def _real(value: Any, what: str, low: float | None = None, high: float | None = None) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(float(value)) or \
            (low is not None and float(value) < low) or (high is not None and float(value) > high):
        bounds = "" if low is None else (f" from {low:g}" + ("" if high is None else f" to {high:g}"))
        raise IntegrityError(f"{what} must be a finite number{bounds}.")
    return float(value)


def _no_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" not in value
    if isinstance(value, dict):
        return all(_no_nul(k) and _no_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_no_nul(v) for v in value)
    return True


def _json(value: Any, what: str, mapping: bool = True) -> Any:
    """``value`` as plain JSON (a mapping unless ``mapping`` is False), or None."""
    if value is None:
        return None
    if mapping and not isinstance(value, Mapping):
        raise IntegrityError(f"{what} must be a mapping.")
    try:
        text = json.dumps(value, allow_nan=False, ensure_ascii=False)
        text.encode("utf-8")
        plain = json.loads(text)
    except (TypeError, ValueError, RecursionError):
        plain = None
    if plain is None or not _no_nul(plain):
        raise IntegrityError(f"{what} must hold only JSON values: text, finite numbers, true/false, null, lists and "
                             "mappings with text keys.")
    return plain


def _artifact(artifact: Any) -> bytes:
    if isinstance(artifact, (str, Path)):
        path = Path(artifact)
        try:
            artifact = path.read_bytes() if path.is_file() else None
        except OSError:
            artifact = None
        if artifact is None:
            raise IntegrityError("No readable model artifact file at the given path.")
    if isinstance(artifact, (bytearray, memoryview)):
        artifact = bytes(artifact)
    if not isinstance(artifact, bytes) or not artifact:
        raise IntegrityError("A model artifact must be a non-empty file or bytes.")
    return artifact


def _generator(artifact: bytes) -> Any:
    """The synthetic-data generator in an artifact (JSON, never unpickled), or IntegrityError."""
    from ..synth import loads

    try:
        return loads(artifact)
    except (BadInputError, ConfigurationError):
        raise IntegrityError("The artifact is not a synthetic-data generator file from secured.synth (save/fit "
                             "--out); only those can be sampled through the hub.") from None


def _version_ref(version: Any) -> int | str | None:
    """None (latest), a version number, or an alias."""
    if version is None:
        return None
    if isinstance(version, str) and version.isascii() and version.isdigit():
        version = int(version) if len(version) <= 10 else -1
    if isinstance(version, str):
        return _check_name(version, "alias", 100)
    return _int(version, "version", 1, _INT_MAX)


_FIELDS = ("title", "schema", "description", "rows", "people", "location", "anonymization", "k", "l", "t", "risks",
           "max_risk_upper", "bias", "synthetic", "run", "lake_object", "visibility")


def _schema(schema: Any) -> list[dict[str, str]]:
    if not isinstance(schema, (list, tuple)) or not schema or not all(
            isinstance(c, Mapping) and set(c) <= {"name", "type", "description"} and isinstance(c.get("name"), str)
            and c["name"] and isinstance(c.get("type"), str) and c["type"]
            and isinstance(c.get("description", ""), str) for c in schema):
        raise IntegrityError("Malformed schema: give a non-empty list of {'name': ..., 'type': ...} columns.")
    names = [c["name"] for c in schema]
    if len(set(names)) != len(names):
        raise IntegrityError("Malformed schema: column names repeat.")
    try:
        return _json([dict(c) for c in schema], "schema", mapping=False)
    except IntegrityError:
        raise IntegrityError("Malformed schema: column names, types and descriptions must be plain text.") from None


def _dataset_fields(f: dict[str, Any], *, partial: bool = False) -> dict[str, Any]:
    """The checked, normalized fields (all of them, or only those given when ``partial``)."""
    unknown = set(f) - set(_FIELDS)
    if unknown:
        raise IntegrityError(f"Unknown dataset field; the fields are {', '.join(_FIELDS)}, tags and readers.")
    if not partial:
        f = {key: f.get(key) for key in _FIELDS}
    out: dict[str, Any] = {}
    for key, value in f.items():
        if key == "title":
            out[key] = _check_text(value, "dataset title", 300)
        elif key == "schema":
            out[key] = _schema(value)
        elif key == "description":
            out[key] = _free_text("" if value is None else value, "description")
        elif key in ("rows", "people"):
            out[key] = _count(value, key)
        elif key == "location":
            out[key] = None if value is None else _check_text(value, "location", 1000)
        elif key == "run":
            out[key] = None if value is None else _check_text(value, "run id", 200)
        elif key in ("anonymization", "risks", "bias"):
            out[key] = _json(value, key)
        elif key in ("k", "l", "t", "max_risk_upper"):
            out[key] = _real(value, key)
        elif key == "synthetic":
            if not isinstance(value, bool):
                raise IntegrityError("synthetic must be True or False.")
            out[key] = value
        elif key == "lake_object":
            if value is not None and not (isinstance(value, str) and _DIGEST.fullmatch(value)):
                raise IntegrityError("lake_object must be the sha256 of a lake object (64 lowercase hex digits, as "
                                     "lake put and lake list report it).")
            out[key] = value
        elif key == "visibility":
            out[key] = _visibility(value)
    return out


def _dataset_dict(d: Dataset, s: Session) -> dict[str, Any]:
    owner = s.get(Member, d.owner_id)
    return {"id": d.id, "owner": owner.name if owner else None, "title": d.title, "description": d.description,
            "schema": d.schema, "rows": d.rows, "people": d.people, "location": d.location,
            "anonymization": d.anonymization, "k": d.k, "l": d.l, "t": d.t, "risks": d.risks,
            "max_risk_upper": d.max_risk_upper, "bias": d.bias, "synthetic": d.synthetic,
            "derived_from": d.derived_from, "run": d.run, "lake_object": d.lake_object,
            "tags": sorted(x.tag for x in d.tags), "visibility": d.visibility,
            "created_at": _iso(d.created_at), "updated_at": _iso(d.updated_at)}


def _lake_dict(r: LakeObject, owner: str) -> dict[str, Any]:
    return {"owner": owner, "name": r.name, "version": r.version, "sha256": r.digest, "bytes": r.size,
            "kind": r.kind, "visibility": r.visibility, "created_at": _iso(r.created_at)}


def _job_dict(j: Job, owner: str) -> dict[str, Any]:
    return {"id": j.id, "kind": j.kind, "owner": owner, "state": j.state, "params": j.params,
            "progress": j.progress or {}, "result": j.result, "error": j.error, "attempts": j.attempts,
            "cancel_requested": bool(j.cancel_requested),
            "outputs": {k: {"size": v["size"], "media_type": v["media_type"]} for k, v in (j.outputs or {}).items()},
            "created_at": _iso(j.created_at), "updated_at": _iso(j.updated_at), "finished_at": _iso(j.finished_at)}


def _run_dict(r: FederationRun, owner: str) -> dict[str, Any]:
    return {"id": r.id, "name": r.name, "owner": owner, "strategy": r.strategy, "status": r.status,
            "rounds_planned": r.rounds_planned, "rounds_completed": r.rounds_completed,
            "participants": list(r.participants or []), "records": list(r.records or []), "epsilon": r.epsilon,
            "delta": r.delta, "visibility": r.visibility, "created_at": r.created_at.isoformat(),
            "updated_at": r.updated_at.isoformat()}


def _model_dict(m: Model, visible: list[ModelVersion], s: Session) -> dict[str, Any]:
    owner = s.get(Member, m.owner_id)
    numbers = {v.version for v in visible}
    return {"name": m.name, "owner": owner.name if owner else None, "description": m.description,
            "licence": m.licence, "aliases": {a.alias: a.version for a in m.aliases if a.version in numbers},
            "versions": [{"version": v.version, "sha256": v.lake_object, "metrics": v.metrics, "lineage": v.lineage,
                          "epsilon": v.epsilon, "delta": v.delta, "membership_inference": v.membership_inference,
                          "visibility": v.visibility, "access": v.access, "created_at": _iso(v.created_at)}
                         for v in visible]}


def _resolve_version(model: Model, visible: list[ModelVersion], version: int | str | None) -> ModelVersion:
    by_number = {v.version: v for v in visible}
    if version is None:
        return by_number[max(by_number)]
    if isinstance(version, str):
        number = next((a.version for a in model.aliases if a.alias == version), None)
        if number not in by_number:
            raise NotFound("The model has no alias with this name pointing at a version you may see.")
        return by_number[number]
    if version not in by_number:
        raise NotFound("The model has no version with this number that you may see.")
    return by_number[version]


def describe_table(df: pd.DataFrame, id_column: str | None = None) -> dict[str, Any]:
    """Schema, rows and people of a table, for ``register_dataset``."""
    if not isinstance(df, pd.DataFrame):
        raise ConfigurationError("describe_table takes a pandas DataFrame.")
    schema = [{"name": str(c), "type": str(t)} for c, t in df.dtypes.items()]
    people = int(df[id_column].nunique()) if id_column and id_column in df.columns else None
    return {"schema": schema, "rows": int(len(df)), "people": people}
