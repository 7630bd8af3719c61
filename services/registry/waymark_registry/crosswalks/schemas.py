from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints
from waymark_kernel.clock import UtcDateTime

CrosswalkName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]


class CrosswalkRead(BaseModel):
    name: str
    shipped: bool = Field(description="One of the examples shipped with Waymark: read-only")
    mappings: int = Field(description="Rows mapping a term to a Waymark category")
    version: int = Field(description="Its ETag; 1 for a shipped example")
    updated_at: UtcDateTime | None = Field(default=None, description="None for a shipped example")
