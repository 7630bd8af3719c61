"""The app's languages: one gettext catalogue a language (`locale/<lang>/LC_MESSAGES/messages.po`),
compiled in memory at start. English is the source language: a message without a translation
shows in English."""

import contextvars
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

LOCALE_DIR = Path(__file__).parent / "locale"
SOURCE_LANGUAGE = "en"
CATALOGUE = "LC_MESSAGES/messages.po"


@dataclass(frozen=True)
class Language:
    code: str
    name: str  # in the language itself
    direction: str  # "ltr" or "rtl"
    translations: NullTranslations


def compile_catalogue(po_file: Path) -> Translations:
    with po_file.open("rb") as handle:
        catalogue = read_po(handle)
    compiled = io.BytesIO()
    write_mo(compiled, catalogue)  # untranslated and fuzzy messages are left out: English shows
    compiled.seek(0)
    return Translations(compiled)


def _language(code: str, translations: NullTranslations) -> Language:
    locale = Locale.parse(code)
    return Language(
        code, locale.get_display_name(locale) or code,
        "rtl" if locale.character_order == "right-to-left" else "ltr", translations,
    )


ENGLISH = _language(SOURCE_LANGUAGE, NullTranslations())


class Languages:
    """Every language with a catalogue, and English."""

    def __init__(self, directory: Path = LOCALE_DIR) -> None:
        self.by_code = {SOURCE_LANGUAGE: ENGLISH}
        for po_file in sorted(directory.glob(f"*/{CATALOGUE}")):
            code = po_file.parents[1].name
            self.by_code[code] = _language(code, compile_catalogue(po_file))

    def __iter__(self) -> Iterator[Language]:
        return iter(self.by_code.values())

    def get(self, code: str | None) -> Language | None:
        return self.by_code.get((code or "").strip().lower())

    def negotiate(self, accept_language: str | None) -> Language:
        """The first language of `Accept-Language` (by weight) that the app speaks."""
        for code in preferred_languages(accept_language or ""):
            found = self.get(code) or self.get(code.partition("-")[0])
            if found:
                return found
        return ENGLISH


def preferred_languages(header: str) -> list[str]:
    weighted = []
    for position, item in enumerate(header.split(",")[:20]):
        code, _, parameters = item.strip().partition(";")
        weight = 1.0
        name, _, value = parameters.strip().partition("=")
        if name.strip() == "q":
            try:
                weight = float(value)
            except ValueError:
                continue
        if code and weight > 0:
            weighted.append((-weight, position, code.strip().lower()))
    return [code for _, _, code in sorted(weighted)]


_current: contextvars.ContextVar[Language] = contextvars.ContextVar("language", default=ENGLISH)


def current() -> Language:
    return _current.get()


def activate(language: Language) -> contextvars.Token[Language]:
    return _current.set(language)


def deactivate(token: contextvars.Token[Language]) -> None:
    _current.reset(token)


def gettext(message: str) -> str:
    return _current.get().translations.gettext(message)


def ngettext(singular: str, plural: str, count: int) -> str:
    return _current.get().translations.ngettext(singular, plural, count)


def N_(message: str) -> str:
    """Marks a message for the catalogues; it is translated where it is shown."""
    return message
