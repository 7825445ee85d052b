"""Tables of the knowledge base (SQLAlchemy 2 declarative). The Alembic migrations in
``secured/hub/migrations`` create exactly these; a test compares the two.

- ``tokens.parent_id`` is the token that created a token (None for the first admin's token and
  for tokens issued before migration 0002); revoking a token revokes its descendants.
- Lake objects are unique per (owner, name, version): every member has a namespace of its own.
  A lake object and a model version each carry a visibility ('all' or 'members') and readers.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (JSON, BigInteger, Boolean, DateTime, ForeignKey, Index, Integer, String, Text,
                        UniqueConstraint)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = ["ROLES", "SCOPES", "VISIBILITIES", "Base", "Member", "Token", "AuditEntry", "Dataset", "DatasetTag",
           "DatasetReader", "LakeObject", "LakeReader", "Model", "ModelVersion", "ModelAlias", "ModelVersionReader",
           "FederationRun", "Job", "JOB_STATES"]

ROLES = ("admin", "producer", "researcher")
SCOPES = ("read", "write", "admin")
VISIBILITIES = ("all", "members")
JOB_STATES = ("open", "queued", "running", "succeeded", "failed", "cancelled")


class Base(DeclarativeBase):
    pass


class Member(Base):
    __tablename__ = "members"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Token(Base):
    __tablename__ = "tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    scopes: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("tokens.id"), nullable=True)   # creating token
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    member: Mapped[Member] = relationship()
    __table_args__ = (Index("ix_tokens_parent_id", "parent_id"),)


class AuditEntry(Base):
    __tablename__ = "audit"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    member_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    token_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    action: Mapped[str] = mapped_column(String(60))
    target: Mapped[str | None] = mapped_column(String(300), nullable=True)
    allowed: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str | None] = mapped_column(String(300), nullable=True)


class Dataset(Base):
    __tablename__ = "datasets"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    schema: Mapped[list] = mapped_column(JSON)
    rows: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    people: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    location: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    anonymization: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    k: Mapped[float | None] = mapped_column(nullable=True)
    l: Mapped[float | None] = mapped_column(nullable=True)
    t: Mapped[float | None] = mapped_column(nullable=True)
    risks: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    max_risk_upper: Mapped[float | None] = mapped_column(nullable=True)
    bias: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    synthetic: Mapped[bool] = mapped_column(Boolean, default=False)
    derived_from: Mapped[int | None] = mapped_column(ForeignKey("datasets.id"), nullable=True)
    run: Mapped[str | None] = mapped_column(String(200), nullable=True)
    lake_object: Mapped[str | None] = mapped_column(String(64), nullable=True)
    visibility: Mapped[str] = mapped_column(String(10), default="all")   # 'all' or 'members'
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    owner: Mapped[Member] = relationship()
    tags: Mapped[list["DatasetTag"]] = relationship(cascade="all, delete-orphan", lazy="selectin")
    readers: Mapped[list["DatasetReader"]] = relationship(cascade="all, delete-orphan", lazy="selectin")
    __table_args__ = (UniqueConstraint("owner_id", "title", name="uq_dataset_owner_title"),
                      Index("ix_datasets_lake_object", "lake_object"))


class DatasetTag(Base):
    __tablename__ = "dataset_tags"
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(100), primary_key=True)
    __table_args__ = (Index("ix_dataset_tags_tag", "tag"),)


class DatasetReader(Base):
    __tablename__ = "dataset_readers"
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), primary_key=True)


class LakeObject(Base):
    __tablename__ = "lake_objects"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    version: Mapped[int] = mapped_column(Integer)
    digest: Mapped[str] = mapped_column(String(64))          # SHA-256 of the stored bytes
    size: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(20))            # 'parquet' or 'artifact'
    owner_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    visibility: Mapped[str] = mapped_column(String(10), default="all", server_default="all")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    readers: Mapped[list["LakeReader"]] = relationship(cascade="all, delete-orphan", lazy="selectin")
    __table_args__ = (UniqueConstraint("owner_id", "name", "version", name="uq_lake_owner_name_version"),
                      Index("ix_lake_objects_digest", "digest"))


class LakeReader(Base):
    __tablename__ = "lake_readers"
    lake_object_id: Mapped[int] = mapped_column(ForeignKey("lake_objects.id", ondelete="CASCADE"), primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), primary_key=True)


class Model(Base):
    __tablename__ = "models"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    description: Mapped[str] = mapped_column(Text, default="")
    licence: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    owner: Mapped[Member] = relationship()
    versions: Mapped[list["ModelVersion"]] = relationship(cascade="all, delete-orphan", lazy="selectin",
                                                          order_by="ModelVersion.version")
    aliases: Mapped[list["ModelAlias"]] = relationship(cascade="all, delete-orphan", lazy="selectin")


class ModelVersion(Base):
    __tablename__ = "model_versions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    lake_object: Mapped[str] = mapped_column(String(64))
    metrics: Mapped[dict] = mapped_column(JSON, default=dict)
    lineage: Mapped[dict] = mapped_column(JSON, default=dict)    # clusters, datasets, training run
    epsilon: Mapped[float | None] = mapped_column(nullable=True)
    delta: Mapped[float | None] = mapped_column(nullable=True)
    membership_inference: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    visibility: Mapped[str] = mapped_column(String(10), default="all", server_default="all")
    # "download": who sees the version may download it; "sample": others may only sample rows
    # from it through the hub (a synthetic-data generator)
    access: Mapped[str] = mapped_column(String(10), default="download", server_default="download")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    readers: Mapped[list["ModelVersionReader"]] = relationship(cascade="all, delete-orphan", lazy="selectin")
    __table_args__ = (UniqueConstraint("model_id", "version", name="uq_model_version"),)


class ModelAlias(Base):
    __tablename__ = "model_aliases"
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), primary_key=True)
    alias: Mapped[str] = mapped_column(String(100), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)


class ModelVersionReader(Base):
    __tablename__ = "model_version_readers"
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id", ondelete="CASCADE"), primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), primary_key=True)


class FederationRun(Base):
    """A federated run's record: one row per (owner, name), updated after every round."""
    __tablename__ = "federation_runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    owner_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    strategy: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20))
    rounds_planned: Mapped[int] = mapped_column(Integer)
    rounds_completed: Mapped[int] = mapped_column(Integer)
    participants: Mapped[list] = mapped_column(JSON, default=list)
    records: Mapped[list] = mapped_column(JSON, default=list)     # one per round: participants, failures, metrics
    epsilon: Mapped[float | None] = mapped_column(nullable=True)
    delta: Mapped[float | None] = mapped_column(nullable=True)
    visibility: Mapped[str] = mapped_column(String(10), default="members", server_default="members")
    readers: Mapped[list] = mapped_column(JSON, default=list)     # member ids who may read it
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    __table_args__ = (UniqueConstraint("owner_id", "name", name="uq_federation_run_owner_name"),)


class Job(Base):
    """Long work submitted over HTTP (anonymize, assess, protect, synthesize, ...): its inputs
    and outputs are objects of the store (by sha256), its state survives the process that
    runs it. A worker holds a job while its heartbeat is fresh; a job whose heartbeat went
    stale is taken again (``attempts`` counts the tries), and only the current holder can
    store its result, so a result is stored once."""
    __tablename__ = "jobs"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    kind: Mapped[str] = mapped_column(String(40))
    state: Mapped[str] = mapped_column(String(16))
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    inputs: Mapped[dict] = mapped_column(JSON, default=dict)        # name -> sha256 of the stored upload
    progress: Mapped[dict] = mapped_column(JSON, default=dict)      # stage, done, total
    result: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    outputs: Mapped[dict] = mapped_column(JSON, default=dict)       # name -> {sha256, size, media_type}
    error: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    worker: Mapped[str | None] = mapped_column(String(64), nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    __table_args__ = (Index("ix_jobs_state", "state"), Index("ix_jobs_owner", "owner_id"))
