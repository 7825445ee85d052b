"""federation runs: ``federation_runs``

One row per (owner, name): the run's strategy, status, rounds planned and completed, the
participants, one record per round (participants, failures by category, metrics, epsilon)
and the privacy spent; visible to its owner, admins and (visibility 'members') its readers,
or to every member ('all').

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 02:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'federation_runs',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('owner_id', sa.Integer(), nullable=False),
        sa.Column('strategy', sa.String(length=100), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('rounds_planned', sa.Integer(), nullable=False),
        sa.Column('rounds_completed', sa.Integer(), nullable=False),
        sa.Column('participants', sa.JSON(), nullable=False),
        sa.Column('records', sa.JSON(), nullable=False),
        sa.Column('epsilon', sa.Double(), nullable=True),
        sa.Column('delta', sa.Double(), nullable=True),
        sa.Column('visibility', sa.String(length=10), server_default='members', nullable=False),
        sa.Column('readers', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['owner_id'], ['members.id'], ),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('owner_id', 'name', name='uq_federation_run_owner_name'),
    )


def downgrade() -> None:
    op.drop_table('federation_runs')
