"""The registry's page orders beside the kernel's newest-first: by name, or by distance. Their
cursors hold the sort value and id of the last item of a page; the rows after it are the
kernel's `Keyset` condition."""

from waymark_kernel.cursors import CursorFormat, Identifier, Number, Text

from waymark_registry.fields import MAX_NAME_LENGTH
from waymark_registry.services.schemas import MAX_RADIUS_KM

BY_NAME = CursorFormat(Text(MAX_NAME_LENGTH), Identifier())
BY_DISTANCE = CursorFormat(Number(0, MAX_RADIUS_KM), Identifier())
