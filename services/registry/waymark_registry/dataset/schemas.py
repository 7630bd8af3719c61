from datetime import date
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field, StringConstraints

from waymark_kernel.api import RequestBody
from waymark_registry.fields import (
    EmailAddress,
    Name,
    ShortText,
    Text,
    WebAddress,
    without_duplicates,
)
from waymark_registry.services.schemas import CategoryCode, Location, ServiceCreate

Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Code = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class RequiredDocument(RequestBody):
    """HSDS `required_document`: what a person must bring."""

    document: ShortText
    uri: WebAddress | None = None


class CostOption(RequestBody):
    """HSDS `cost_option`; an amount of 0 means free of charge."""

    option: ShortText | None = None
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] | None = None
    amount: float | None = Field(default=None, ge=0)
    amount_description: ShortText | None = None
    valid_from: date | None = None
    valid_to: date | None = None


class ServiceArea(RequestBody):
    """HSDS `service_area`: where the service is given, in words (extents are not kept)."""

    name: Label | None = None
    description: Text | None = None
    uri: WebAddress | None = None


class Contact(RequestBody):
    """HSDS `contact` of a service (its phones are not kept)."""

    name: Name | None = None
    title: Label | None = None
    department: Label | None = None
    email: EmailAddress | None = None


class ExternalTerm(RequestBody):
    """A term of another taxonomy the publisher classified the service in (HSDS attribute of a
    taxonomy_term), kept with the ids the publisher gave."""

    taxonomy: Label
    taxonomy_id: Code | None = None
    id: Code | None = None
    code: Code | None = None
    name: Label


class Accessibility(RequestBody):
    """HSDS `accessibility` of a location."""

    description: Text | None = None
    details: Text | None = None
    url: WebAddress | None = None


class ImportedLocation(Location):
    accessibility: Annotated[list[Accessibility], Field(max_length=20)] = []


class ImportedService(ServiceCreate):
    """A service of an import file: it may be left uncategorised (no term of Waymark's taxonomy,
    none mapped by the crosswalk), and keeps the HSDS tables around it."""

    categories: Annotated[
        list[CategoryCode], Field(max_length=20), AfterValidator(without_duplicates)
    ] = []
    # an import's locations are Locations with the HSDS fields an import keeps besides
    locations: Annotated[list[ImportedLocation], Field(max_length=50)] = []  # type: ignore[assignment]
    required_documents: Annotated[list[RequiredDocument], Field(max_length=30)] = []
    cost_options: Annotated[list[CostOption], Field(max_length=30)] = []
    service_areas: Annotated[list[ServiceArea], Field(max_length=50)] = []
    contacts: Annotated[list[Contact], Field(max_length=20)] = []
    external_terms: Annotated[list[ExternalTerm], Field(max_length=50)] = []

# Problems an import's answer lists: a file of millions of bad rows gets a short answer.
MAX_LISTED_PROBLEMS = 1000


class Counts(BaseModel):
    created: int = 0
    updated: int = 0
    unchanged: int = 0


class ImportWarning(BaseModel):
    """Something imported otherwise than given, or not kept: the import still happens."""

    kind: str = Field(description="uncategorised, country_derived or not_kept")
    path: str = Field(default="", description="Where in the file, e.g. [3].services[0]")
    detail: str


class ImportReport(BaseModel):
    dry_run: bool = Field(default=False, description="True: nothing was changed")
    organizations: Counts = Field(default_factory=Counts)
    services: Counts = Field(default_factory=Counts)
    withdrawn: int = Field(default=0, description="Services of a synchronised source that it "
                           "no longer lists, made inactive")
    warnings: list[ImportWarning] = Field(default_factory=list)
    not_kept: dict[str, int] = Field(
        default_factory=dict, description="Rows (or objects) of each HSDS table or field that "
        "the directory does not keep, by table (`table.field` for a field)"
    )


class InvalidRow(BaseModel):
    """Why one object of an import file was refused."""

    file: str | None = Field(
        default=None, description="File of a tabular data package (CSV) the row is in"
    )
    line: int = Field(description="Line of the file the object or row starts on")
    path: str = Field(description="Where in the file, e.g. [3].services[0].categories")
    reason: str
