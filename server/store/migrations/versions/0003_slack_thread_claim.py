"""One Slack thread per incident: ``slack_threads.incident_id`` unique, and a claim time.

Two notifications of one incident at the same moment (a report and a postmortem, two workers)
each posted a first message. The notifier now claims the row before it posts (see
:meth:`augur.server.slack.notifier.SlackNotifier.ensure_thread`); the unique index makes the
claim exclusive. Duplicates already stored are reduced to the first thread of each incident.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 19:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.execute("DELETE FROM slack_threads WHERE id NOT IN "
               "(SELECT min(id) FROM slack_threads GROUP BY incident_id)")
    op.drop_index("ix_slack_threads_incident_id", table_name="slack_threads")
    op.create_index("ix_slack_threads_incident_id", "slack_threads", ["incident_id"], unique=True)
    op.add_column("slack_threads", sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    """Revert this revision."""
    op.drop_column("slack_threads", "claimed_at")
    op.drop_index("ix_slack_threads_incident_id", table_name="slack_threads")
    op.create_index("ix_slack_threads_incident_id", "slack_threads", ["incident_id"], unique=False)
