"""Initial schema: the tables of models.py.

Each table is created after the tables it refers to, and dropped before them.

Revision ID: 0001
Revises:
"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# Revision identifiers, used by Alembic.
revision: str = "0001"
down_revision: Union[str, None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
@@upgrade@@


def downgrade() -> None:
@@downgrade@@
