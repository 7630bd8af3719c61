from pydantic import BaseModel, Field

# Problems an import's answer lists: a file of millions of bad rows gets a short answer.
MAX_LISTED_PROBLEMS = 1000


class Counts(BaseModel):
    created: int = 0
    updated: int = 0
    unchanged: int = 0


class ImportReport(BaseModel):
    organizations: Counts = Field(default_factory=Counts)
    services: Counts = Field(default_factory=Counts)


class InvalidRow(BaseModel):
    """Why one object of an import file was refused."""

    file: str | None = Field(
        default=None, description="File of a tabular data package (CSV) the row is in"
    )
    line: int = Field(description="Line of the file the object or row starts on")
    path: str = Field(description="Where in the file, e.g. [3].services[0].categories")
    reason: str
