"""The shared parameter sections of the docstrings (smash.docparams)."""

import pytest

import smash
from smash.docparams import SECTIONS, fill


def test_placeholder_replaced_at_its_indent():
    doc = "Summary.\n\n    Parameters\n    ----------\n        {{common_options}}\n    x : int\n"
    lines = fill(doc).split("\n")
    first, second = SECTIONS["common_options"].split("\n")
    assert lines[4] == "        " + first
    assert lines[5] == "        " + second
    assert lines[6] == "    x : int"


def test_unknown_section_is_an_error():
    with pytest.raises(KeyError, match="no_such_section"):
        fill("    {{no_such_section}}\n")


@pytest.mark.parametrize("function", [smash.optimize, smash.backward_run, smash.forward_run,
                                      smash.Model.optimize, smash.Model.backward_run, smash.Model.forward_run,
                                      smash.Model.set_control_optimize, smash.optimize_control_info])
def test_public_docstrings_carry_the_sections(function):
    doc = function.__doc__
    assert "{{" not in doc
    assert "common_options : dict, optional" in doc or "optimizer : str, optional" in doc
