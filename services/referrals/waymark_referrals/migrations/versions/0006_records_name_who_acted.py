"""Records name who acted, `actor: {kind, id, name}`: a person, her display name sealed in
referrals_actor_names (replaced by a pseudonym at her erasure), or an API client, its name in
the clear. Rows written before were an API client's: they keep the subject they recorded as
the actor's id, with no name, and the ledger's hashes of them do not change. A person's read of
a case itself is a ledger entry without a referral.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

ACTING_TABLES = (
    "referrals_cases", "referrals_referral_transitions", "referrals_comments",
    "referrals_disclosures",
)
LEDGER = "referrals_disclosures"


def upgrade() -> None:
    op.create_table(
        "referrals_actor_names",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("person_id", sa.String(200), nullable=False),
        sa.Column("pseudonym", sa.String(40), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("key_id", sa.String(8), nullable=True),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=True),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=True),
    )
    op.create_index(
        "ix_referrals_actor_names_person", "referrals_actor_names", ["person_id", "recorded_at"]
    )
    for table in ACTING_TABLES:
        op.add_column(table, sa.Column(
            "actor_kind", sa.String(10), nullable=False, server_default="client"
        ))
        op.add_column(table, sa.Column("actor_name", sa.String(200), nullable=True))
        op.add_column(table, sa.Column("actor_name_id", sa.Uuid(), nullable=True))
    with op.batch_alter_table(LEDGER) as ledger:
        ledger.alter_column("referral_id", existing_type=sa.Uuid(), nullable=True)


def downgrade() -> None:
    """Refuses while the ledger names anyone: dropping those entries would break its chains."""
    named = op.get_bind().execute(sa.text(
        f"SELECT count(*) FROM {LEDGER} WHERE referral_id IS NULL OR actor_kind <> 'client' "
        "OR actor_name IS NOT NULL"
    )).scalar_one()
    if named:
        raise RuntimeError(
            f"the disclosure ledger has {named} entries that name their reader; a downgrade "
            "would break its hash chains"
        )
    with op.batch_alter_table(LEDGER) as ledger:
        ledger.alter_column("referral_id", existing_type=sa.Uuid(), nullable=False)
    for table in ACTING_TABLES:
        with op.batch_alter_table(table) as acting:
            for column in ("actor_name_id", "actor_name", "actor_kind"):
                acting.drop_column(column)
    op.drop_index("ix_referrals_actor_names_person", "referrals_actor_names")
    op.drop_table("referrals_actor_names")
