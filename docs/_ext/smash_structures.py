"""Tables of the structure registry (``python/smash/structures.yaml``), made when the site is built.

``.. smash-module:: hydrological gr4`` gives the module's parameters and states (name, description,
unit, default, calibration bounds, feasible domain) and its internal fluxes; ``.. smash-modules::``
lists every module of every family. Nothing of the registry is typed a second time in the pages.
"""

from __future__ import annotations

from docutils import nodes
from docutils.parsers.rst import Directive, directives
from docutils.statemachine import StringList
from sphinx.util.nodes import nested_parse_with_titles

from smash.registry import FAMILIES, registry

_FEASIBLE = {">0": "> 0", ">=0": ">= 0", "[0,1]": "[0, 1]", "(0,1)": "(0, 1)", "any": "any"}


def _number(value) -> str:
    return f"{float(value):g}"


def _rows(kind: str, names: list[str]) -> list[list[str]]:
    table = registry()[kind]
    rows = []
    for name in names:
        rec = table[name]
        default = _number(rec["default"])
        if rec.get("per_hour"):
            default += " per hour of time step"
        low, high = rec["bounds"]
        rows.append([f"``{name}``", str(rec["description"]), f"``{rec['unit']}``", default,
                     f"[{_number(low)}, {_number(high)}]", _FEASIBLE[rec["feasible"]]])
    return rows


def _list_table(title: str, header: list[str], rows: list[list[str]], widths: str) -> list[str]:
    lines = [f".. list-table:: {title}", "   :header-rows: 1", f"   :widths: {widths}", ""]
    for row in [header, *rows]:
        lines.append(f"   * - {row[0]}")
        lines += [f"     - {cell}" for cell in row[1:]]
    lines.append("")
    return lines


def module_lines(family: str, name: str) -> list[str]:
    """reStructuredText of one module's tables."""
    modules = registry()["modules"]
    if family not in modules or name not in modules[family]:
        raise ValueError(f"smash-module: no {family} module {name!r} in structures.yaml")
    rec = modules[family][name]
    header = ["name", "description", "unit", "default", "bounds", "domain"]
    lines = []
    if rec["parameters"]:
        lines += _list_table(f"Parameters of ``{name}``", header, _rows("parameters", rec["parameters"]),
                             "8 40 10 12 18 8")
    if rec["states"]:
        lines += _list_table(f"States of ``{name}``", header, _rows("states", rec["states"]), "8 40 10 12 18 8")
    if rec["fluxes"]:
        fluxes = registry()["fluxes"]
        units = rec.get("flux_units", {})
        rows = [[f"``{f}``", str(fluxes[f]["description"]), f"``{units.get(f, fluxes[f]['unit'])}``"]
                for f in rec["fluxes"]]
        lines += _list_table(f"Internal fluxes of ``{name}``", ["name", "description", "unit"], rows, "10 70 20")
    if "nn" in rec:
        nn = rec["nn"]
        lines += [f"Its neural network takes ``{', '.join(nn['inputs'])}`` and returns the corrections "
                  f"``{', '.join(nn['outputs'])}``.", ""]
    if not lines:
        lines = ["This module has no parameter, state or internal flux.", ""]
    return lines


def modules_lines() -> list[str]:
    """reStructuredText of a table of every module: family, name, parameters, states."""
    rows = []
    for family in FAMILIES:
        for name, rec in registry()["modules"][family].items():
            params = ", ".join(f"``{p}``" for p in rec["parameters"]) or "-"
            states = ", ".join(f"``{s}``" for s in rec["states"]) or "-"
            rows.append([family, f"``{name}``", params, states])
    return _list_table("Modules of the registry", ["family", "module", "parameters", "states"], rows, "15 20 40 25")


class _Tables(Directive):
    def _parse(self, lines: list[str]):
        container = nodes.container()
        nested_parse_with_titles(self.state, StringList(lines, source="structures.yaml"), container)
        return container.children


class ModuleDirective(_Tables):
    required_arguments = 2
    option_spec = {"class": directives.class_option}

    def run(self):
        family, name = self.arguments
        try:
            lines = module_lines(family, name)
        except ValueError as exc:
            raise self.error(str(exc)) from exc
        return self._parse(lines)


class ModulesDirective(_Tables):
    def run(self):
        return self._parse(modules_lines())


def setup(app):
    app.add_directive("smash-module", ModuleDirective)
    app.add_directive("smash-modules", ModulesDirective)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
