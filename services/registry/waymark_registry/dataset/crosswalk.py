"""Crosswalks: terms of other taxonomies mapped to Waymark's categories at import.

A crosswalk is a CSV file with the columns taxonomy, code and category (a Waymark category
code). A term is mapped by a row when the name of its taxonomy contains the row's taxonomy
(case aside: "211" matches "AIRS/211 LA County Taxonomy") and its code begins with the row's
code (taxonomies such as these are hierarchical by their codes); the row with the longest code
wins. The top levels of Open Eligibility and of the 211 taxonomy ship in crosswalks/ as
examples and apply when no other crosswalk is given."""

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from waymark_kernel.problems import Problem

from waymark_registry.dataset.schemas import InvalidRow
from waymark_registry.taxonomy.service import CODES

COLUMNS = ("taxonomy", "code", "category")
SHIPPED = Path(__file__).parent / "crosswalks"


@dataclass(frozen=True)
class Mapping:
    taxonomy: str  # lower case
    code: str
    category: str


@dataclass(frozen=True)
class Crosswalk:
    mappings: tuple[Mapping, ...] = ()

    def category(self, taxonomy: str, code: str | None) -> str | None:
        """The Waymark category of a term of another taxonomy, or None."""
        if not code:
            return None
        name = taxonomy.lower()
        found = [
            mapping for mapping in self.mappings
            if mapping.taxonomy in name and code.startswith(mapping.code)
        ]
        return max(found, key=lambda mapping: len(mapping.code)).category if found else None

    @classmethod
    def of(cls, files: dict[str, str]) -> "Crosswalk":
        """A crosswalk of CSV texts by file name; a problem with any row refuses them all."""
        mappings, errors = [], []
        for name, text in files.items():
            reader = csv.DictReader(io.StringIO(text))
            if tuple(_header(reader, name, errors))[:3] != COLUMNS:
                errors.append(InvalidRow(file=name, line=1, path="",
                                         reason="give the columns taxonomy,code,category"))
                continue
            for row in _rows(reader, name, errors):
                taxonomy, code, category = (row[column] or "" for column in COLUMNS)
                if not taxonomy.strip() or not code.strip():
                    errors.append(InvalidRow(file=name, line=reader.line_num, path="",
                                             reason="give a taxonomy and a code"))
                elif category not in CODES:
                    errors.append(InvalidRow(
                        file=name, line=reader.line_num, path="",
                        reason="category: not a code of the taxonomy (GET /v1/taxonomy)",
                    ))
                else:
                    mappings.append(Mapping(taxonomy.strip().lower(), code.strip(), category))
        if errors:
            raise Problem(422, f"{len(errors)} problem(s) in the crosswalk; nothing was changed.",
                          kind="invalid-crosswalk",
                          extra={"errors": [error.model_dump() for error in errors]})
        return cls(tuple(mappings))


def _header(reader: csv.DictReader, name: str, errors: list[InvalidRow]) -> list[str]:
    try:
        return list(reader.fieldnames or ())
    except csv.Error as exc:
        errors.append(InvalidRow(file=name, line=reader.line_num, path="", reason=str(exc)))
        return []


def _rows(reader: csv.DictReader, name: str, errors: list[InvalidRow]) -> Iterator[dict]:
    """The rows of the file up to one that is not CSV (a NUL, an unclosed quote), reported."""
    try:
        yield from reader
    except csv.Error as exc:
        errors.append(InvalidRow(file=name, line=reader.line_num, path="", reason=str(exc)))


def shipped_texts() -> dict[str, str]:
    """The shipped examples' CSV texts by name (open_eligibility, 211)."""
    return {path.stem: path.read_text(encoding="utf-8") for path in sorted(SHIPPED.glob("*.csv"))}


def shipped() -> Crosswalk:
    return Crosswalk.of({f"{name}.csv": text for name, text in shipped_texts().items()})
