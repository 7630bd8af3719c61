"""Value types shared by the domains of the referrals service."""

from typing import Annotated

from pydantic import StringConstraints

# ISO 3166-1 alpha-2; "XX" where the country is unknown (or, for a nationality, stateless).
Country = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
Language = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}$")]  # ISO 639-1 or 639-3
CategoryCode = Annotated[str, StringConstraints(min_length=1, max_length=100)]
