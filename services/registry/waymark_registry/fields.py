"""Field types shared by the registry's schemas: ISO codes, contact details (UTC timestamps
are the kernel's, waymark_kernel.clock)."""

from typing import Annotated, TypeVar

from pydantic import AfterValidator, Field, HttpUrl, StringConstraints, TypeAdapter

T = TypeVar("T")

# ISO 3166-1 alpha-2, officially assigned codes, plus XK (Kosovo), user-assigned but in wide
# humanitarian use.
COUNTRY_CODES = frozenset("""
AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS
BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE
EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM
HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC
LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA
NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW
SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO
TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS XK YE YT ZA ZM ZW
""".split())

# ISO 639-1 two-letter codes; three-letter ISO 639-2/639-3 codes (many languages of migrants,
# e.g. K'iche' `quc`, have no two-letter code) are checked by form only.
TWO_LETTER_LANGUAGES = frozenset("""
aa ab ae af ak am an ar as av ay az ba be bg bh bi bm bn bo br bs ca ce ch co cr cs cu cv cy da
de dv dz ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr ht hu hy hz
ia id ie ig ii ik io is it iu ja jv ka kg ki kj kk kl km kn ko kr ks ku kv kw ky la lb lg li ln
lo lt lu lv mg mh mi mk ml mn mr ms mt my na nb nd ne ng nl nn no nr nv ny oc oj om or os pa pi
pl ps pt qu rm rn ro ru rw sa sc sd se sg si sk sl sm sn so sq sr ss st su sv sw ta te tg th ti
tk tl tn to tr ts tt tw ty ug uk ur uz ve vi vo wa wo xh yi yo za zh zu
""".split())


def _known_country(code: str) -> str:
    if code not in COUNTRY_CODES:
        raise ValueError("not an ISO 3166-1 alpha-2 country code")
    return code


def _known_language(code: str) -> str:
    if len(code) == 2 and code not in TWO_LETTER_LANGUAGES:
        raise ValueError("not an ISO 639 language code")
    return code


_web_url = TypeAdapter(HttpUrl)


def _web_address(value: str) -> str:
    _web_url.validate_python(value)
    return value  # kept as written, not normalised


def without_duplicates(values: list[T]) -> list[T]:
    return list(dict.fromkeys(values))


CountryCode = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Z]{2}$"),
    AfterValidator(_known_country),
    Field(description="ISO 3166-1 alpha-2, upper case", examples=["NP"]),
]
LanguageCode = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z]{2,3}$"),
    AfterValidator(_known_language),
    Field(description="ISO 639-1 (two letters) or ISO 639-2/3 (three letters), lower case"),
]
LanguageList = Annotated[
    list[LanguageCode], Field(max_length=30), AfterValidator(without_duplicates)
]
Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=5000)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=300)]
MAX_NAME_LENGTH = 200
Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_NAME_LENGTH)
]
WebAddress = Annotated[
    str, StringConstraints(max_length=500, pattern=r"^https?://"), AfterValidator(_web_address)
]
EmailAddress = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"),
]
PhoneNumber = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=r"^\+?[0-9][0-9 ().\-]{2,39}$")
]
