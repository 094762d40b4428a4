"""smash.factory.Net: a small sequential neural network for learnable regionalization.

Built layer by layer (dense, conv2d, flatten, activation, scale, dropout),
initialised at training time (or by set_weight / set_bias) and trained by
smash.optimize(mapping="ann") with adam, sgd, adagrad or rmsprop.
"""

from __future__ import annotations

import copy

import numpy as np

from smash.adaptive import RULES as OPTIMIZERS
from smash.adaptive import AdaptiveStep
from smash.factory.net_layers import Activation, Conv2D, Dense, Dropout, Flatten, Scale, Trainable


class Net:
    """A sequential network; see add_dense, add_conv2d, add_flatten, add_scale, add_activation, add_dropout."""

    def __init__(self):
        self.layers = []
        self.history = {"loss_train": [], "proj_grad": []}
        self._optimizer = None

    # ------------------------------------------------------------ building
    def _next_input(self, input_shape, what):
        if self.layers:
            return self.layers[-1].output_shape
        if input_shape is None:
            raise ValueError(f"The first layer ({what}) needs input_shape")
        return (int(input_shape),) if np.isscalar(input_shape) else tuple(int(n) for n in input_shape)

    def _add(self, layer, activation=None):
        self.layers.append(layer)
        if activation is not None:
            self.add_activation(activation)

    def add_dense(self, neurons, input_shape=None, activation=None, kernel_initializer="glorot_uniform",
                  bias_initializer="zeros"):
        shape = self._next_input(input_shape, "add_dense")
        self._add(Dense(shape, neurons, kernel_initializer, bias_initializer), activation)

    def add_conv2d(self, filters, filter_shape, input_shape=None, activation=None,
                   kernel_initializer="glorot_uniform", bias_initializer="zeros"):
        shape = self._next_input(input_shape, "add_conv2d")
        self._add(Conv2D(shape, filters, filter_shape, kernel_initializer, bias_initializer), activation)

    def add_flatten(self):
        self._add(Flatten(self._next_input(None, "add_flatten")))

    def add_activation(self, name):
        self._add(Activation(self._next_input(None, "add_activation"), name))

    def add_scale(self, bounds):
        shape = self._next_input(None, "add_scale")
        self._add(Scale(shape, bounds, self.layers[-1]))

    def add_dropout(self, drop_rate):
        self._add(Dropout(self._next_input(None, "add_dropout"), drop_rate))

    # ---------------------------------------------------------- parameters
    @property
    def _trainable_layers(self):
        return [layer for layer in self.layers if isinstance(layer, Trainable)]

    @property
    def input_shape(self):
        return self.layers[0].input_shape if self.layers else None

    @property
    def output_shape(self):
        return self.layers[-1].output_shape if self.layers else None

    def _get(self, attr):
        layers = self._trainable_layers
        if any(getattr(layer, attr) is None for layer in layers):
            raise ValueError(f"The {attr}s are not initialised yet: they are drawn at training, or set them with "
                             f"set_{attr}")
        return [getattr(layer, attr).copy() for layer in layers]

    def _set(self, attr, value, random_state):
        layers = self._trainable_layers
        if value is None:
            rng = np.random.RandomState(random_state)
            for layer in layers:
                layer.initialize(rng, weight=attr == "weight", bias=attr == "bias")
            return
        if len(value) != len(layers):
            raise ValueError(f"set_{attr} needs {len(layers)} arrays (one per dense/conv2d layer), got {len(value)}")
        for i, (layer, arr) in enumerate(zip(layers, value, strict=True)):
            arr = np.asarray(arr, dtype=np.float64)
            shape = layer.weight_shape if attr == "weight" else layer.bias_shape
            if arr.shape != tuple(shape):
                raise ValueError(f"{attr} of layer {i} ({layer.layer_name}) must have shape {tuple(shape)}, "
                                 f"got {arr.shape}")
            setattr(layer, attr, arr.copy())

    def get_weight(self):
        return self._get("weight")

    def get_bias(self):
        return self._get("bias")

    def set_weight(self, value=None, random_state=None):
        self._set("weight", value, random_state)

    def set_bias(self, value=None, random_state=None):
        self._set("bias", value, random_state)

    def set_trainable(self, trainable):
        layers = self._trainable_layers
        if len(trainable) != len(layers):
            raise ValueError(f"set_trainable needs {len(layers)} booleans (one per dense/conv2d layer), "
                             f"got {len(trainable)}")
        for layer, flag in zip(layers, trainable, strict=True):
            layer.trainable = bool(flag)

    # ------------------------------------------------------------ training
    def _compile(self, optimizer="adam", learning_rate=0.001, random_state=None):
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"Unknown optimizer {optimizer!r} for a Net; choose one of {list(OPTIMIZERS)}")
        if not self.layers:
            raise ValueError("The Net has no layers")
        rng = np.random.RandomState(random_state)
        for layer in self._trainable_layers:
            layer.initialize(rng, weight=layer.weight is None, bias=layer.bias is None)
        self._rng = rng
        self._optimizer = AdaptiveStep(optimizer, learning_rate)

    def _forward(self, x, training=False):
        y = np.asarray(x, dtype=np.float64)
        for layer in self.layers:
            y = layer.forward(y, training=training, rng=getattr(self, "_rng", np.random))
        return y

    def _backward(self, dy):
        for layer in reversed(self.layers):
            dy = layer.backward(dy)
        return dy

    def _gradient_norm(self) -> float:
        grads = [np.abs(g).max() for layer in self._trainable_layers if layer.trainable
                 for g in (layer.grad_weight, layer.grad_bias) if g is not None and g.size]
        return float(max(grads)) if grads else 0.0

    def _update(self):
        self._optimizer.next_iteration()
        for i, layer in enumerate(self._trainable_layers):
            if not layer.trainable:
                continue
            layer.weight = layer.weight - self._optimizer.step((i, "weight"), layer.grad_weight)
            layer.bias = layer.bias - self._optimizer.step((i, "bias"), layer.grad_bias)

    def _snapshot(self):
        return [(None if layer.weight is None else layer.weight.copy(),
                 None if layer.bias is None else layer.bias.copy()) for layer in self._trainable_layers]

    def _restore(self, snapshot):
        for layer, (w, b) in zip(self._trainable_layers, snapshot, strict=True):
            layer.weight = None if w is None else w.copy()
            layer.bias = None if b is None else b.copy()

    def copy(self):
        return copy.deepcopy(self)

    # ------------------------------------------------------------- display
    def __repr__(self):
        if not self.layers:
            return "Net (empty): add layers with add_dense, add_conv2d, ..."
        rows = [(layer.display_name, f"{layer.input_shape}/{layer.output_shape}", str(layer.n_params))
                for layer in self.layers]
        header = ("Layer Type", "Input/Output Shape", "Num Parameters")
        w1 = max(len(r[0]) for r in [*rows, header]) + 2
        w2 = max(len(r[1]) for r in [*rows, header]) + 2
        w3 = max(len(r[2]) for r in [*rows, header])
        lines = [f"| {a:<{w1}}{b:<{w2}}{c:<{w3}} |" for a, b, c in [header, *rows]]
        border = "+" + "-" * (len(lines[0]) - 2) + "+"
        total = sum(layer.n_params for layer in self.layers)
        trainable = sum(layer.n_params for layer in self._trainable_layers if layer.trainable)
        return "\n".join([border, lines[0], border, *lines[1:], border,
                          f"Total parameters: {total}", f"Trainable parameters: {trainable}"])
