"""Value types shared by the domains of the referrals service."""

import re
from typing import Annotated

from pydantic import AwareDatetime, BeforeValidator, StringConstraints
from pydantic.config import JsonDict

# ISO 3166-1 alpha-2; "XX" where the country is unknown (or, for a nationality, stateless).
Country = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
Language = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}$")]  # ISO 639-1 or 639-3
CategoryCode = Annotated[str, StringConstraints(min_length=1, max_length=100)]


def _date_time_text(value: object) -> object:
    """A date-time is RFC 3339 text: numbers (which pydantic reads as Unix times) are refused."""
    if isinstance(value, int | float) or (isinstance(value, str) and _NUMBER.fullmatch(value)):
        raise ValueError("not an RFC 3339 date-time")
    return value


_NUMBER = re.compile(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*")
Moment = Annotated[AwareDatetime, BeforeValidator(_date_time_text)]
# Marks a field or schema as personal data in the API document: sealed at rest, absent from
# events, logs and errors, erased with the person's other data.
PERSONAL_DATA: JsonDict = {"x-personal-data": True}
