"""Email addresses of people: normalised (NFKC, case-folded) so one mailbox is one account, and
refused when they mix writing systems or imitate Latin letters with look-alikes from another
script (`pаypal.org` with a Cyrillic `а`), which would let one address pass for another."""

import unicodedata

MAX_LENGTH = 254
# Scripts that are written together in one word: Japanese and Korean mix these with Han.
SCRIPT_FAMILIES = {"HIRAGANA": "CJK", "KATAKANA": "CJK", "HANGUL": "CJK", "CJK": "CJK"}
# Letters of other scripts that look like Latin letters; a word made only of them imitates Latin.
LATIN_LOOKALIKES = frozenset(
    "аеорсухіјѕԁһԛԝӏ"  # Cyrillic
    "αορνικχυϲϳ"  # Greek
    "ɑɡɩοⅼⅰⅽⅾⅿ"  # Latin-like symbols outside the Latin script
)


class InvalidEmail(ValueError):
    pass


def _script(character: str) -> str | None:
    if not character.isalpha():
        return None
    name = unicodedata.name(character, "")
    first = name.split(" ", 1)[0]
    return SCRIPT_FAMILIES.get(first, first)


def _check_word(word: str) -> None:
    scripts = {script for character in word if (script := _script(character))}
    if len(scripts) > 1:
        raise InvalidEmail(
            "The email address mixes letters of different writing systems ("
            + ", ".join(sorted(scripts)).lower() + "), as look-alike addresses do."
        )
    letters = [character for character in word if character.isalpha()]
    if scripts and scripts != {"LATIN"} and letters and all(
        character in LATIN_LOOKALIKES for character in letters
    ):
        raise InvalidEmail(
            "The email address is written with letters that imitate Latin ones."
        )


def normalized_email(value: str) -> str:
    """The address as stored and compared; InvalidEmail says why it cannot be one."""
    email = unicodedata.normalize("NFKC", value.strip()).casefold()
    local, at, domain = email.rpartition("@")
    if not at or not local or "." not in domain or len(email) > MAX_LENGTH:
        raise InvalidEmail("This is not an email address.")
    if any(character.isspace() or unicodedata.category(character)[0] == "C" for character in email):
        raise InvalidEmail("An email address has no spaces or control characters.")
    if "@" in local or any(not label for label in domain.split(".")):
        raise InvalidEmail("This is not an email address.")
    _check_word(local)
    for label in domain.split("."):
        _check_word(label)
    return email
