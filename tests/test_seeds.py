"""Seeds as users write them: a list or a range, never a count."""

from __future__ import annotations

import pytest

from glue_lit.errors import GlueLitError
from glue_lit.seeds import parse_seeds


@pytest.mark.parametrize("text, seeds", [
    ("42,43,44", [42, 43, 44]),
    ("42-46", [42, 43, 44, 45, 46]),
    ("1, 5-7, 5", [1, 5, 6, 7]),
    ("3", [3]),  # one seed, not three
    ("50", [50]),
    ("42,", [42]),
    ("-1", [-1]),
])
def test_seeds_are_a_list_or_a_range(text, seeds):
    assert parse_seeds(text) == seeds


@pytest.mark.parametrize("text", ["", "4x", "46-42", "1-2-3", "a-b"])
def test_bad_seeds_are_one_clear_error(text):
    with pytest.raises(GlueLitError, match="give seeds like 42,43,44 or a range like 42-46"):
        parse_seeds(text)
