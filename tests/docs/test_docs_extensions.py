"""The documentation's generated parts: registry tables hold structures.yaml's values, the API pages every
public name of the __all__ lists."""

import importlib.util
import sys
from pathlib import Path

import pytest
import yaml

import smash

from helpers import REPO_ROOT

pytest.importorskip("sphinx")
DOCS_EXT = REPO_ROOT / "docs" / "_ext"
REGISTRY = Path(smash.__file__).parent / "registry" / "structures.yaml"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, DOCS_EXT / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(name, module)
    spec.loader.exec_module(module)
    return module


def _rows(table):
    """The text of every body row of a docutils table."""
    return [[entry.astext() for entry in row.children] for row in table.findall(lambda n: n.tagname == "row")
            if row.parent.tagname == "tbody"]


@pytest.mark.parametrize("family, name", [("hydrological", "gr4"), ("routing", "lr"), ("snow", "ssn"),
                                          ("hydrological", "vic3l")])
def test_module_tables_hold_the_registry_values(family, name):
    registry = yaml.safe_load(REGISTRY.read_text())
    record = registry["modules"][family][name]
    tables = [n for n in _load("smash_structures").module_nodes(family, name) if n.tagname == "table"]
    parameters = _rows(tables[0])
    assert [row[0] for row in parameters] == record["parameters"]
    for row in parameters:
        rec = registry["parameters"][row[0]]
        assert row[1] == rec["description"] and row[2] == rec["unit"]
        assert float(row[3].split()[0]) == pytest.approx(rec["default"], rel=1e-5)
        low, high = (float(v) for v in row[4].strip("[]").split(","))
        assert (low, high) == pytest.approx(tuple(rec["bounds"]), rel=1e-5)
    states = _rows(tables[1])
    assert [row[0] for row in states] == record["states"]


def test_unknown_module_is_refused_by_name():
    with pytest.raises(ValueError, match="no hydrological module 'gr9'"):
        _load("smash_structures").module_nodes("hydrological", "gr9")


def test_api_pages_list_every_public_name(tmp_path):
    api = _load("smash_api")
    written = api.write_pages(tmp_path)
    assert written[0] == "smash" and {"smash.factory", "smash.io", "smash.plot"} <= set(written)
    for module in (smash, smash.factory, smash.io, smash.plot):
        page = (tmp_path / f"{module.__name__}.rst").read_text()
        listed = {line.strip() for line in page.splitlines() if line.startswith("   ") and ":" not in line}
        expected = {n for n in module.__all__ if type(getattr(module, n)).__name__ != "module"}
        assert listed == expected
    index = (tmp_path / "index.rst").read_text()
    assert all(f"   {name}" in index for name in written)
