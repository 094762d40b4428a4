"""One base for the objects the public functions return: named values held as attributes."""

from __future__ import annotations


class Result:
    """Named values held as attributes, shown by their names.

    Subclasses keep their own name and docstring (they are the public result
    types, e.g. `ForwardRun`, `Optimize`); those with a fixed set of values
    override `__repr__` to show sizes rather than names.
    """

    def __init__(self, **values):
        self.__dict__.update(values)

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(sorted(self.__dict__))})"
