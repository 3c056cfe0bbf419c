"""reading_state pages half full on PostgreSQL, so that a read's update of its state is heap-only (issue 4)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 16:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE reading_state SET (fillfactor = 50)")
        op.execute("CLUSTER reading_state USING pk_reading_state")  # rewrites the rows into half-full pages


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE reading_state RESET (fillfactor)")
