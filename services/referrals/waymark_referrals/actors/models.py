import uuid
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import Index
from sqlmodel import AutoString, Field, SQLModel

from waymark_kernel.auth import CLIENT, IdentityKind
from waymark_kernel.clock import UtcTimestamp
from waymark_referrals.actors.schemas import RecordedActor
from waymark_referrals.crypto import ErasableSealedColumns


class ActorName(ErasableSealedColumns, table=True):
    """A person's display name as it was when she acted, sealed like other personal data.
    Her erasure empties the sealed columns and sets her pseudonym: the records that point here
    (and the ledger's hashes, which hash only this row's id) stay as they are."""

    __tablename__ = "referrals_actor_names"
    __table_args__ = (Index("ix_referrals_actor_names_person", "person_id", "recorded_at"),)

    id: uuid.UUID = Field(primary_key=True)
    person_id: str = Field(max_length=200)
    pseudonym: str | None = Field(default=None, max_length=40)
    recorded_at: datetime = Field(sa_type=UtcTimestamp)


class ActorColumns(SQLModel):
    """Who acted, beside the table's own column of the acting subject (`SUBJECT`): a person
    (her name sealed in ActorName) or an API client (its name, which is not personal, clear).
    Rows written before people had accounts are a client's with no name."""

    SUBJECT: ClassVar[str]

    actor_kind: IdentityKind = Field(default=CLIENT, sa_type=AutoString(length=10))
    actor_name: str | None = Field(default=None, max_length=200)
    actor_name_id: uuid.UUID | None = None

    @property
    def actor(self) -> RecordedActor:
        return RecordedActor(
            kind=self.actor_kind, id=getattr(self, self.SUBJECT), name=self.actor_name,
            name_id=self.actor_name_id,
        )

    @classmethod
    def acted_by(cls, actor: RecordedActor) -> dict[str, Any]:
        """The row's columns that say who acted."""
        return {
            cls.SUBJECT: actor.id, "actor_kind": actor.kind, "actor_name": actor.name,
            "actor_name_id": actor.name_id,
        }
