"""reading_state.meter_id without a foreign key, like meter_read.meter_id it is copied from (issue 4)

SQLite checks a foreign key on every update that sets its column, changed or not: a province's read file
moved its reading states 0.5 s slower for it.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 21:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("reading_state", schema=None) as batch_op:
        batch_op.drop_constraint("fk_reading_state_meter_id_meter", type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("reading_state", schema=None) as batch_op:
        batch_op.create_foreign_key("fk_reading_state_meter_id_meter", "meter", ["meter_id"], ["id"])
