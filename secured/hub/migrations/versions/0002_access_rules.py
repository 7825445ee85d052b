"""access rules: token lineage and last use, per-member lake namespaces, lake and per-version model visibility

- tokens: ``parent_id`` (the creating token) and ``last_used_at``.
- lake_objects: unique per (owner, name, version) instead of (name, version); a ``visibility``
  and ``lake_readers``. Existing objects stay visible to all members.
- model_versions: a ``visibility`` and ``model_version_readers``, copied from each model's
  former visibility and readers (so nothing already published becomes more visible); then
  ``models.visibility`` and ``model_readers`` are dropped. Lake rows of model artifacts get the
  visibility and readers of their version.
- Indexes for the new lookups: tokens by parent, lake objects by digest, datasets by lake object.

SQLite: only ``lake_objects`` (which no table references yet) is rebuilt by batch copy; the
other changes use ALTER TABLE ADD/DROP COLUMN, so no referenced table is dropped and no
ON DELETE CASCADE can fire during the upgrade. Downgrade gives each model one visibility again
(restricted if any version was, to the readers of every restricted version: never wider) and
fails if two members now hold the same lake name and version.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06 10:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('tokens', sa.Column('parent_id', sa.Integer(), sa.ForeignKey('tokens.id'), nullable=True),
                  inline_references=True)
    op.add_column('tokens', sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True))
    op.create_index('ix_tokens_parent_id', 'tokens', ['parent_id'], unique=False)

    with op.batch_alter_table('lake_objects', schema=None) as batch_op:
        batch_op.add_column(sa.Column('visibility', sa.String(length=10), server_default='all', nullable=False))
        batch_op.drop_constraint('uq_lake_name_version', type_='unique')
        batch_op.create_unique_constraint('uq_lake_owner_name_version', ['owner_id', 'name', 'version'])
        batch_op.create_index('ix_lake_objects_digest', ['digest'], unique=False)
    op.create_table('lake_readers',
    sa.Column('lake_object_id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['lake_object_id'], ['lake_objects.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], ),
    sa.PrimaryKeyConstraint('lake_object_id', 'member_id')
    )

    op.add_column('model_versions', sa.Column('visibility', sa.String(length=10), server_default='all',
                                              nullable=False))
    op.create_table('model_version_readers',
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], ),
    sa.ForeignKeyConstraint(['version_id'], ['model_versions.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('version_id', 'member_id')
    )
    op.execute("UPDATE model_versions SET visibility = (SELECT m.visibility FROM models m "
               "WHERE m.id = model_versions.model_id)")
    op.execute("INSERT INTO model_version_readers (version_id, member_id) SELECT v.id, r.member_id "
               "FROM model_versions v JOIN model_readers r ON r.model_id = v.model_id")
    artifact = ("FROM model_versions v JOIN models m ON m.id = v.model_id WHERE lake_objects.kind = 'artifact' "
                "AND lake_objects.name = 'model/' || m.name AND lake_objects.version = v.version "
                "AND lake_objects.owner_id = m.owner_id")
    op.execute(f"UPDATE lake_objects SET visibility = (SELECT v.visibility {artifact}) "
               f"WHERE EXISTS (SELECT 1 {artifact})")
    op.execute("INSERT INTO lake_readers (lake_object_id, member_id) SELECT o.id, r.member_id "
               "FROM lake_objects o JOIN models m ON o.name = 'model/' || m.name AND o.owner_id = m.owner_id "
               "JOIN model_versions v ON v.model_id = m.id AND v.version = o.version "
               "JOIN model_version_readers r ON r.version_id = v.id WHERE o.kind = 'artifact'")
    op.drop_table('model_readers')
    op.drop_column('models', 'visibility')

    op.create_index('ix_datasets_lake_object', 'datasets', ['lake_object'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_datasets_lake_object', table_name='datasets')

    op.add_column('models', sa.Column('visibility', sa.String(length=10), server_default='all', nullable=False))
    op.create_table('model_readers',
    sa.Column('model_id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], ),
    sa.ForeignKeyConstraint(['model_id'], ['models.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('model_id', 'member_id')
    )
    # one visibility per model again: restricted if any version was; readers: those of every
    # restricted version (never wider than the versions were).
    op.execute("UPDATE models SET visibility = 'members' WHERE EXISTS (SELECT 1 FROM model_versions v "
               "WHERE v.model_id = models.id AND v.visibility = 'members')")
    op.execute("INSERT INTO model_readers (model_id, member_id) SELECT DISTINCT v.model_id, r.member_id "
               "FROM model_versions v JOIN model_version_readers r ON r.version_id = v.id "
               "WHERE NOT EXISTS (SELECT 1 FROM model_versions w WHERE w.model_id = v.model_id "
               "AND w.visibility = 'members' AND NOT EXISTS (SELECT 1 FROM model_version_readers q "
               "WHERE q.version_id = w.id AND q.member_id = r.member_id))")
    op.drop_table('model_version_readers')
    op.drop_column('model_versions', 'visibility')

    op.drop_table('lake_readers')
    with op.batch_alter_table('lake_objects', schema=None) as batch_op:
        batch_op.drop_index('ix_lake_objects_digest')
        batch_op.drop_constraint('uq_lake_owner_name_version', type_='unique')
        batch_op.create_unique_constraint('uq_lake_name_version', ['name', 'version'])
        batch_op.drop_column('visibility')

    op.drop_index('ix_tokens_parent_id', table_name='tokens')
    with op.batch_alter_table('tokens', schema=None) as batch_op:
        batch_op.drop_column('last_used_at')
        batch_op.drop_column('parent_id')
