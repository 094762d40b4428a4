"""Layers of smash.factory.Net, in numpy (float64): forward, backward and parameter counts.

Layouts and names follow smash 1.x: a dense layer stores its weight as
(neurons, inputs) and acts on the last axis (per pixel); a Conv2D layer stores
(filters, channels * fh * fw), the kernel read in (channel, row, column) order,
and acts on a whole (nrow, ncol, channels) map with "same" padding and stride 1
(an even filter pads one cell less before than after, as TensorFlow). Biases
are (1, outputs). `layer_name()`, `output_shape()` and `n_params()` are methods,
as in smash.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

ACTIVATIONS = {"relu": "ReLU", "leakyrelu": "LeakyReLU", "tanh": "TanH", "sigmoid": "Sigmoid",
               "softmax": "Softmax", "silu": "SiLU", "elu": "ELU", "selu": "SELU", "softplus": "SoftPlus"}
INITIALIZERS = ("zeros", "uniform", "normal", "glorot_uniform", "glorot_normal", "he_uniform", "he_normal")
_SELU_ALPHA, _SELU_SCALE = 1.6732632423543772, 1.0507009873554805
# smash 1.x's ELU saturates at -0.1 (alpha = 0.1, measured with forward_pass), not Keras's -1.
_ELU_ALPHA = 0.1


def positive_int(value, what: str) -> int:
    """`value` as an int >= 1, or a ValueError/TypeError naming `what` (a layer size given as 0, -3,
    2.5 or '8' would otherwise only fail later, in a reshape)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer, float, np.floating)):
        raise TypeError(f"{what} must be a positive integer, got {value!r}")
    if not np.isfinite(value) or value != int(value) or value < 1:
        raise ValueError(f"{what} must be a positive integer, got {value!r}")
    return int(value)


def check_initializer(name):
    if name not in INITIALIZERS:
        raise ValueError(f"Unknown initializer {name!r}; choose one of {list(INITIALIZERS)}")
    return name


def draw(initializer, shape, fan_in, fan_out, rng):
    """Initial values (laws of smash's math documentation)."""
    if initializer == "zeros":
        return np.zeros(shape)
    if initializer == "uniform":
        return rng.uniform(-np.sqrt(1 / fan_in), np.sqrt(1 / fan_in), shape)
    if initializer == "normal":
        return rng.normal(0.0, 0.01, shape)
    if initializer == "glorot_uniform":
        limit = np.sqrt(6 / (fan_in + fan_out))
        return rng.uniform(-limit, limit, shape)
    if initializer == "glorot_normal":
        return rng.normal(0.0, np.sqrt(2 / (fan_in + fan_out)), shape)
    if initializer == "he_uniform":
        return rng.uniform(-np.sqrt(6 / fan_in), np.sqrt(6 / fan_in), shape)
    return rng.normal(0.0, np.sqrt(2 / fan_in), shape)


class Layer:
    """A layer of a Net: `input_shape`, `trainable`, and the methods `layer_name()`, `output_shape()`,
    `n_params()` (smash 1.x names)."""

    trainable = False

    def __init__(self, input_shape):
        self.input_shape = tuple(positive_int(n, f"{type(self).__name__} input_shape {tuple(input_shape)!r} entry")
                                 for n in input_shape)
        self._output_shape = self.input_shape

    def layer_name(self) -> str:
        """The name shown in the Net summary, e.g. 'Dense' or 'Activation (ReLU)'."""
        return type(self).__name__

    def output_shape(self) -> tuple:
        """Shape of the layer's output for one input of shape `input_shape`."""
        return self._output_shape

    def n_params(self) -> int:
        """Number of weights and biases."""
        return 0

    def forward(self, x, training=False, rng=None):
        return x

    def backward(self, dy):
        return dy


class Trainable(Layer):
    """A layer with `weight` and `bias` (None until initialised) and their initializers."""

    def __init__(self, input_shape, kernel_initializer, bias_initializer):
        super().__init__(input_shape)
        self.kernel_initializer = check_initializer(kernel_initializer)
        self.bias_initializer = check_initializer(bias_initializer)
        self.trainable = True
        self.weight = self.bias = None
        self.grad_weight = self.grad_bias = None
        self.layer_input = None   # the last input seen (kept for the backward pass)

    def n_params(self) -> int:
        return int(np.prod(self.weight_shape) + np.prod(self.bias_shape))

    @property
    def bias_shape(self):
        return (1, self._output_shape[-1])

    def initialize(self, rng, weight=True, bias=True):
        """Draw the weight and/or bias from `rng` (weight first), as smash 1.x draws them."""
        fan_in, fan_out = self.fans
        if weight:
            self.weight = draw(self.kernel_initializer, self.weight_shape, fan_in, fan_out, rng)
        if bias:
            self.bias = draw(self.bias_initializer, self.bias_shape, 1, self._output_shape[-1], rng)


class Dense(Trainable):
    """Fully connected layer: y = x @ weight.T + bias with weight of shape (neurons, inputs)."""

    def __init__(self, input_shape, neurons, kernel_initializer="glorot_uniform", bias_initializer="zeros"):
        super().__init__(input_shape, kernel_initializer, bias_initializer)
        self.neurons = positive_int(neurons, "Dense layer neurons")
        self._output_shape = (*self.input_shape[:-1], self.neurons)
        self.weight_shape = (self.neurons, self.input_shape[-1])
        self.fans = (self.input_shape[-1], self.neurons)

    def forward(self, x, training=False, rng=None):
        self.layer_input = x
        return x @ self.weight.T + self.bias

    def backward(self, dy):
        n_out, n_in = self.weight_shape
        dy2 = dy.reshape(-1, n_out)
        self.grad_weight = dy2.T @ self.layer_input.reshape(-1, n_in)
        self.grad_bias = dy2.sum(axis=0, keepdims=True)
        return dy @ self.weight


class Conv2D(Trainable):
    """2-D convolution, "same" padding, stride 1; weight (filters, channels * fh * fw)."""

    def __init__(self, input_shape, filters, filter_shape, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros"):
        super().__init__(input_shape, kernel_initializer, bias_initializer)
        if len(self.input_shape) != 3:
            raise ValueError(f"Conv2D needs an input of shape (nrow, ncol, channels), got {self.input_shape}")
        pair = (filter_shape, filter_shape) if np.isscalar(filter_shape) else tuple(filter_shape)
        if len(pair) != 2:
            raise ValueError(f"Conv2D layer filter_shape must be an int or a (rows, cols) pair, got {filter_shape!r}")
        fh, fw = pair
        self.filters = positive_int(filters, "Conv2D layer filters")
        self.filter_shape = (positive_int(fh, "Conv2D layer filter_shape entry"),
                             positive_int(fw, "Conv2D layer filter_shape entry"))
        channels = self.input_shape[2]
        self._output_shape = (*self.input_shape[:2], self.filters)
        self.weight_shape = (self.filters, channels * self.filter_shape[0] * self.filter_shape[1])
        # Fans as smash 1.3 draws them (measured): receptive field x channels in, filters out.
        self.fans = self.weight_shape[::-1]

    def _kernel(self):
        fh, fw = self.filter_shape
        return self.weight.reshape(self.filters, self.input_shape[2], fh, fw)

    def _pad(self, x):
        fh, fw = self.filter_shape
        return np.pad(x, (((fh - 1) // 2, fh // 2), ((fw - 1) // 2, fw // 2), (0, 0)))

    def forward(self, x, training=False, rng=None):
        windows = sliding_window_view(self._pad(x), self.filter_shape, axis=(0, 1))   # (H, W, C, fh, fw)
        self._windows = windows
        return np.einsum("hwcij,fcij->hwf", windows, self._kernel(), optimize=True) + self.bias[0]

    def backward(self, dy):
        self.grad_weight = np.einsum("hwcij,hwf->fcij", self._windows, dy, optimize=True).reshape(self.weight_shape)
        self.grad_bias = dy.sum(axis=(0, 1))[None, :]
        nrow, ncol = self.input_shape[:2]
        fh, fw = self.filter_shape
        kernel = self._kernel()
        dxp = np.zeros((nrow + fh - 1, ncol + fw - 1, self.input_shape[2]))
        for i in range(fh):
            for j in range(fw):
                dxp[i:i + nrow, j:j + ncol] += dy @ kernel[:, :, i, j]
        return dxp[(fh - 1) // 2:(fh - 1) // 2 + nrow, (fw - 1) // 2:(fw - 1) // 2 + ncol]


class Flatten(Layer):
    """(nrow, ncol, channels) -> (nrow * ncol, channels): one row per pixel for the dense layers after it."""

    def __init__(self, input_shape):
        super().__init__(input_shape)
        if len(self.input_shape) != 3:
            raise ValueError(f"Flatten follows a Conv2D output (nrow, ncol, channels), got {self.input_shape}")
        self._output_shape = (self.input_shape[0] * self.input_shape[1], self.input_shape[2])

    def forward(self, x, training=False, rng=None):
        return x.reshape(self._output_shape)

    def backward(self, dy):
        return dy.reshape(self.input_shape)


class Activation(Layer):
    """Element-wise activation; `activation_name` as smash shows it ('ReLU', 'TanH', ...)."""

    def __init__(self, input_shape, name):
        super().__init__(input_shape)
        key = str(name).lower()
        if key not in ACTIVATIONS:
            raise ValueError(f"Unknown activation {name!r}; choose one of {list(ACTIVATIONS)}")
        self._key = key
        self.activation_name = ACTIVATIONS[key]

    def layer_name(self) -> str:
        return f"Activation ({self.activation_name})"

    def forward(self, x, training=False, rng=None):
        self._x = x
        a = self._key
        if a == "relu":
            y = np.maximum(x, 0)
        elif a == "leakyrelu":
            y = np.where(x > 0, x, 0.01 * x)
        elif a == "tanh":
            y = np.tanh(x)
        elif a in ("sigmoid", "silu"):
            s = 0.5 * (1 + np.tanh(0.5 * x))     # overflow-free logistic
            self._s = s
            y = s if a == "sigmoid" else x * s
        elif a == "softmax":
            e = np.exp(x - x.max(axis=-1, keepdims=True))
            y = e / e.sum(axis=-1, keepdims=True)
        elif a == "elu":
            y = np.where(x > 0, x, _ELU_ALPHA * np.expm1(np.minimum(x, 0)))
        elif a == "selu":
            y = _SELU_SCALE * np.where(x > 0, x, _SELU_ALPHA * np.expm1(np.minimum(x, 0)))
        else:
            y = np.logaddexp(0, x)
        self._y = y
        return y

    def backward(self, dy):
        a, x, y = self._key, self._x, self._y
        if a == "relu":
            return dy * (x > 0)
        if a == "leakyrelu":
            return dy * np.where(x > 0, 1.0, 0.01)
        if a == "tanh":
            return dy * (1 - y * y)
        if a == "sigmoid":
            return dy * y * (1 - y)
        if a == "silu":
            s = self._s
            return dy * (s + x * s * (1 - s))
        if a == "softmax":
            return y * (dy - (dy * y).sum(axis=-1, keepdims=True))
        if a == "elu":
            return dy * np.where(x > 0, 1.0, y + _ELU_ALPHA)
        if a == "selu":
            return dy * np.where(x > 0, _SELU_SCALE, y + _SELU_SCALE * _SELU_ALPHA)
        return dy * 0.5 * (1 + np.tanh(0.5 * x))


class Scale(Layer):
    """Min-max scaling of a bounded activation's range onto per-output bounds."""

    scale_name = "MinMaxScale"

    def __init__(self, input_shape, bounds, previous):
        super().__init__(input_shape)
        if not isinstance(previous, Activation) or previous._key not in ("tanh", "sigmoid", "softmax"):
            raise ValueError("add_scale needs a bounded activation before it (tanh, sigmoid or softmax)")
        try:
            bounds = np.asarray(bounds, dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"add_scale bounds must be (low, high) numbers, one pair per output, "
                            f"got {bounds!r}") from None
        if bounds.shape != (self.input_shape[-1], 2):
            raise ValueError(f"add_scale needs {self.input_shape[-1]} (low, high) bounds, one per output; "
                             f"got an array of shape {bounds.shape}")
        if not np.all(np.isfinite(bounds)):
            raise ValueError(f"add_scale bounds must be finite, got {bounds.tolist()}")
        if np.any(bounds[:, 0] >= bounds[:, 1]):
            raise ValueError(f"add_scale bounds must satisfy low < high, got {bounds.tolist()}")
        self.lower, self.upper = bounds[:, 0], bounds[:, 1]
        # tanh spans (-1, 1), sigmoid and softmax (0, 1).
        self._shift, self._span = (1.0, 2.0) if previous._key == "tanh" else (0.0, 1.0)

    def layer_name(self) -> str:
        return f"Scale ({self.scale_name})"

    def forward(self, x, training=False, rng=None):
        return self.lower + (self.upper - self.lower) * (x + self._shift) / self._span

    def backward(self, dy):
        return dy * (self.upper - self.lower) / self._span


class Dropout(Layer):
    """Sets each output to zero with probability `drop_rate` while training and in forward_pass, without
    rescaling the kept ones (smash 1.3's dropout, measured); inactive for the trained net's final maps."""

    def __init__(self, input_shape, drop_rate):
        super().__init__(input_shape)
        if isinstance(drop_rate, (bool, np.bool_)) or not isinstance(drop_rate, (int, float, np.integer, np.floating)):
            raise TypeError(f"drop_rate must be a number in [0, 1), got {drop_rate!r}")
        if not 0 <= drop_rate < 1:
            raise ValueError(f"drop_rate must be in [0, 1), got {drop_rate!r}")
        self.drop_rate = float(drop_rate)

    def forward(self, x, training=False, rng=None):
        if not training or self.drop_rate == 0:
            self._mask = None
            return x
        self._mask = rng.random_sample(x.shape) >= self.drop_rate
        return x * self._mask

    def backward(self, dy):
        return dy if self._mask is None else dy * self._mask
