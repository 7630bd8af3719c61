"""Keeping the catalogues in step with the code: extract every message of the templates and
the Python modules, and merge them into each language's catalogue."""

from datetime import UTC, datetime
from pathlib import Path

from babel import Locale
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po, write_po

from waymark_web.i18n import CATALOGUE, LOCALE_DIR

PACKAGE_DIR = Path(__file__).parents[1]
METHODS = [("i18n/**", "ignore"), ("**.py", "python"), ("**.html", "jinja2.ext:babel_extract")]
OPTIONS = {"**.html": {"extensions": "jinja2.ext.i18n", "trim_blocks": "true", "lstrip_blocks": "true"}}
KEYWORDS = {**DEFAULT_KEYWORDS, "N_": None}


def extract() -> Catalog:
    """Every message the app shows, with where it is used."""
    template = Catalog(project="Waymark", creation_date=datetime.now(UTC))
    found = extract_from_dir(PACKAGE_DIR, METHODS, OPTIONS, KEYWORDS, strip_comment_tags=True)
    for filename, line, message, comments, context in found:
        template.add(message, None, [(filename, line)], auto_comments=comments, context=context)
    return template


def catalogue_path(language: str) -> Path:
    return LOCALE_DIR / language / CATALOGUE


def read(language: str) -> Catalog:
    with catalogue_path(language).open("rb") as handle:
        return read_po(handle, locale=language)


def write(catalogue: Catalog, language: str) -> None:
    path = catalogue_path(language)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        write_po(handle, catalogue, width=100, omit_header=False, ignore_obsolete=True,
                 include_previous=False, sort_by_file=False)


def update(language: str) -> Catalog:
    """The language's catalogue with every current message (new ones untranslated), created
    when the language is new."""
    template = extract()
    if catalogue_path(language).exists():
        catalogue = read(language)
    else:
        Locale.parse(language)  # an unknown language code fails here, before any file is written
        catalogue = Catalog(locale=language, project="Waymark")
    catalogue.update(template, no_fuzzy_matching=True)
    write(catalogue, language)
    return catalogue


def missing(catalogue: Catalog) -> list[str]:
    """Messages without a translation (every plural form counts)."""
    untranslated = []
    for message in catalogue:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple | list) else (message.string,)
        if message.fuzzy or not all(strings) or len(strings) < (catalogue.num_plurals if message.pluralizable else 1):
            untranslated.append(message.id if isinstance(message.id, str) else message.id[0])
    return untranslated
