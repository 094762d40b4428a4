"""Optimizer logs and progress bar.

Calibrations run for minutes to hours; users want smash's iterate lines
("At iterate N nfg = K J = ...") and a bar telling how far the run is. The
lines go to standard output through `tqdm.write`, so they scroll above the bar
(on standard error) instead of breaking it. Nothing is shown when
`verbose=False`.
"""

from __future__ import annotations


class OptimizerLog:
    """Log lines and a bar over `total` iterations, both silent unless `verbose`."""

    def __init__(self, verbose: bool, total: int | None = None, desc: str = "Optimize"):
        self.verbose = verbose
        self.bar = None
        if verbose and total:
            from tqdm import tqdm

            self.bar = tqdm(total=int(total), desc=desc, unit="it", leave=False, dynamic_ncols=True)

    def __call__(self, text: str, iterate: int | None = None, cost: float | None = None):
        """Print `text`; with `iterate` (and its `cost`), also move the bar there."""
        if not self.verbose:
            return
        if self.bar is None:
            print(text, flush=True)
            return
        self.bar.write(text)
        if iterate is not None:
            self.bar.update(max(0, min(iterate, self.bar.total) - self.bar.n))
            if cost is not None:
                self.bar.set_postfix_str(f"J = {cost:.5e}", refresh=False)
            self.bar.refresh()

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def iterate_line(iterate: int, nfg: int, cost: float, ddx: float | None = None, projg: float | None = None) -> str:
    """smash's iterate line: the iteration, the evaluation count and J, then sbs's step `ddx` or a
    gradient method's `projg` (|proj g|) when given."""
    line = f"    At iterate {iterate:>5}    nfg = {nfg:>5}    J = {cost:.5e}"
    if ddx is not None:
        line += f"    ddx = {ddx:.2f}"
    if projg is not None:
        line += f"    |proj g| = {projg:.5e}"
    return line
