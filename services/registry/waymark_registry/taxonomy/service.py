import uuid
from collections.abc import Iterable

from waymark_registry.taxonomy import data
from waymark_registry.taxonomy.schemas import TaxonomyInfo, TaxonomyRead, TermRead

# Stable ids derived from the codes, so HSDS `taxonomy_term.id`s never change between releases.
ID_NAMESPACE = uuid.UUID("6f1c2f4e-3a7b-5c1d-9e8f-0a1b2c3d4e5f")
TAXONOMY_ID = uuid.uuid5(ID_NAMESPACE, "taxonomy")
CODES = frozenset(term.code for term in data.TERMS)


def term_id(code: str) -> uuid.UUID:
    return uuid.uuid5(ID_NAMESPACE, f"term:{code}")


def with_subcategories(codes: Iterable[str]) -> set[str]:
    """The codes and every code beneath them."""
    wanted = set(codes)
    return wanted | {term.code for term in data.TERMS if term.parent_code in wanted}


def read_taxonomy() -> TaxonomyRead:
    return TaxonomyRead(
        taxonomy=TaxonomyInfo(
            id=TAXONOMY_ID, name=data.NAME, version=data.VERSION, description=data.DESCRIPTION,
            languages=list(data.LANGUAGES),
        ),
        items=[
            TermRead(
                id=term_id(term.code), code=term.code, name=term.names["en"], names=term.names,
                description=term.description, parent_code=term.parent_code,
                iasc_cluster=term.iasc_cluster,
            )
            for term in data.TERMS
        ],
    )
