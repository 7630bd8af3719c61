"""`python -m waymark_web.i18n update [LANG...]`: bring the catalogues (or a new language's)
up to date with the code; `python -m waymark_web.i18n check`: list untranslated messages."""

import sys

from waymark_web.i18n import LOCALE_DIR
from waymark_web.i18n.catalogues import missing, read, update


def main(arguments: list[str]) -> int:
    verb, *languages = arguments or ["check"]
    languages = languages or sorted(path.name for path in LOCALE_DIR.iterdir() if path.is_dir())
    if verb == "update":
        for language in languages:
            catalogue = update(language)
            print(f"{language}: {len(missing(catalogue))} messages to translate")
        return 0
    if verb == "check":
        untranslated = {language: missing(read(language)) for language in languages}
        for language, messages in untranslated.items():
            for message in messages:
                print(f"{language}: {message}")
        return 1 if any(untranslated.values()) else 0
    print(__doc__)
    return 2


sys.exit(main(sys.argv[1:]))
