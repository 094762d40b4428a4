"""Random sets of uniform parameter (or initial state) values for ensembles of forward runs.

`generate_samples(problem, generator, n, ...)` draws `n` values of each variable
of a problem `{"num_vars": k, "names": [...], "bounds": [[low, high], ...]}`,
the form `model.get_rr_parameters_bounds()` converts to. Two generators:

- `"uniform"`: independent uniform draws on each variable's bounds;
- `"normal"`: independent normal draws truncated to the bounds, centred on
  `mean[name]` (default: the middle of the bounds) with standard deviation
  `(high - low) / coef_std` (default `coef_std` 3, so that the untruncated
  curve puts 99.7 % of its mass on the width of the bounds).

The draws are smash 1.3's for the same `random_state` (users seed to reproduce
published ensembles): an integer seeds one `numpy.random.RandomState` that draws
the variables one after the other in problem order, `n` values each
(`uniform(low, high, n)`, or `scipy.stats.truncnorm.rvs(..., size=n)` for
"normal"); `random_state=None` draws from numpy's global random state, so
`np.random.seed(k)` before the call reproduces the same samples too.
"""

from __future__ import annotations

import warnings

import numpy as np

GENERATORS = ("uniform", "normal")
# smash 1.3 accepts "gaussian" for the normal generator and keeps the name the user gave.
GENERATOR_ALIASES = {"gaussian": "normal"}


class Samples:
    """`n_sample` values of each variable, one numpy array per name (``samples.cp``).

    Made by `generate_samples`; taken by `smash.multiple_forward_run`.

    Parameters
    ----------
    generator : str
        The generator that drew them (``"uniform"``, ``"normal"``, or the name the user gave).
    names : list of str
        The names of the variables (parameters or initial states).
    values : numpy.ndarray
        The (n_sample, num_vars) values.
    densities : numpy.ndarray or None
        The (n_sample, num_vars) density of the law each value was drawn from (None when unknown).
    """

    def __init__(self, generator: str, names: list[str], values: np.ndarray, densities: np.ndarray | None = None):
        self.generator = generator
        self._names = list(names)
        self._values = np.asarray(values, dtype=np.float64)   # (n_sample, num_vars)
        # Density of the law each value was drawn from (multiset_estimate weighs the samples by it).
        self._densities = None if densities is None else np.asarray(densities, dtype=np.float64)
        self.n_sample = int(self._values.shape[0])

    @property
    def names(self) -> list[str]:
        """The names of the sampled parameters or states, in column order."""
        return list(self._names)

    def __getattr__(self, name):
        names = self.__dict__.get("_names", [])
        if name in names:
            return self._values[:, names.index(name)].copy()
        raise AttributeError(f"Samples has no variable {name!r}; variables: {names}")

    def __dir__(self):
        return [*super().__dir__(), *self._names]

    def __getitem__(self, name: str) -> np.ndarray:
        return self.__getattr__(name)

    def __len__(self) -> int:
        return self.n_sample

    def __repr__(self):
        return f"Samples(generator={self.generator!r}, n_sample={self.n_sample}, names={self._names})"

    def to_numpy(self, axis: int = 0) -> np.ndarray:
        """Get the values as one array.

        Parameters
        ----------
        axis : {0, 1}, default 0
            0 stacks them as (num_vars, n_sample), 1 as (n_sample, num_vars).

        Returns
        -------
        numpy.ndarray
            A copy of the values.
        """
        if axis not in (0, 1, -1):
            raise ValueError(f"axis must be 0 or 1, got {axis!r}")
        return self._values.T.copy() if axis == 0 else self._values.copy()

    def prior_density(self, name: str) -> np.ndarray | None:
        """Density of the law a variable was drawn from, at each of its values.

        Parameters
        ----------
        name : str
            The variable.

        Returns
        -------
        numpy.ndarray or None
            (n_sample,) densities (uniform: 1 / (high - low); normal: the truncated normal
            density); None for samples built without their law.
        """
        if name not in self._names:
            raise AttributeError(f"Samples has no variable {name!r}; variables: {self._names}")
        if self._densities is None:
            return None
        return self._densities[:, self._names.index(name)].copy()

    def to_dataframe(self):
        """Get the values as a table.

        Returns
        -------
        pandas.DataFrame
            One column per variable and one row per sample.
        """
        import pandas as pd

        return pd.DataFrame(self._values, columns=self._names)

    def slice(self, end: int, start: int = 0) -> Samples:
        """Take consecutive samples.

        Parameters
        ----------
        end : int
            One past the last sample taken.
        start : int, default 0
            The first sample taken.

        Returns
        -------
        Samples
            Samples ``start`` .. ``end - 1``.
        """
        if not 0 <= start < end <= self.n_sample:
            raise ValueError(f"slice needs 0 <= start < end <= n_sample = {self.n_sample}, got start={start}, "
                             f"end={end}")
        densities = None if self._densities is None else self._densities[start:end]
        return Samples(self.generator, self._names, self._values[start:end], densities)

    def iterslice(self, by: int = 1):
        """Iterate over successive slices of the samples.

        Parameters
        ----------
        by : int, default 1
            The number of samples per slice (the last one may be shorter).

        Yields
        ------
        Samples
            The next `by` samples.
        """
        if by < 1:
            raise ValueError(f"iterslice needs by >= 1, got {by!r}")
        for start in range(0, self.n_sample, by):
            yield self.slice(min(start + by, self.n_sample), start)


def _check_problem(problem) -> tuple[list[str], np.ndarray]:
    if not isinstance(problem, dict):
        raise TypeError(f"problem must be a dict with keys 'num_vars', 'names', 'bounds', got {type(problem).__name__}")
    missing = [k for k in ("num_vars", "names", "bounds") if k not in problem]
    if missing:
        raise ValueError(f"problem lacks the key(s) {missing} (needs 'num_vars', 'names', 'bounds')")
    names = [str(n) for n in problem["names"]]
    bounds = np.asarray(problem["bounds"], dtype=np.float64)
    nvars = problem["num_vars"]
    if len(names) != nvars or bounds.shape != (nvars, 2):
        raise ValueError(f"problem has num_vars = {nvars} but {len(names)} names and bounds of shape "
                         f"{bounds.shape} (expected ({nvars}, 2))")
    if len(set(names)) != len(names):
        raise ValueError(f"problem names repeat a variable: {names}")
    for name, (low, high) in zip(names, bounds, strict=True):
        if not (np.isfinite(low) and np.isfinite(high) and low < high):
            raise ValueError(f"bounds of {name!r} must be finite with low < high, got [{low}, {high}]")
    return names, bounds


def _truncated_normal(rng, mean, std, low, high, n) -> tuple[np.ndarray, np.ndarray]:
    """`n` draws of the normal law (mean, std) truncated to [low, high], and its density at them."""
    from scipy.stats import truncnorm

    a, b = (low - mean) / std, (high - mean) / std
    values = truncnorm.rvs(a, b, loc=mean, scale=std, size=n, random_state=rng)
    return values, truncnorm.pdf(values, a, b, loc=mean, scale=std)


def _random_state(random_state):
    """The numpy RandomState smash 1.3 draws from: a fresh one seeded with `random_state`,
    numpy's global one when None."""
    if random_state is None:
        return np.random.mtrand._rand
    if isinstance(random_state, bool) or not isinstance(random_state, (int, np.integer)) or random_state < 0:
        raise ValueError(f"random_state must be a non-negative integer or None, got {random_state!r}")
    return np.random.RandomState(int(random_state))


def generate_samples(problem: dict, generator: str = "uniform", n: int = 1000, random_state=None,
                     mean: dict | None = None, coef_std: float | None = None) -> Samples:
    """Draw `n` values of every variable of `problem`, as smash 1.3 draws them.

    Parameters
    ----------
    problem : dict
        ``{"num_vars": k, "names": [...], "bounds": [[low, high], ...]}``.
    generator : str, default "uniform"
        "uniform", or "normal" (alias "gaussian"): a normal law truncated to the bounds.
    n : int, default 1000
        Number of samples.
    random_state : int or None, default None
        Seed of the numpy RandomState the samples are drawn from (None: numpy's global
        random state). The same seed gives smash 1.3's samples.
    mean : dict or None
        Normal generator: mean of some variables (default: the middle of their bounds); a
        mean beyond a bound is allowed (the law is truncated on one side), unknown names
        are ignored with a warning, as in smash 1.3.
    coef_std : float or None
        Normal generator: standard deviation ``(high - low) / coef_std`` (default 3).
        mean and coef_std are ignored, with a warning, by the uniform generator.

    Returns
    -------
    Samples
        The drawn values, one array per variable name.
    """
    names, bounds = _check_problem(problem)
    if generator not in GENERATORS and generator not in GENERATOR_ALIASES:
        raise ValueError(f"Unknown generator {generator!r}; valid: {list(GENERATORS) + list(GENERATOR_ALIASES)}")
    law = GENERATOR_ALIASES.get(generator, generator)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if law == "uniform" and (mean is not None or coef_std is not None):
        # smash 1.3 ignores them silently; a warning keeps its scripts running and says so.
        warnings.warn("mean and coef_std apply to the 'normal' generator only: ignored with 'uniform'",
                      UserWarning, stacklevel=2)
    rng = _random_state(random_state)
    values = np.empty((int(n), len(names)))
    densities = np.empty_like(values)
    if law == "uniform":
        # One variable after the other from the same stream: smash 1.3's order.
        for i, (low, high) in enumerate(bounds):
            values[:, i] = rng.uniform(low, high, size=int(n))
            densities[:, i] = 1.0 / (high - low)
        return Samples(generator, names, values, densities)

    _draw_normal(rng, values, densities, names, bounds, mean, coef_std)
    return Samples(generator, names, values, densities)


def _draw_normal(rng, values: np.ndarray, densities: np.ndarray, names, bounds, mean, coef_std) -> None:
    """Fill `values` (and their prior `densities`) column by column with normal laws truncated to
    `bounds`, in smash 1.3's order."""
    n = values.shape[0]
    mean = dict(mean or {})
    unknown = sorted(set(mean) - set(names))
    if unknown:
        # As smash 1.3: a warning, and the key is not used.
        warnings.warn(f"mean names unknown variable(s) {unknown}, ignored; variables: {names}", UserWarning,
                      stacklevel=3)
    coef_std = 3.0 if coef_std is None else float(coef_std)
    if not coef_std > 0:
        raise ValueError(f"coef_std must be positive, got {coef_std}")
    for i, (name, (low, high)) in enumerate(zip(names, bounds, strict=True)):
        centre = float(mean.get(name, 0.5 * (low + high)))
        if not np.isfinite(centre):
            raise ValueError(f"mean of {name!r} must be a finite number, got {centre}")
        # A mean beyond a bound is a normal law truncated on one side of it (smash 1.3 draws it too).
        values[:, i], densities[:, i] = _truncated_normal(rng, centre, (high - low) / coef_std, low, high, n)
