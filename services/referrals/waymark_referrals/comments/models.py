import uuid
from datetime import datetime
from typing import ClassVar

from sqlalchemy import Index, LargeBinary
from sqlmodel import Field

from waymark_referrals.actors.models import ActorColumns
from waymark_referrals.crypto import SealedColumns
from waymark_referrals.sql import UtcDateTime


class Comment(SealedColumns, ActorColumns, table=True):
    """A message between sender and receiver; its text is sealed like personal data, and the
    sealed columns are emptied when nobody may read the text any more."""

    __tablename__ = "referrals_comments"
    SUBJECT: ClassVar[str] = "author_subject"
    __table_args__ = (Index("ix_referrals_comments_thread", "referral_id", "created_at", "id"),)

    key_id: str | None = Field(default=None, max_length=8)
    wrapped_key: bytes | None = Field(default=None, sa_type=LargeBinary)
    ciphertext: bytes | None = Field(default=None, sa_type=LargeBinary)

    id: uuid.UUID = Field(primary_key=True)
    referral_id: uuid.UUID = Field(foreign_key="referrals_referrals.id")
    author_org_id: uuid.UUID
    author_subject: str = Field(max_length=200)
    created_at: datetime = Field(sa_type=UtcDateTime)
