import uuid

from pydantic import BaseModel, Field


class NationalSocietyRead(BaseModel):
    name: str
    organization_id: uuid.UUID | None = Field(
        description="The registered `national_society` organisation of the country, if any"
    )


class CountryRead(BaseModel):
    code: str = Field(description="ISO 3166-1 alpha-2")
    name: str = Field(description="English short name")
    national_society: NationalSocietyRead
