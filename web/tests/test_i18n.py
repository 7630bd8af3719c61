"""The catalogues: complete in the five languages, consistent placeholders, English where a
message is missing, and the language each visitor gets."""

import re
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.pofile import write_po

from waymark_web import i18n
from waymark_web.i18n import Languages, preferred_languages
from waymark_web.i18n.catalogues import extract, missing, read

COMPLETE = ("fr", "es", "ar", "ru")
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def strings_of(message: Message) -> tuple[str, ...]:
    string = message.string or ""  # an untranslated message has nothing to compare
    return tuple(string) if isinstance(string, tuple | list) else (string,)


@pytest.mark.parametrize("language", COMPLETE)
def test_every_message_of_the_app_is_translated(language: str) -> None:
    catalogue = read(language)
    catalogue.update(extract(), no_fuzzy_matching=True)  # in memory: the file stays as it is
    assert missing(catalogue) == [], f"untranslated in {language}; run python -m waymark_web.i18n update"


@pytest.mark.parametrize("language", COMPLETE)
def test_translations_keep_the_placeholders(language: str) -> None:
    for message in read(language):
        if not message.id:
            continue
        source = message.id if isinstance(message.id, str) else message.id[1]
        expected = set(PLACEHOLDER.findall(source))
        for text in strings_of(message):
            # Arabic's zero, one and two forms may say the number in words.
            if message.pluralizable and not PLACEHOLDER.search(text):
                continue
            assert set(PLACEHOLDER.findall(text)) == expected, (language, source, text)


def test_the_five_languages_are_spoken_and_arabic_is_right_to_left() -> None:
    languages = Languages()
    assert {language.code for language in languages} >= {"en", "fr", "es", "ar", "ru"}
    arabic = languages.get("ar")
    assert arabic is not None
    assert arabic.direction == "rtl"
    others = [languages.get(code) for code in ("en", "fr", "es", "ru")]
    assert None not in others
    assert {language.direction for language in others if language is not None} == {"ltr"}
    assert arabic.name == "العربية"


def test_a_missing_message_shows_in_english(tmp_path: Path) -> None:
    catalogue = Catalog(locale="fr")
    catalogue.add("Sign in", "Se connecter")
    catalogue.add("Sign out", "")  # not translated yet
    po_file = tmp_path / "fr" / i18n.CATALOGUE
    po_file.parent.mkdir(parents=True)
    with po_file.open("wb") as handle:
        write_po(handle, catalogue)
    french = Languages(tmp_path).get("fr")
    assert french is not None
    token = i18n.activate(french)
    try:
        assert i18n.gettext("Sign in") == "Se connecter"
        assert i18n.gettext("Sign out") == "Sign out"
        assert i18n.gettext("A message nobody wrote yet") == "A message nobody wrote yet"
    finally:
        i18n.deactivate(token)


def test_a_language_is_added_by_adding_its_catalogue(tmp_path: Path) -> None:
    catalogue = Catalog(locale="kk")
    catalogue.add("Sign in", "Кіру")
    po_file = tmp_path / "kk" / i18n.CATALOGUE
    po_file.parent.mkdir(parents=True)
    with po_file.open("wb") as handle:
        write_po(handle, catalogue)
    languages = Languages(tmp_path)
    assert languages.negotiate("kk-KZ, ru;q=0.5").code == "kk"


@pytest.mark.parametrize(("header", "expected"), [
    ("ar-JO,ar;q=0.9,en;q=0.8", "ar"),
    ("ne, ru;q=0.4, fr;q=0.6", "fr"),
    ("de-DE", "en"),
    ("es;q=0, ru", "ru"),
    ("", "en"),
    ("fr;q=abc, es", "es"),
])
def test_accept_language_picks_the_best_spoken_language(header: str, expected: str) -> None:
    assert Languages().negotiate(header).code == expected


def test_accept_language_order_follows_weights_then_position() -> None:
    assert preferred_languages("en;q=0.5, fr, es;q=0.9, ar") == ["fr", "ar", "es", "en"]
