"""The net inside the hybrid structures: sizes, initial values, packing.

Sizes come from the registry (`nn: {inputs, outputs}` of the module) and
setup["hidden_neuron"]. Layer l maps n_in -> n_out with weight_l of shape
(n_out, n_in) and bias_l of shape (n_out,), as in smash 1.x. The Fortran core
reads all layers as one flat vector, each layer's matrix in column-major
order followed by its bias (fortran/operators/mlp.f90).
"""

from __future__ import annotations

import numpy as np

INITIALIZERS = ("zeros", "uniform", "normal", "glorot_uniform", "glorot_normal", "he_uniform", "he_normal")


def hidden_sizes(hidden_neuron) -> tuple[int, ...]:
    """setup["hidden_neuron"] as a tuple of one or two positive layer sizes."""
    if isinstance(hidden_neuron, (int, np.integer)) and not isinstance(hidden_neuron, bool):
        sizes = (int(hidden_neuron),)
    elif isinstance(hidden_neuron, (tuple, list)) and all(
        isinstance(n, (int, np.integer)) and not isinstance(n, bool) for n in hidden_neuron
    ):
        sizes = tuple(int(n) for n in hidden_neuron)
    else:
        raise TypeError(f"setup['hidden_neuron'] must be an int or a tuple of ints, got {hidden_neuron!r}")
    if not 1 <= len(sizes) <= 2:
        raise ValueError(
            f"setup['hidden_neuron'] = {hidden_neuron!r} asks for {len(sizes)} hidden layers; "
            "the hybrid structures take one (an int) or two (a tuple of two ints)"
        )
    if any(n < 1 for n in sizes):
        raise ValueError(f"setup['hidden_neuron'] = {hidden_neuron!r}: every layer needs at least one neuron")
    return sizes


def layer_shapes(n_in: int, hidden: tuple[int, ...], n_out: int) -> list[tuple[int, int]]:
    """(n_out, n_in) of each layer, input to output."""
    sizes = [n_in, *hidden, n_out]
    return [(sizes[i + 1], sizes[i]) for i in range(len(sizes) - 1)]


def core_sizes(shapes) -> list[int]:
    """[nin, nh1, nh2, nout, nweights] for SetupDT (nh2 = 0 with one hidden layer)."""
    n_in = shapes[0][1]
    n_out = shapes[-1][0]
    hidden = [s[0] for s in shapes[:-1]]
    nh1 = hidden[0]
    nh2 = hidden[1] if len(hidden) > 1 else 0
    return [n_in, nh1, nh2, n_out, sum(o * (i + 1) for o, i in shapes)]


def draw(initializer: str, shapes, random_state=None) -> list[np.ndarray]:
    """One float32 array per entry of `shapes`, drawn in layer order from one generator.

    Laws of smash's math documentation: uniform U(+-sqrt(1/n_in)), normal
    N(0, 0.01), glorot/he as usual. Weights use shape[-1] as n_in; biases,
    given as 1-tuples, use n_in = 1 (so "uniform" biases are U(-1, 1)).
    """
    if initializer not in INITIALIZERS:
        raise ValueError(f"Unknown initializer {initializer!r}; choose one of {list(INITIALIZERS)}")
    rng = np.random.RandomState(random_state)
    out = []
    for shape in shapes:
        n_in = shape[-1] if len(shape) > 1 else 1
        n_out = shape[0]
        if initializer == "zeros":
            arr = np.zeros(shape)
        elif initializer == "uniform":
            limit = np.sqrt(1.0 / n_in)
            arr = rng.uniform(-limit, limit, shape)
        elif initializer == "normal":
            arr = rng.normal(0.0, 0.01, shape)
        elif initializer == "glorot_uniform":
            limit = np.sqrt(6.0 / (n_in + n_out))
            arr = rng.uniform(-limit, limit, shape)
        elif initializer == "glorot_normal":
            arr = rng.normal(0.0, np.sqrt(2.0 / (n_in + n_out)), shape)
        elif initializer == "he_uniform":
            limit = np.sqrt(6.0 / n_in)
            arr = rng.uniform(-limit, limit, shape)
        else:
            arr = rng.normal(0.0, np.sqrt(2.0 / n_in), shape)
        out.append(arr.astype(np.float32))
    return out


def check_values(kind: str, values, shapes) -> list[np.ndarray]:
    """User arrays for every layer's weight or bias, checked against `shapes`."""
    if isinstance(values, np.ndarray) or not isinstance(values, (list, tuple)):
        raise TypeError(f"{kind} values must be a list of {len(shapes)} arrays (one per layer)")
    if len(values) != len(shapes):
        raise ValueError(f"{kind} needs {len(shapes)} arrays (one per layer), got {len(values)}")
    out = []
    for i, (val, shape) in enumerate(zip(values, shapes, strict=True), start=1):
        arr = np.asarray(val, dtype=np.float32)
        if arr.shape != shape:
            raise ValueError(f"{kind}_{i} must have shape {shape}, got {arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{kind}_{i} has NaN or inf values")
        out.append(arr)
    return out


def pack(weights, biases) -> np.ndarray:
    """Flat float64 vector in the core's layout."""
    parts = []
    for w, b in zip(weights, biases, strict=True):
        parts.append(np.asarray(w, dtype=np.float64).ravel(order="F"))
        parts.append(np.asarray(b, dtype=np.float64).ravel())
    return np.concatenate(parts) if parts else np.zeros(0)


def unpack(flat, shapes) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Inverse of `pack` (float64 arrays)."""
    weights, biases, off = [], [], 0
    for n_out, n_in in shapes:
        weights.append(np.asarray(flat[off:off + n_out * n_in]).reshape((n_out, n_in), order="F"))
        off += n_out * n_in
        biases.append(np.asarray(flat[off:off + n_out]).copy())
        off += n_out
    return weights, biases


def parameter_names(nlayers: int) -> list[str]:
    """['weight_1', 'bias_1', 'weight_2', 'bias_2', ...] as smash lists them."""
    return [f"{kind}_{i}" for i in range(1, nlayers + 1) for kind in ("weight", "bias")]
