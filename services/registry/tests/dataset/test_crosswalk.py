"""Crosswalks from other taxonomies to Waymark's categories."""

import pytest

from waymark_kernel.problems import Problem
from waymark_registry.dataset.crosswalk import Crosswalk, shipped

COUNCIL = (
    "taxonomy,code,category\r\nLeeds council,ADV,legal.information\r\n"
    "Leeds council,ADV-IMM,legal.migration_procedures\r\n"
)


def test_the_longest_code_of_a_taxonomy_named_in_the_terms_taxonomy_wins() -> None:
    crosswalk = Crosswalk.of({"council.csv": COUNCIL})

    assert crosswalk.category("Leeds Council services", "ADV-IMM-2") == (
        "legal.migration_procedures"
    )
    assert crosswalk.category("Leeds council", "ADV-HOUSING") == "legal.information"
    assert crosswalk.category("Leeds council", "FOOD") is None
    assert crosswalk.category("Bradford council", "ADV") is None
    assert crosswalk.category("Leeds council", None) is None


def test_the_shipped_examples_map_open_eligibility_and_211_top_levels() -> None:
    crosswalk = shipped()

    assert crosswalk.category("Open Eligibility", "102-01") == "food_cash.food"
    assert crosswalk.category("AIRS/211 LA County Taxonomy", "BH-1800.8500") == "shelter"
    assert crosswalk.category("AIRS/211 LA County Taxonomy", "RP-1400") == "mhpss"


def test_a_crosswalk_naming_no_waymark_category_is_refused_with_its_line() -> None:
    with pytest.raises(Problem) as refused:
        Crosswalk.of({"bad.csv": "taxonomy,code,category\r\nX,1,food_cash.food\r\nX,2,soup\r\n"})

    assert refused.value.status == 422
    assert refused.value.extra["errors"] == [{
        "file": "bad.csv", "line": 3, "path": "",
        "reason": "category: not a code of the taxonomy (GET /v1/taxonomy)",
    }]
