"""Tables of the structure registry (``python/smash/registry/structures.yaml``), made when the site is built.

The directive ``smash-module`` with the arguments ``hydrological gr4`` gives the module's parameters and
states (name, description, unit, default, calibration bounds, domain where the equations hold) and its
internal fluxes; ``smash-modules`` lists every module of every family with its parameters and states.
Nothing of the registry is typed a second time in the pages. The tables are built as docutils nodes,
so they work in Markdown and reStructuredText pages alike.
"""

from __future__ import annotations

from docutils import nodes
from docutils.parsers.rst import Directive

from smash.registry import FAMILIES, registry

_FEASIBLE = {">0": "> 0", ">=0": ">= 0", "[0,1]": "[0, 1]", "(0,1)": "(0, 1)", "any": "any"}


def _number(value) -> str:
    return f"{float(value):g}"


def _code(text: str) -> nodes.literal:
    return nodes.literal(text, text)


def _cell(value) -> nodes.entry:
    """A table cell: text, a docutils node, or a list of them (joined by commas)."""
    paragraph = nodes.paragraph()
    items = value if isinstance(value, list) else [value]
    if not items:
        paragraph += nodes.Text("-")
    for i, item in enumerate(items):
        if i:
            paragraph += nodes.Text(", ")
        paragraph += item if isinstance(item, nodes.Node) else nodes.Text(str(item))
    entry = nodes.entry()
    entry += paragraph
    return entry


def table(title: str, header: list[str], rows: list[list], widths: list[int]) -> nodes.table:
    """A docutils table with a title, a header row and the given relative column widths."""
    node = nodes.table(classes=["smash-registry-table"])
    node += nodes.title(title, title)
    group = nodes.tgroup(cols=len(header))
    node += group
    for width in widths:
        group += nodes.colspec(colwidth=width)
    head, body = nodes.thead(), nodes.tbody()
    for parent, content in ((head, [header]), (body, rows)):
        for values in content:
            row = nodes.row()
            for value in values:
                row += _cell(value)
            parent += row
    group += head
    group += body
    return node


def _rows(kind: str, names: list[str]) -> list[list]:
    records = registry()[kind]
    rows = []
    for name in names:
        rec = records[name]
        default = _number(rec["default"])
        if rec.get("per_hour"):
            default += " per hour of time step"
        low, high = rec["bounds"]
        rows.append([_code(name), str(rec["description"]), _code(str(rec["unit"])), default,
                     f"[{_number(low)}, {_number(high)}]", _FEASIBLE[rec["feasible"]]])
    return rows


def module_nodes(family: str, name: str) -> list[nodes.Node]:
    """The tables of one module of the registry."""
    modules = registry()["modules"]
    if family not in modules or name not in modules[family]:
        raise ValueError(f"smash-module: no {family} module {name!r} in structures.yaml")
    rec = modules[family][name]
    header = ["name", "description", "unit", "default", "bounds", "domain"]
    widths = [8, 40, 10, 14, 18, 10]
    out = []
    if rec["parameters"]:
        out.append(table(f"Parameters of {name}", header, _rows("parameters", rec["parameters"]), widths))
    if rec["states"]:
        out.append(table(f"States of {name}", header, _rows("states", rec["states"]), widths))
    if rec["fluxes"]:
        fluxes = registry()["fluxes"]
        units = rec.get("flux_units", {})
        rows = [[_code(f), str(fluxes[f]["description"]), _code(str(units.get(f, fluxes[f]["unit"])))]
                for f in rec["fluxes"]]
        out.append(table(f"Internal fluxes of {name}", ["name", "description", "unit"], rows, [10, 70, 20]))
    if "nn" in rec:
        paragraph = nodes.paragraph()
        paragraph += nodes.Text("Its neural network takes ")
        paragraph += _code(", ".join(rec["nn"]["inputs"]))
        paragraph += nodes.Text(" and returns the corrections ")
        paragraph += _code(", ".join(rec["nn"]["outputs"]))
        paragraph += nodes.Text(".")
        out.append(paragraph)
    if not out:
        out.append(nodes.paragraph(text="This module has no parameter, state or internal flux."))
    return out


def modules_node() -> nodes.table:
    """A table of every module: family, name, parameters, states (and the hybrid nets' outputs)."""
    rows = []
    for family in FAMILIES:
        for name, rec in registry()["modules"][family].items():
            outputs = [_code(o) for o in rec.get("nn", {}).get("outputs", [])]
            rows.append([family, _code(name), [_code(p) for p in rec["parameters"]],
                         [_code(s) for s in rec["states"]], outputs])
    return table("Modules of the registry", ["family", "module", "parameters", "states", "net corrections"], rows,
                 [12, 16, 34, 22, 16])


class ModuleDirective(Directive):
    required_arguments = 2

    def run(self):
        family, name = self.arguments
        try:
            return module_nodes(family, name)
        except ValueError as exc:
            raise self.error(str(exc)) from exc


class ModulesDirective(Directive):
    def run(self):
        return [modules_node()]


def setup(app):
    app.add_directive("smash-module", ModuleDirective)
    app.add_directive("smash-modules", ModulesDirective)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
