"""The directory as an HSDS 3.0 tabular data package: `datapackage.json` (a Frictionless
tabular data package) and one CSV file per HSDS table, with HSDS column names; this profile's
fields are extra columns, declared in `datapackage.json`, and translations a table of their own.

The package is the HSDS JSON dataset cut into tables, and read back by nesting the rows again,
so an import of either goes through the same checks. Cells of a list or an object hold JSON
(Frictionless `array` and `object`); an empty cell is a field not given. Files are named and
laid out as the HSDS 3.0 specification's datapackage.json has them (organizations.csv,
services.csv, ...); an import reads the paths the package's own datapackage.json gives, else
those (or, from an older Waymark export, `<table>.csv`). organizations.csv and services.csv
must be there, the other tables only when they have rows. Tables, columns and rows the
directory does not keep (programs, accessibility, a location's phone, ...) are counted for the
report, never refused.

A text cell that a spreadsheet would run as a formula (OWASP's CSV injection: it begins with
=, +, -, @, a tab or a carriage return) is written after a single quote, which spreadsheets
show as text; so is one that begins with quotes followed by such a character, so that the
import can take exactly one quote off them all and give back the text. Numbers, booleans and
JSON cells are never quoted: a negative longitude stays a number."""

import csv
import io
import itertools
import json
import math
import posixpath
import zipfile
import zlib
from abc import ABC, abstractmethod
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from waymark_kernel.problems import Problem
from waymark_registry.dataset.schemas import MAX_LISTED_PROBLEMS, InvalidRow

DESCRIPTOR = "datapackage.json"
MAX_PACKAGE_BYTES = 512 * 2**20  # uncompressed: a zip bomb stops here
# Lines of all the package's files: blank lines cost no bytes to speak of but each is parsed.
MAX_PACKAGE_LINES = 5_000_000
READ_SIZE = 2**20
# A line of a file, read before the CSV parser sees it: longer than any row could be (the
# parser allows 128 KiB a cell), and shorter than what would hold memory for nothing.
MAX_LINE_CHARACTERS = 8 * 2**20


@dataclass(frozen=True)
class Link:
    """Rows of a table nested under a row of `parent`, whose id is in the column `column`."""

    parent: str
    column: str
    key: str  # the list of the parent object that holds them


@dataclass(frozen=True)
class Table:
    name: str
    file: str  # the path the HSDS 3.0 specification's datapackage.json gives it
    columns: tuple[str, ...]
    required: tuple[str, ...]  # columns a file of this table must have
    links: tuple[Link, ...] = ()  # the first one whose column is filled applies
    profile: tuple[str, ...] = ()  # columns this profile adds to HSDS
    # Columns linking a row to an object the directory does not keep (a location's phone):
    # such a row is counted as not kept rather than refused.
    elsewhere: tuple[str, ...] = ()

    @property
    def all_columns(self) -> tuple[str, ...]:
        return self.columns + self.profile


# In the order rows are nested: children after their parents.
TABLES = (
    Table("organization", "organizations.csv",
          ("id", "name", "description", "email", "website"), ("id", "name"),
          profile=("type", "country", "verified", "languages")),
    Table("organization_identifier", "organization_identifiers.csv",
          ("id", "organization_id", "identifier_scheme", "identifier_type", "identifier"),
          ("organization_id", "identifier_type", "identifier"),
          (Link("organization", "organization_id", "organization_identifiers"),)),
    Table("service", "services.csv", (
        "id", "organization_id", "name", "description", "url", "email", "status",
        "interpretation_services", "fees_description", "eligibility_description",
        "assured_date", "last_modified",
    ), ("id", "organization_id", "name"), (Link("organization", "organization_id", "services"),),
        profile=(
        "original_language", "populations", "migration_stages", "interpretation_available",
        "free_of_charge", "accepts_referrals", "capacity", "response_time_hours", "stale",
        "organization_verified",
    )),
    Table("translation", "translations.csv", ("service_id", "field", "language", "text"),
          ("service_id", "field", "language", "text"),
          (Link("service", "service_id", "translations"),)),
    Table("phone", "phones.csv",
          ("id", "organization_id", "service_id", "number", "type", "description"),
          ("number",), (
              Link("organization", "organization_id", "phones"),
              Link("service", "service_id", "phones"),
          ), elsewhere=("location_id", "contact_id", "service_at_location_id")),
    Table("language", "languages.csv", ("id", "service_id", "phone_id", "name", "code"),
          ("code",), (
              Link("service", "service_id", "languages"), Link("phone", "phone_id", "languages"),
          ), elsewhere=("location_id",)),
    Table("schedule", "schedules.csv", (
        "id", "service_id", "freq", "wkst", "byday", "opens_at", "closes_at", "description",
    ), (), (Link("service", "service_id", "schedules"),),
        elsewhere=("location_id", "service_at_location_id")),
    Table("attribute", "attributes.csv",
          ("id", "link_id", "link_type", "link_entity", "taxonomy_term_id"),
          ("link_id", "taxonomy_term_id"), (Link("service", "link_id", "attributes"),)),
    Table("required_document", "required_documents.csv", ("id", "service_id", "document", "uri"),
          ("service_id",), (Link("service", "service_id", "required_documents"),)),
    Table("cost_option", "cost_options.csv", (
        "id", "service_id", "valid_from", "valid_to", "option", "currency", "amount",
        "amount_description",
    ), ("service_id",), (Link("service", "service_id", "cost_options"),)),
    Table("service_area", "service_areas.csv",
          ("id", "service_id", "name", "description", "uri"),
          ("service_id",), (Link("service", "service_id", "service_areas"),)),
    Table("contact", "contacts.csv",
          ("id", "service_id", "name", "title", "department", "email"), (),
          (Link("service", "service_id", "contacts"),),
          elsewhere=("organization_id", "location_id", "service_at_location_id")),
    Table("service_at_location", "service_at_location.csv", ("id", "service_id", "location_id"),
          ("service_id", "location_id"),
          (Link("service", "service_id", "service_at_locations"),)),
    Table("location", "locations.csv", ("id", "location_type", "name", "latitude", "longitude"),
          ("id",), profile=("confidential",)),
    Table("address", "addresses.csv", (
        "id", "location_id", "address_1", "city", "state_province", "postal_code", "country",
        "address_type",
    ), ("location_id", "country"), (Link("location", "location_id", "addresses"),)),
    Table("accessibility", "accessibility.csv", ("id", "location_id", "description", "details",
          "url"), ("location_id",), (Link("location", "location_id", "accessibility"),)),
    Table("taxonomy", "taxonomies.csv", ("id", "name", "description", "version"), ("id",)),
    Table("taxonomy_term", "taxonomy_terms.csv", (
        "id", "code", "name", "description", "parent_id", "taxonomy", "taxonomy_id", "language",
    ), ("id",), profile=("iasc_cluster", "names")),
)
BY_NAME = {table.name: table for table in TABLES}
# Objects HSDS nests by reference: (table, column of the referring row, key, referred table).
REFERENCES = (
    ("service_at_location", "location_id", "location", "location"),
    ("attribute", "taxonomy_term_id", "taxonomy_term", "taxonomy_term"),
    ("taxonomy_term", "taxonomy_id", "taxonomy_detail", "taxonomy"),
)
# Tables of the specification the directory does not keep: their rows are counted.
NOT_KEPT = {
    "program": "programs.csv", "funding": "funding.csv",
    "metadata": "metadata.csv", "meta_table_description": "meta_table_descriptions.csv",
}
TYPES = {
    "latitude": "number", "longitude": "number", "response_time_hours": "integer",
    "verified": "boolean", "confidential": "boolean", "interpretation_available": "boolean",
    "free_of_charge": "boolean", "accepts_referrals": "boolean", "stale": "boolean",
    "organization_verified": "boolean", "populations": "array", "migration_stages": "array",
    "names": "object", "assured_date": "date", "last_modified": "datetime", "languages": "array",
    "amount": "number", "valid_from": "date", "valid_to": "date",
}
REQUIRED = ("organization", "service")  # the other tables may be left out when empty
BOOLEANS = {"true": True, "1": True, "false": False, "0": False}
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
TEXT_QUOTE = "'"


# --- export -----------------------------------------------------------------------------


def package(dataset: list[dict[str, Any]], taxonomy: dict[str, Any]) -> dict[str, bytes]:
    """File name → content of the package for an HSDS JSON dataset (as exported)."""
    rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    terms: dict[str, dict[str, Any]] = {}
    for organization in dataset:
        _cut("organization", organization, None, rows, terms)
    rows["taxonomy"].append(taxonomy)
    rows["taxonomy"] += list({
        term["taxonomy_detail"]["id"]: term["taxonomy_detail"]
        for term in terms.values() if "taxonomy_detail" in term
    }.values())
    rows["taxonomy_term"] = list(terms.values())
    files = {table.file: _csv(table, rows[table.name]) for table in TABLES}
    files[DESCRIPTOR] = json.dumps(descriptor(), indent=1).encode()
    return files


def _cut(
    name: str, item: dict[str, Any], parent: tuple[Link, str] | None,
    rows: dict[str, list[dict[str, Any]]], terms: dict[str, dict[str, Any]],
) -> None:
    """Adds the object's row and those of everything nested in it."""
    row = dict(item)
    if parent is not None:
        link, parent_id = parent
        row.setdefault(link.column, parent_id)
    for table, _column, key, referred in REFERENCES:
        if table == name and key in row:
            nested = row.pop(key)
            if referred == "taxonomy_term":
                terms.setdefault(nested["id"], nested)
            else:
                _cut(referred, nested, None, rows, terms)
    for child in TABLES:
        for link in child.links:
            if link.parent == name and link.key in row:
                for nested in row.pop(link.key) or []:
                    _cut(child.name, nested, (link, str(item.get("id"))), rows, terms)
    rows[name].append(row)


def _csv(table: Table, rows: list[dict[str, Any]]) -> bytes:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow(table.all_columns)
    for row in rows:
        writer.writerow([cell_of(row.get(column), _kind(column)) for column in table.all_columns])
    return text.getvalue().encode()


def _kind(column: str) -> str:
    return TYPES.get(column, "string")


def cell_of(value: Any, kind: str) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    if kind == "string":
        return TEXT_QUOTE + str(value) if _runs_as_formula(str(value)) else str(value)
    return str(value)


def _runs_as_formula(text: str) -> bool:
    """Whether the text, or the text without the quotes it begins with, is a formula."""
    return text.lstrip(TEXT_QUOTE).startswith(FORMULA_STARTS)


def descriptor() -> dict[str, Any]:
    """`datapackage.json`: every table with its columns, keys and the profile's additions."""
    resources = []
    for table in TABLES:
        schema: dict[str, Any] = {
            "fields": [
                {"name": column, "type": _kind(column)}
                | ({"description": "Waymark profile field"} if column in table.profile else {})
                for column in table.all_columns
            ],
            "foreignKeys": [
                {"fields": link.column, "reference": {"resource": link.parent, "fields": "id"}}
                for link in table.links
            ] + [
                {"fields": column, "reference": {"resource": referred, "fields": "id"}}
                for name, column, _, referred in REFERENCES if name == table.name
            ],
        }
        if "id" in table.columns:
            schema["primaryKey"] = "id"
        resources.append({
            "name": table.name, "path": table.file, "profile": "tabular-data-resource",
            "format": "csv", "mediatype": "text/csv", "encoding": "utf-8", "schema": schema,
        })
    return {
        "name": "waymark-directory", "title": "Waymark service directory",
        "profile": "tabular-data-package", "version": "3.0.0",
        "description": "Open Referral HSDS 3.0, laid out as the specification's "
        "datapackage.json, with the Waymark migrant services profile (/v1/hsds/profile): "
        "extra columns and the translation table. A string cell beginning "
        "with =, +, -, @, a tab or a carriage return (or with quotes and then one of those) "
        "has one single quote put before it, so that a spreadsheet shows it as text; an "
        "import takes that quote off again.",
        "resources": resources,
    }


def zipped(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


# --- import -----------------------------------------------------------------------------


def too_large() -> Problem:
    return Problem(413, f"The dataset is larger than {MAX_PACKAGE_BYTES // 2**20} MiB "
                   "(uncompressed); nothing was imported.", kind="dataset-too-large")


def too_long() -> Problem:
    return Problem(413, f"The package has more than {MAX_PACKAGE_LINES:,} lines; nothing was "
                   "imported.", kind="dataset-too-large")


class _Budget:
    """The bytes a package may still unpack: a zip bomb stops here, whatever the zip claims."""

    def __init__(self) -> None:
        self.left = MAX_PACKAGE_BYTES

    def spend(self, size: int) -> None:
        self.left -= size
        if self.left < 0:
            raise too_large()


class _Capped(io.RawIOBase):
    """A file of the package read as it is parsed, each byte counted against the budget."""

    def __init__(self, name: str, raw: IO[bytes], budget: _Budget) -> None:
        self.name, self._raw, self._budget = name, raw, budget

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            chunk = self._raw.read(len(buffer))
        except (zipfile.BadZipFile, OSError, NotImplementedError, EOFError, zlib.error) as exc:
            raise Problem(422, f"{self.name} cannot be read from the zip.",
                          kind="invalid-dataset") from exc
        self._budget.spend(len(chunk))
        buffer[:len(chunk)] = chunk
        return len(chunk)

    def close(self) -> None:
        self._raw.close()
        super().close()


class Package(ABC):
    """The files of a tabular data package, opened one at a time (in a worker thread: reading
    and decompressing are slow) and read as they are parsed, never held whole."""

    def __init__(self) -> None:
        self._budget = _Budget()

    def __enter__(self) -> "Package":
        return self

    def __exit__(self, *_: object) -> None:
        return None

    def open(self, file: str) -> io.TextIOWrapper | None:
        """The file as text; None when the package has no such file."""
        raw = self._open(file)
        if raw is None:
            return None
        return io.TextIOWrapper(io.BufferedReader(_Capped(file, raw, self._budget), READ_SIZE),
                                encoding="utf-8-sig", newline="")

    def has(self, file: str) -> bool:
        raw = self._open(file)
        if raw is None:
            return False
        raw.close()
        return True

    @abstractmethod
    def _open(self, file: str) -> IO[bytes] | None: ...


class ZipPackage(Package):
    """A package uploaded as a zip: the files at its root. A member named outside it refuses
    the whole upload."""

    def __init__(self, data: bytes) -> None:
        super().__init__()
        self._data = data
        self._archive: zipfile.ZipFile | None = None
        self._members: dict[str, zipfile.ZipInfo] = {}

    def __enter__(self) -> "ZipPackage":
        try:
            self._archive = zipfile.ZipFile(io.BytesIO(self._data))
        except (zipfile.BadZipFile, ValueError, EOFError) as exc:
            raise Problem(422, "The upload is not a zip file.", kind="invalid-dataset") from exc
        for member in self._archive.infolist():
            name = member.filename
            if not _inside(name):
                self._archive.close()
                raise Problem(422, f"The zip holds a file outside the package ({name!r}); "
                              "nothing was imported.", kind="invalid-dataset")
            self._members.setdefault(name, member)
        return self

    def __exit__(self, *_: object) -> None:
        if self._archive is not None:
            self._archive.close()

    def _open(self, file: str) -> IO[bytes] | None:
        member = self._members.get(file)
        if member is None or self._archive is None:
            return None
        try:
            return self._archive.open(member)
        except (zipfile.BadZipFile, OSError, NotImplementedError, EOFError) as exc:
            raise Problem(422, f"{file} cannot be read from the zip.",
                          kind="invalid-dataset") from exc


class FolderPackage(Package):
    def __init__(self, folder: Path) -> None:
        super().__init__()
        self._folder = folder

    def _open(self, file: str) -> IO[bytes] | None:
        if not _inside(file):
            return None
        path = self._folder / file
        return path.open("rb") if path.is_file() else None


def _inside(path: str) -> bool:
    """Whether a path names a file inside the package."""
    return not path.startswith(("/", "\\")) and ".." not in path.replace("\\", "/").split("/") \
        and posixpath.normpath(path) == path.rstrip("/")


class Rows:
    """The tables of a package nested again into HSDS organizations, with the file and line
    of every object for the report."""

    def __init__(self) -> None:
        self.errors: list[InvalidRow] = []  # the first MAX_LISTED_PROBLEMS
        self.problem_count = 0
        self._unreadable = False  # a file is missing or malformed: its rows cannot be linked
        self._places: dict[int, tuple[str, int]] = {}
        self._keep: list[Any] = []  # holds the objects so their ids stay unique
        self._lines_left = MAX_PACKAGE_LINES
        self._elsewhere: set[int] = set()  # rows linked to objects the directory does not keep
        self.not_kept: Counter[str] = Counter()  # rows by table, cells by table.column

    def place_of(self, item: Any) -> tuple[str, int] | None:
        return self._places.get(id(item))

    def _refuse(self, file: str, line: int, reason: str) -> None:
        self.problem_count += 1
        if len(self.errors) < MAX_LISTED_PROBLEMS:
            self.errors.append(InvalidRow(file=file, line=line, path="", reason=reason))

    def _refuse_file(self, file: str, line: int, reason: str) -> None:
        self._unreadable = True
        self._refuse(file, line, reason)

    def read(self, package: Package) -> list[dict[str, Any]]:
        """The package's organizations; slow (parsing, decompressing): call it in a worker
        thread."""
        with package:
            files = self._files(package)
            tables = {table.name: self._table(table, files[table.name], package)
                      for table in TABLES}
            for name, file in files.items():
                if name not in BY_NAME:
                    self._count(name, file, package)
        if self._unreadable:
            return []
        by_id = {
            name: {str(item.get("id")): item for item in items if item.get("id") is not None}
            for name, items in tables.items()
        }
        referred: set[int] = set()
        for name, column, key, target in REFERENCES:
            for item in tables[name]:
                found = by_id[target].get(str(item.get(column)))
                if found is not None:
                    item[key] = found
                    referred.add(id(found))
                elif target == "location":  # a taxonomy term may be known by its id alone
                    self._refuse_row(item, f"{column}: no row of {BY_NAME[target].file} has "
                                     "this id")
        for table in TABLES:
            for item in tables[table.name]:
                self._nest(table, item, by_id)
        # A location of no service (an organisation's office) is not kept.
        self.not_kept["location"] += sum(id(item) not in referred for item in tables["location"])
        return tables["organization"]

    def _refuse_row(self, item: dict[str, Any], reason: str) -> None:
        file, line = self._places[id(item)]
        self._refuse(file, line, reason)

    def _files(self, package: Package) -> dict[str, str]:
        """Table → file: the paths the package's datapackage.json gives its resources, else
        the specification's (or, for a package of an older Waymark, `<table>.csv`)."""
        files = {}
        for name, file in [*((t.name, t.file) for t in TABLES), *NOT_KEPT.items()]:
            legacy = f"{name}.csv"
            files[name] = legacy if not package.has(file) and package.has(legacy) else file
        opened = package.open(DESCRIPTOR)
        if opened is None:
            return files
        with opened:
            try:
                resources = json.load(opened).get("resources")
            except (ValueError, AttributeError):
                resources = None
        if not isinstance(resources, list):
            self._refuse_file(DESCRIPTOR, 1, "not a tabular data package: give its resources")
            return files
        for resource in resources:
            given_name, given_path = (resource.get("name"), resource.get("path")) \
                if isinstance(resource, dict) else (None, None)
            if (not isinstance(given_name, str) or not isinstance(given_path, str)
                    or not _inside(given_path)):
                self._refuse_file(DESCRIPTOR, 1, "a resource needs a name and a path inside "
                                  "the package")
                continue
            files[given_name] = given_path
        return files

    def _count(self, name: str, file: str, package: Package) -> None:
        """The rows of a table the directory does not keep, to report them."""
        opened = package.open(file)
        if opened is None:
            return
        with opened:
            try:
                for cells in itertools.islice(csv.reader(_lines(opened)), 1, None):
                    self._lines_left -= 1
                    if self._lines_left < 0:
                        raise too_long()
                    self.not_kept[name] += any(cells)
            except (csv.Error, UnicodeDecodeError):
                self._refuse_file(file, 1, "not valid CSV in UTF-8")

    def _kept(self, table: Table, item: dict[str, Any]) -> bool:
        """Whether the row belongs to an object the directory keeps: not an attribute of
        another kind of object than a service, nor a row linked to a location alone."""
        if item.get("link_type", "service") != "service":
            return False
        return id(item) not in self._elsewhere \
            or any(item.get(link.column) is not None for link in table.links)

    def _nest(self, table: Table, item: dict[str, Any], by_id: dict[str, dict[str, Any]]) -> None:
        if not table.links:
            return
        if not self._kept(table, item):
            self.not_kept[table.name] += 1
            return
        for link in table.links:
            parent_id = item.get(link.column)
            if parent_id is None:
                continue
            parent = by_id[link.parent].get(str(parent_id))
            if parent is None:
                self._refuse_row(
                    item, f"{link.column}: no row of {BY_NAME[link.parent].file} has this id"
                )
            else:
                parent.setdefault(link.key, []).append(item)
            return
        columns = " or ".join(link.column for link in table.links)
        self._refuse_row(item, f"give {columns}")

    def _table(self, table: Table, file: str, package: Package) -> list[dict[str, Any]]:
        opened = package.open(file)
        if opened is None:
            if table.name in REQUIRED:
                self._refuse_file(file, 1, "the package has no such file")
            return []
        with opened:
            return self._rows(table, file, opened)

    def _rows(self, table: Table, file: str, text: io.TextIOWrapper) -> list[dict[str, Any]]:
        reader = csv.reader(_lines(text), strict=True)
        items: list[dict[str, Any]] = []
        try:
            header = next(reader, None)
            if header is None:
                self._refuse_file(file, 1, "empty: give the header row")
                return []
            missing = [column for column in table.required if column not in header]
            if len(table.links) > 1 and not any(link.column in header for link in table.links):
                missing.append(" or ".join(link.column for link in table.links))
            for column in missing:
                self._refuse_file(file, 1, f"the column {column} is missing")
            if missing:
                return []
            line = reader.line_num + 1
            for cells in reader:
                self._lines_left -= 1
                if self._lines_left < 0:
                    raise too_long()
                item = self._item(table, file, header, cells, line)
                if item is not None:
                    self._places[id(item)] = (file, line)
                    self._keep.append(item)
                    items.append(item)
                line = reader.line_num + 1
        except csv.Error as exc:
            unread = isinstance(exc, _LineTooLong)  # the parser has not counted the line
            self._refuse_file(file, reader.line_num + unread, f"not valid CSV: {exc}")
        except UnicodeDecodeError:
            self._refuse_file(file, reader.line_num + 1, "not UTF-8 text")
        return items

    def _item(
        self, table: Table, file: str, header: list[str], cells: list[str], line: int
    ) -> dict[str, Any] | None:
        if not any(cells):
            return None  # a blank line
        if len(cells) != len(header):
            self._refuse(file, line, f"{len(cells)} cells for {len(header)} columns")
            return None
        item: dict[str, Any] = {}
        for column, cell in zip(header, cells, strict=True):
            if cell == "":
                continue
            if column not in table.all_columns:
                if column in table.elsewhere:
                    self._elsewhere.add(id(item))
                else:
                    self.not_kept[f"{table.name}.{column}"] += 1
                continue
            try:
                item[column] = value_of(_kind(column), cell)
            except ValueError as exc:
                self._refuse(file, line, f"{column}: {exc}")
        return item


class _LineTooLong(csv.Error):
    pass


def _lines(text: io.TextIOWrapper) -> Iterator[str]:
    while line := text.readline(MAX_LINE_CHARACTERS):
        if len(line) == MAX_LINE_CHARACTERS and not line.endswith("\n"):
            raise _LineTooLong(f"a line is longer than {MAX_LINE_CHARACTERS // 2**20} Mi characters")
        yield line


def value_of(kind: str, cell: str) -> Any:
    if kind == "number":
        try:
            number = float(cell)
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            raise ValueError("give a number")
        return number
    if kind == "integer":
        try:
            return int(cell)
        except ValueError:
            raise ValueError("give a whole number") from None
    if kind == "boolean":
        if cell.lower() not in BOOLEANS:
            raise ValueError("give true or false")
        return BOOLEANS[cell.lower()]
    if kind in ("array", "object"):
        try:
            value = json.loads(cell)
        except ValueError:
            value = None
        if not isinstance(value, list if kind == "array" else dict):
            raise ValueError(f"give a JSON {kind}")
        return value
    if kind == "string" and cell.startswith(TEXT_QUOTE) and _runs_as_formula(cell):
        return cell[1:]  # the export's guard against formulas
    return cell
