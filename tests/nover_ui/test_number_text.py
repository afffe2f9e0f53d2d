import doctest
import math

import numpy as np

import nover_ui.number_text
from nover_ui.number_text import MISSING, delta_text, is_number, number_text


def test_numbers_show_with_fixed_decimals_and_missing_ones_as_one_mark():
    assert number_text(2.125) == "2.125" and number_text(1.834, 2) == "1.83" and number_text(3, 0) == "3"
    assert number_text(0.5321, signed=True) == "+0.532" and number_text(-0.25, signed=True) == "-0.250"
    assert {number_text(value) for value in (None, math.nan, math.inf, -math.inf)} == {MISSING}
    assert number_text(np.float32(0.5), 2) == "0.50"  # a numpy scalar is a number too


def test_a_change_is_signed_and_missing_when_either_side_is():
    assert delta_text(2.5, 1.25) == "-1.250" and delta_text(1, 4, 0) == "+3" and delta_text(0.0, 0.0) == "+0.000"
    assert {delta_text(None, 1.0), delta_text(1.0, math.nan), delta_text(math.inf, 1.0)} == {MISSING}


def test_booleans_are_not_numbers():
    assert not is_number(True) and is_number(0) and not is_number("1")


def test_the_worked_examples_in_the_docstrings_hold():
    result = doctest.testmod(nover_ui.number_text)
    assert result.attempted >= 2 and result.failed == 0
