from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field

from waymark_kernel.clock import as_utc

UtcTimestamp = Annotated[datetime, AfterValidator(as_utc)]


class AuditEntryRead(BaseModel):
    actor: str = Field(description="The person's or client's id; `anonymous` before sign-in.")
    action: str
    target: str | None = Field(
        description="The person or invitation acted on; for a sign-in with an unknown email, "
        "`email:` and a keyed hash of it (the typed address is never stored)."
    )
    at: UtcTimestamp
    address: str | None = Field(description="The address the request came from.")
    result: str
