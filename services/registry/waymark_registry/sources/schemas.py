import uuid
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field, StringConstraints
from waymark_kernel.api import RequestBody
from waymark_kernel.clock import UtcDateTime

from waymark_registry.crosswalks.schemas import CrosswalkName
from waymark_registry.dataset.schemas import Counts
from waymark_registry.fields import Name, without_duplicates

SourceUrl = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
IntervalMinutes = Annotated[int, Field(
    ge=5, le=43_200, description="Minutes from the start of one synchronisation to the next "
    "(5 minutes to 30 days)",
)]
CrosswalkNames = Annotated[
    list[CrosswalkName], Field(max_length=20, description="Crosswalks mapping the source's "
                               "taxonomies (GET /v1/hsds/crosswalks); none: the shipped examples"),
    AfterValidator(without_duplicates),
]


class SourceCreate(RequestBody):
    name: Name
    url: SourceUrl = Field(description="The HSDS 3.0 API's base URL (its /services and "
                           "/organizations are read); https, public addresses only")
    interval_minutes: IntervalMinutes = 1440
    crosswalks: CrosswalkNames = []
    enabled: bool = True


class SourceUpdate(RequestBody):
    """The URL is the source's identity (its services are marked with it): it does not change."""

    name: Name | None = None
    interval_minutes: IntervalMinutes | None = None
    crosswalks: CrosswalkNames | None = None
    enabled: bool | None = None


class RunReport(BaseModel):
    organizations: Counts
    services: Counts
    withdrawn: int
    warnings: int = Field(description="How many warnings the import gave (uncategorised "
                          "services, countries derived from addresses)")
    not_kept: dict[str, int]


class SourceRunRead(BaseModel):
    id: uuid.UUID
    source_id: uuid.UUID
    started_at: UtcDateTime
    finished_at: UtcDateTime | None
    outcome: str = Field(description="running, succeeded or failed (a failed run changed "
                         "nothing)")
    report: RunReport | None
    error: str | None


class SourceRead(BaseModel):
    id: uuid.UUID
    name: str
    url: str
    interval_minutes: int
    crosswalks: list[str]
    enabled: bool
    version: int = Field(description="Its ETag")
    next_run_at: UtcDateTime = Field(description="When it is synchronised next, if enabled")
    created_at: UtcDateTime
    updated_at: UtcDateTime
    last_run: SourceRunRead | None = None
