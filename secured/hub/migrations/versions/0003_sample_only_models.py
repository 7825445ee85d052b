"""sample-only model versions: ``model_versions.access``

``download`` (every version until now): a member who sees the version may download its
artifact. ``sample``: members other than its owner (and admins) may only sample rows from it
through the hub (a published synthetic-data generator whose training rows they must not see);
its artifact is not downloadable by them.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05 22:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('model_versions', sa.Column('access', sa.String(length=10), server_default='download',
                                              nullable=False))


def downgrade() -> None:
    # a sample-only version must not become downloadable by a downgrade: refuse while one exists
    bind = op.get_bind()
    if bind.execute(sa.text("SELECT COUNT(*) FROM model_versions WHERE access = 'sample'")).scalar():
        raise RuntimeError("Sample-only model versions exist; the older schema would make them downloadable.")
    with op.batch_alter_table('model_versions', schema=None) as batch_op:
        batch_op.drop_column('access')
