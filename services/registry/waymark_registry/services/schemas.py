import uuid
from typing import Annotated, Literal, Self

from pydantic import (
    AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator,
)
from waymark_kernel.api import MAX_PAGE_SIZE, RequestBody
from waymark_kernel.clock import UtcDateTime
from waymark_kernel.cursors import MAX_CURSOR_LENGTH
from waymark_kernel.text import shown_as_a_name

from waymark_registry.fields import (
    CountryCode, EmailAddress, LanguageCode, LanguageList, Name, PhoneNumber, ShortText, Text,
    WebAddress, without_duplicates,
)
from waymark_registry.taxonomy.service import CODES


def _known_category(code: str) -> str:
    if code not in CODES:
        raise ValueError("not a code of the taxonomy (GET /v1/taxonomy)")
    return code


ServiceStatus = Literal["active", "inactive", "defunct", "temporarily_closed"]
Population = Literal[
    "migrant_domestic_workers", "victims_of_trafficking", "unaccompanied_children",
    "women_at_risk", "returnees", "all_migrants",
]
MigrationStage = Literal["origin", "transit", "destination", "return"]
Capacity = Literal["available", "limited", "full"]
TranslatedField = Literal["name", "description"]
Weekday = Literal["MO", "TU", "WE", "TH", "FR", "SA", "SU"]

CategoryCode = Annotated[str, AfterValidator(_known_category)]
Categories = Annotated[
    list[CategoryCode], Field(min_length=1, max_length=20), AfterValidator(without_duplicates)
]
Populations = Annotated[list[Population], Field(max_length=6), AfterValidator(without_duplicates)]
MigrationStages = Annotated[
    list[MigrationStage], Field(max_length=4), AfterValidator(without_duplicates)
]


def _minutes_unless_seconds(time: str) -> str:
    """HH:MM:SS (HSDS) or HH:MM, kept as HH:MM when the seconds are 00."""
    return time.removesuffix(":00") if len(time) == 8 else time


ClockTime = Annotated[
    str, StringConstraints(pattern=r"^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?$"),
    AfterValidator(_minutes_unless_seconds),
]
MAX_RADIUS_KM = 20_100  # half the Earth's circumference, and a little more
PlaceName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
ResponseHours = Annotated[int, Field(ge=0, le=8760)]


class Location(RequestBody):
    name: Name | None = None
    address: ShortText | None = None
    city: PlaceName | None = None
    admin_area: PlaceName | None = Field(default=None, description="Province, state or district")
    country: CountryCode
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    confidential: bool = Field(
        default=False,
        description="A shelter or safe house: outside the owning organisation its name, address "
        "and coordinates are never shown, only city, admin_area and country.",
    )

    @model_validator(mode="after")
    def _both_coordinates_or_none(self) -> Self:
        if (self.latitude is None) != (self.longitude is None):
            raise ValueError("give both latitude and longitude, or neither")
        return self


class Phone(RequestBody):
    number: PhoneNumber
    type: Annotated[str, StringConstraints(max_length=50)] | None = Field(
        default=None, description="e.g. voice, text, hotline, whatsapp"
    )
    description: ShortText | None = None
    languages: LanguageList = []


class Schedule(RequestBody):
    """Weekly opening hours, after HSDS `schedule` (freq WEEKLY); times are local."""

    byday: Annotated[list[Weekday], Field(max_length=7), AfterValidator(without_duplicates)] = []
    opens_at: ClockTime | None = None
    closes_at: ClockTime | None = None
    description: ShortText | None = Field(default=None, examples=["Closed on public holidays"])


class Translation(RequestBody):
    """The name or description of the service in another language."""

    field: TranslatedField
    language: LanguageCode
    text: Text

    @model_validator(mode="after")
    def _name_fits(self) -> Self:
        if self.field == "name" and not 1 <= len(self.text) <= 200:
            raise ValueError("a translated name has 1 to 200 characters")
        if self.field == "name":
            shown_as_a_name(self.text)
        return self


def _one_text_per_field_and_language(translations: list[Translation]) -> list[Translation]:
    keys = [(translation.field, translation.language) for translation in translations]
    if len(set(keys)) != len(keys):
        raise ValueError("give each field at most one translation per language")
    return translations


Translations = Annotated[
    list[Translation], Field(max_length=60), AfterValidator(_one_text_per_field_and_language)
]
Locations = Annotated[list[Location], Field(max_length=50)]
Phones = Annotated[list[Phone], Field(max_length=10)]
Schedules = Annotated[list[Schedule], Field(max_length=14)]


class ServiceCreate(RequestBody):
    organization_id: uuid.UUID | None = Field(
        default=None, description="Owning organisation; the caller's own when left out"
    )
    name: Name
    description: Text | None = None
    categories: Categories
    status: ServiceStatus = "active"
    languages: LanguageList = []
    interpretation_available: bool = False
    populations: Populations = []
    migration_stages: MigrationStages = []
    free_of_charge: bool = True
    accepts_referrals: bool = True
    capacity: Capacity | None = None
    response_time_hours: ResponseHours | None = None
    eligibility_description: Text | None = None
    locations: Locations = []
    phones: Phones = []
    email: EmailAddress | None = None
    url: WebAddress | None = None
    schedules: Schedules = []
    original_language: LanguageCode | None = Field(
        default=None, description="Language `name` and `description` are written in"
    )
    translations: Translations = []

    @model_validator(mode="after")
    def _translations_in_other_languages(self) -> Self:
        _check_translation_languages(self.original_language, self.translations)
        return self


def _check_translation_languages(
    original_language: str | None, translations: list[Translation] | None
) -> None:
    if original_language and any(t.language == original_language for t in translations or []):
        raise ValueError("a translation is in another language than original_language")


class ServiceUpdate(RequestBody):
    """Only the fields given change; lists are replaced whole; `null` clears an optional field.
    A service cannot move to another organisation."""

    name: Name = None
    description: Text | None = None
    categories: Categories = None
    status: ServiceStatus = None
    languages: LanguageList = None
    interpretation_available: bool = None
    populations: Populations = None
    migration_stages: MigrationStages = None
    free_of_charge: bool = None
    accepts_referrals: bool = None
    capacity: Capacity | None = None
    response_time_hours: ResponseHours | None = None
    eligibility_description: Text | None = None
    locations: Locations = None
    phones: Phones = None
    email: EmailAddress | None = None
    url: WebAddress | None = None
    schedules: Schedules = None
    original_language: LanguageCode | None = None
    translations: Translations = Field(default=None, description="Replaces every translation")


class LocationRead(BaseModel):
    name: str | None
    address: str | None
    city: str | None
    admin_area: str | None
    country: str
    latitude: float | None
    longitude: float | None
    confidential: bool


class ServiceRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    organization_id: uuid.UUID
    organization_name: str
    organization_verified: bool = Field(
        description="Whether the network has verified the owning organisation"
    )
    name: str
    description: str | None
    categories: list[str]
    status: ServiceStatus
    languages: list[str]
    interpretation_available: bool
    populations: list[Population]
    migration_stages: list[MigrationStage]
    free_of_charge: bool
    accepts_referrals: bool
    capacity: Capacity | None
    response_time_hours: int | None
    eligibility_description: str | None
    locations: list[LocationRead]
    phones: list[Phone]
    email: str | None
    url: str | None
    schedules: list[Schedule]
    language: str | None = Field(
        description="Language of the `name` and `description` shown: the best match of "
        "Accept-Language among the translations, else the original's"
    )
    original_language: str | None
    translations: list[Translation]
    last_verified_at: UtcDateTime = Field(
        description="When the owning organisation last confirmed the service's details"
    )
    stale: bool = Field(description="Not confirmed for 180 days or more")
    created_at: UtcDateTime
    updated_at: UtcDateTime


class ServiceHit(ServiceRead):
    distance_km: float | None = Field(
        default=None, description="Great-circle distance to the nearest location (radius search)"
    )


class ServiceSearch(BaseModel):
    """Filters of `GET /v1/services`; they combine with AND."""

    q: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = Field(
        default=None,
        description="Words of the name or description, in any language of the service's "
        "texts; each word matches as a prefix, after stemming where the language has a stemmer",
    )
    country: CountryCode | None = Field(
        default=None,
        description="A location in this country, or for a service without locations, "
        "an organisation of this country",
    )
    category: Annotated[list[CategoryCode], Field(max_length=20)] = Field(
        default=[], description="Repeatable; any of the codes or a code beneath them"
    )
    language: LanguageCode | None = None
    population: Population | None = Field(
        default=None, description="Services for this population or for all migrants"
    )
    migration_stage: MigrationStage | None = None
    accepts_referrals: bool | None = None
    organization_id: uuid.UUID | None = None
    status: ServiceStatus | None = None
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    radius_km: float | None = Field(default=None, gt=0, le=MAX_RADIUS_KM)
    limit: int = Field(default=20, ge=1, le=MAX_PAGE_SIZE)
    cursor: Annotated[str, StringConstraints(max_length=MAX_CURSOR_LENGTH)] | None = None

    @model_validator(mode="after")
    def _whole_circle_or_none(self) -> Self:
        given = [value is not None for value in (self.lat, self.lon, self.radius_km)]
        if any(given) and not all(given):
            raise ValueError("give lat, lon and radius_km together, or none of them")
        return self

    @property
    def near(self) -> bool:
        return self.radius_km is not None
