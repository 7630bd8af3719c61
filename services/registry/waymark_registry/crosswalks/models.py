from datetime import datetime

from sqlalchemy import Column, DateTime, Text
from sqlmodel import Field, SQLModel


class StoredCrosswalk(SQLModel, table=True):
    """A crosswalk a network admin uploaded, as the CSV text it was given."""

    __tablename__ = "registry_crosswalks"

    name: str = Field(primary_key=True, max_length=63)
    text: str = Field(sa_column=Column(Text, nullable=False))
    mappings: int
    version: int = 1
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
