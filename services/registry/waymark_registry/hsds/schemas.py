from typing import Any

from pydantic import BaseModel, Field


class HsdsInfo(BaseModel):
    version: str = Field(description="HSDS version of this API")
    profile: str = Field(description="URL of the profile this API follows")
    openapi_url: str


class HsdsPage(BaseModel):
    """An HSDS 3.0 page object (the API's `Page`) around its `contents`."""

    total_items: int
    total_pages: int
    page_number: int
    size: int
    first_page: bool
    last_page: bool
    empty: bool
    contents: list[dict[str, Any]]


class ProfileRead(BaseModel):
    name: str
    description: str
    extensions: dict[str, dict[str, str]] = Field(
        description="Fields this profile adds, by HSDS object, with their meaning"
    )
    deviations: list[str]
