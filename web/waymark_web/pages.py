"""Templates: Jinja with autoescape, gettext in the visitor's language, and the filters that
write dates, countries and languages the way her locale does."""

from datetime import datetime
from pathlib import Path
from typing import Any

from babel import Locale
from babel.dates import format_datetime
from babel.numbers import format_decimal
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.responses import HTMLResponse

from waymark_web import i18n
from waymark_web.i18n import Languages
from waymark_web.static import StaticFiles
from waymark_web.vocabulary import codes, label

PACKAGE_DIR = Path(__file__).parent


def _locale() -> Locale:
    return Locale.parse(i18n.current().code)


def moment(value: str | datetime | None) -> str:
    if not value:
        return ""
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    return format_datetime(when, "medium", locale=_locale())


def country_name(code: str | None) -> str:
    if not code:
        return ""
    return _locale().territories.get(code.upper(), code)


def language_name(code: str | None) -> str:
    if not code:
        return ""
    return _locale().languages.get(code, code)


WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")  # HSDS `byday`, Monday first


def weekday_name(code: str) -> str:
    return str(_locale().days["format"]["wide"][WEEKDAYS.index(code)])


def number(value: float | int) -> str:
    return format_decimal(value, format="#,##0.#", locale=_locale())


class Pages:
    def __init__(self, languages: Languages, static: StaticFiles) -> None:
        self.languages = languages
        self.environment = Environment(
            loader=FileSystemLoader(PACKAGE_DIR), autoescape=select_autoescape(["html"]),
            extensions=["jinja2.ext.i18n"], undefined=StrictUndefined, trim_blocks=True,
            lstrip_blocks=True,
        )
        self.environment.install_gettext_callables(  # type: ignore[attr-defined]
            i18n.gettext, i18n.ngettext, newstyle=True
        )
        self.environment.globals.update(
            static=static.url, label=label, codes=codes, languages=languages,
            country_name=country_name, language_name=language_name, weekday_name=weekday_name,
            weekdays=WEEKDAYS,
        )
        self.environment.filters.update(moment=moment, number=number)

    def render(
        self, language: i18n.Language, template: str, context: dict[str, Any], status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> HTMLResponse:
        token = i18n.activate(language)
        try:
            html = self.environment.get_template(template).render(language=language, **context)
        finally:
            i18n.deactivate(token)
        return HTMLResponse(html, status_code=status, headers=headers)
