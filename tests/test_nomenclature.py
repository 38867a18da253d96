from __future__ import annotations

import pytest

from costa.nomenclature import CLASSES, CODES, ZanCategory, by_code, colormap


def test_sixteen_classes_with_codes_1_to_16() -> None:
    assert tuple(range(1, 17)) == CODES
    assert len({c.slug for c in CLASSES}) == 16


@pytest.mark.parametrize(
    ("code", "fr", "color", "slug"),
    [
        (1, "Bâtiment", "#ce7079", "batiment"),
        (4, "Piscine", "#62d0ff", "piscine"),
        (9, "Conifère", "#216e2e", "conifere"),
        (15, "Terre labourée", "#d0a349", "terre_labouree"),
    ],
)
def test_values_follow_the_nomenclature(code: int, fr: str, color: str, slug: str) -> None:
    c = by_code(code)
    assert (c.fr, c.color, c.slug) == (fr, color, slug)


def test_zan_categories() -> None:
    artif = [c.code for c in CLASSES if c.zan.artificialised]
    assert artif == [1, 2, 3, 4, 5]
    assert by_code(13).zan is ZanCategory.USAGE and by_code(13).zan.artificialised is None


def test_colormap_and_unknown_code() -> None:
    cmap = colormap()
    assert cmap[1] == (0xCE, 0x70, 0x79, 255) and cmap[0][3] == 0 and len(cmap) == 256
    with pytest.raises(KeyError, match="valid codes are 1–16"):
        by_code(17)
