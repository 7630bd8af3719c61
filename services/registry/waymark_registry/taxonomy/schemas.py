import uuid

from pydantic import BaseModel, Field


class TaxonomyInfo(BaseModel):
    id: uuid.UUID
    name: str
    version: str
    description: str
    languages: list[str] = Field(description="Languages every term has a name in")


class TermRead(BaseModel):
    """An HSDS `taxonomy_term` with its place in the two-level tree and its IASC cluster."""

    id: uuid.UUID
    code: str
    name: str = Field(description="English name")
    names: dict[str, str] = Field(description="Name by ISO 639-1 language code")
    description: str
    parent_code: str | None
    iasc_cluster: str


class TaxonomyRead(BaseModel):
    taxonomy: TaxonomyInfo
    items: list[TermRead]
