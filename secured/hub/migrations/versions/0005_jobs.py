"""jobs: ``jobs``

Long work submitted over HTTP: kind, state (queued, running, succeeded, failed, cancelled),
parameters, inputs and outputs by sha256 in the object store, progress, result, error, the
worker holding it and its heartbeat (a stale job is taken again; ``attempts`` counts tries).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 04:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'jobs',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('owner_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=40), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('params', sa.JSON(), nullable=False),
        sa.Column('inputs', sa.JSON(), nullable=False),
        sa.Column('progress', sa.JSON(), nullable=False),
        sa.Column('result', sa.JSON(), nullable=True),
        sa.Column('outputs', sa.JSON(), nullable=False),
        sa.Column('error', sa.String(length=1000), nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('cancel_requested', sa.Boolean(), nullable=False),
        sa.Column('worker', sa.String(length=64), nullable=True),
        sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['owner_id'], ['members.id'], ),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_jobs_state', 'jobs', ['state'])
    op.create_index('ix_jobs_owner', 'jobs', ['owner_id'])


def downgrade() -> None:
    op.drop_index('ix_jobs_owner', table_name='jobs')
    op.drop_index('ix_jobs_state', table_name='jobs')
    op.drop_table('jobs')
