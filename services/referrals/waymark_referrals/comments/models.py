import uuid
from datetime import datetime
from typing import ClassVar

from sqlalchemy import Index
from sqlmodel import Field
from waymark_kernel.clock import UtcTimestamp

from waymark_referrals.actors.models import ActorColumns
from waymark_referrals.crypto import ErasableSealedColumns


class Comment(ErasableSealedColumns, ActorColumns, table=True):
    """A message between sender and receiver; its text is sealed like personal data, and the
    sealed columns are emptied when nobody may read the text any more."""

    __tablename__ = "referrals_comments"
    SUBJECT: ClassVar[str] = "author_subject"
    __table_args__ = (Index("ix_referrals_comments_thread", "referral_id", "created_at", "id"),)

    id: uuid.UUID = Field(primary_key=True)
    referral_id: uuid.UUID = Field(foreign_key="referrals_referrals.id")
    author_org_id: uuid.UUID
    author_subject: str = Field(max_length=200)
    created_at: datetime = Field(sa_type=UtcTimestamp)
