"""smash.factory.Net: a small sequential neural network for learnable regionalization.

Built layer by layer (dense, conv2d, flatten, activation, scale, dropout),
initialised at training time (or by set_weight / set_bias) and trained by
smash.optimize(mapping="ann") with adam, sgd, adagrad or rmsprop. The public
API, weight layouts and seeded draws are smash 1.x's (checked against
hydro-smash 1.3 in tests/unit/nn/test_net.py).
"""

from __future__ import annotations

import copy
import numbers

import numpy as np

from smash.nn.adaptive import RULES as OPTIMIZERS
from smash.nn.adaptive import AdaptiveStep
from smash.nn.layers import Activation, Conv2D, Dense, Dropout, Flatten, Scale, Trainable, positive_int


class Net:
    """A sequential neural network (smash 1.x API).

    Build it with `add_dense`, `add_conv2d`, `add_flatten`, `add_scale`,
    `add_activation` and `add_dropout`; weights and biases are drawn when
    training starts (or set with `set_weight` / `set_bias`). `layers` is the
    list of layers, `history` the training record ('loss_train', 'proj_grad').
    Weight layouts are smash's: dense (neurons, inputs), Conv2D
    (filters, channels * fh * fw); biases (1, outputs).
    """

    def __init__(self):
        self.layers = []
        self.history = {"loss_train": [], "proj_grad": []}
        self._optimizer = None

    # ------------------------------------------------------------ building
    def _next_input(self, input_shape, what):
        if self.layers:
            return self.layers[-1].output_shape()
        if input_shape is None:
            raise ValueError(f"The first layer ({what}) needs input_shape")
        shape = (input_shape,) if np.isscalar(input_shape) else tuple(input_shape)
        return tuple(positive_int(n, f"{what} input_shape {input_shape!r} entry") for n in shape)

    def _add(self, layer, activation=None):
        self.layers.append(layer)
        if activation is not None:
            self.add_activation(activation)

    def add_dense(self, neurons, input_shape=None, activation=None, kernel_initializer="glorot_uniform",
                  bias_initializer="zeros"):
        """Add a fully connected layer (and an activation layer after it if given).

        Parameters
        ----------
        neurons : int
            The number of outputs.
        input_shape : int or tuple of int, optional
            The input's shape; required for the first layer only (e.g. ``model.setup.nd`` descriptors).
        activation : str, optional
            An activation layer to add after it (see `add_activation`).
        kernel_initializer, bias_initializer : str, default "glorot_uniform", "zeros"
            How `set_weight` / `set_bias` (or the training, when not set before) draw the weights and biases:
            ``"zeros"``, ``"uniform"``, ``"normal"``, ``"glorot_uniform"``, ``"glorot_normal"``,
            ``"he_uniform"``, ``"he_normal"``.
        """
        shape = self._next_input(input_shape, "add_dense")
        positive_int(neurons, f"add_dense (layer {len(self.layers) + 1}) neurons")
        self._add(Dense(shape, neurons, kernel_initializer, bias_initializer), activation)

    def add_conv2d(self, filters, filter_shape, input_shape=None, activation=None,
                   kernel_initializer="glorot_uniform", bias_initializer="zeros"):
        """Add a 2-D convolution ("same" padding, stride 1), and an activation layer after it if given.

        Parameters
        ----------
        filters : int
            The number of filters (output channels).
        filter_shape : int or tuple of int
            The filters' (rows, columns).
        input_shape : tuple of int, optional
            The input's (nrow, ncol, channels); required for the first layer only (e.g.
            ``model.physio_data.descriptor.shape``).
        activation : str, optional
            An activation layer to add after it (see `add_activation`).
        kernel_initializer, bias_initializer : str, default "glorot_uniform", "zeros"
            How `set_weight` / `set_bias` (or the training, when not set before) draw the weights and biases:
            ``"zeros"``, ``"uniform"``, ``"normal"``, ``"glorot_uniform"``, ``"glorot_normal"``,
            ``"he_uniform"``, ``"he_normal"``.
        """
        shape = self._next_input(input_shape, "add_conv2d")
        positive_int(filters, f"add_conv2d (layer {len(self.layers) + 1}) filters")
        self._add(Conv2D(shape, filters, filter_shape, kernel_initializer, bias_initializer), activation)

    def add_flatten(self):
        """Reshape a (nrow, ncol, channels) map into (nrow * ncol, channels) rows."""
        self._add(Flatten(self._next_input(None, "add_flatten")))

    def add_activation(self, name):
        """Add an activation layer.

        Parameters
        ----------
        name : str
            One of relu, leakyrelu, tanh, sigmoid, softmax, silu, elu, selu, softplus (any case).
        """
        self._add(Activation(self._next_input(None, "add_activation"), name))

    def add_scale(self, bounds):
        """Scale the outputs of the previous bounded activation (min-max) onto bounds.

        Parameters
        ----------
        bounds : list of tuple of float
            One (low, high) per output, e.g. the calibration bounds of the parameters the net maps to.
        """
        shape = self._next_input(None, "add_scale")
        self._add(Scale(shape, bounds, self.layers[-1]))

    def add_dropout(self, drop_rate):
        """Add a dropout layer, which drops each output at random while training.

        Parameters
        ----------
        drop_rate : float
            The probability of dropping an output, in [0, 1).
        """
        self._add(Dropout(self._next_input(None, "add_dropout"), drop_rate))

    # ---------------------------------------------------------- parameters
    @property
    def _trainable_layers(self):
        return [layer for layer in self.layers if isinstance(layer, Trainable)]

    @property
    def input_shape(self):
        """The shape of the net's input (its first layer's), None for an empty net."""
        return self.layers[0].input_shape if self.layers else None

    @property
    def output_shape(self):
        """The shape of the net's output (its last layer's), None for an empty net."""
        return self.layers[-1].output_shape() if self.layers else None

    def _set(self, attr, value, random_state):
        layers = self._trainable_layers
        if value is None:
            # One stream over the layers, as smash 1.x draws them.
            rng = np.random.RandomState(random_state)
            for layer in layers:
                layer.initialize(rng, weight=attr == "weight", bias=attr == "bias")
            return
        if not isinstance(value, (list, tuple)):
            raise TypeError(f"set_{attr} takes a list with one value per dense/conv2d layer, "
                            f"not {type(value).__name__}")
        if len(value) != len(layers):
            raise ValueError(f"set_{attr} needs {len(layers)} values (one per dense/conv2d layer), got {len(value)}")
        arrays = []
        for i, (layer, item) in enumerate(zip(layers, value, strict=True)):
            shape = tuple(layer.weight_shape if attr == "weight" else layer.bias_shape)
            if isinstance(item, numbers.Real) and not isinstance(item, bool):
                if not np.isfinite(item):
                    raise ValueError(f"{attr} of layer {i} ({layer.layer_name()}) must be finite, got {item!r}")
                arrays.append(np.full(shape, float(item)))
            elif isinstance(item, np.ndarray):
                if item.shape != shape:
                    raise ValueError(f"{attr} of layer {i} ({layer.layer_name()}) must have shape {shape}, "
                                     f"got {item.shape}")
                if item.dtype.kind not in "iuf":
                    raise TypeError(f"{attr} of layer {i} ({layer.layer_name()}) must hold numbers, "
                                    f"got an array of dtype {item.dtype}")
                if not np.all(np.isfinite(item)):
                    raise ValueError(f"{attr} of layer {i} ({layer.layer_name()}) holds NaN or inf")
                arrays.append(np.array(item, dtype=np.float64))
            else:
                raise TypeError(f"set_{attr}: each value must be a number or a numpy array, "
                                f"not {type(item).__name__} (layer {i})")
        for layer, arr in zip(layers, arrays, strict=True):
            setattr(layer, attr, arr)

    def get_weight(self):
        """Get the weights of the dense and conv2d layers.

        Returns
        -------
        list of numpy.ndarray or None
            One copy per layer (dense ``(neurons, inputs)``, conv2d ``(filters, channels * rows * columns)``),
            None for a layer not initialised yet.
        """
        return [None if layer.weight is None else layer.weight.copy() for layer in self._trainable_layers]

    def get_bias(self):
        """Get the biases of the dense and conv2d layers.

        Returns
        -------
        list of numpy.ndarray or None
            One (1, outputs) copy per layer, None for a layer not initialised yet.
        """
        return [None if layer.bias is None else layer.bias.copy() for layer in self._trainable_layers]

    def set_weight(self, value=None, random_state=None):
        """Set or draw the weights of the dense and conv2d layers.

        Parameters
        ----------
        value : list of float or numpy.ndarray, optional
            One number (filling the layer) or one array of the layer's weight shape per dense or conv2d
            layer; without it, the weights are drawn with each layer's kernel initializer.
        random_state : int, optional
            The seed of the draw.
        """
        self._set("weight", value, random_state)

    def set_bias(self, value=None, random_state=None):
        """Set or draw the biases of the dense and conv2d layers.

        Parameters
        ----------
        value : list of float or numpy.ndarray, optional
            One number or one (1, outputs) array per dense or conv2d layer; without it, the biases are
            drawn with each layer's bias initializer.
        random_state : int, optional
            The seed of the draw.
        """
        self._set("bias", value, random_state)

    def set_trainable(self, trainable):
        """Freeze or train each layer.

        Parameters
        ----------
        trainable : list of bool
            One flag per layer of `layers` (activations included, as in smash): False freezes the layer.
        """
        if len(trainable) != len(self.layers):
            raise ValueError(f"set_trainable needs {len(self.layers)} booleans (one per layer, activations "
                             f"included), got {len(trainable)}")
        for i, flag in enumerate(trainable):
            if not (isinstance(flag, (bool, np.bool_)) or (isinstance(flag, (int, np.integer)) and flag in (0, 1))):
                raise TypeError(f"set_trainable: the flag of layer {i} ({self.layers[i].layer_name()}) must be "
                                f"True or False, got {flag!r}")
        for layer, flag in zip(self.layers, trainable, strict=True):
            layer.trainable = bool(flag)

    def forward_pass(self, x):
        """Compute the net's output for an input.

        A dense-first net maps one row of descriptors to an output of shape (1, outputs);
        a conv-first net maps a (nrow, ncol, channels) map. Dropout layers drop outputs at
        random (numpy's global generator), as smash 1.3's forward_pass does.

        Parameters
        ----------
        x : numpy.ndarray
            The input, of the first layer's input shape.

        Returns
        -------
        numpy.ndarray
            The output of the last layer.

        Raises
        ------
        ValueError
            When the net has no layers, its weights are not set, or `x` has another shape.
        """
        if not isinstance(x, np.ndarray):
            raise TypeError(f"forward_pass: x must be a numpy array, not {type(x).__name__}")
        if not self.layers:
            raise ValueError("forward_pass: the Net has no layers")
        if any(layer.weight is None or layer.bias is None for layer in self._trainable_layers):
            raise ValueError("forward_pass: the weights or biases are not set yet (set_weight / set_bias)")
        if x.shape != tuple(self.input_shape):
            raise ValueError(f"forward_pass: x has shape {x.shape}, the net takes {tuple(self.input_shape)}")
        y = x.astype(np.float64)
        for layer in self.layers:
            y = layer.forward(y, training=True, rng=np.random)
        return y

    # ------------------------------------------------------------ training
    def _initialize(self, random_state=None):
        """Draw the weights and biases not set yet: one stream, each layer's weight then bias, which
        are smash 1.3's draws for the same random_state (measured)."""
        rng = np.random.RandomState(random_state)
        for layer in self._trainable_layers:
            layer.initialize(rng, weight=layer.weight is None, bias=layer.bias is None)
        self._rng = rng

    def _compile(self, optimizer="adam", learning_rate=0.001, random_state=None):
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"Unknown optimizer {optimizer!r} for a Net; choose one of {list(OPTIMIZERS)}")
        if not self.layers:
            raise ValueError("The Net has no layers")
        self._initialize(random_state)
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

    def _update(self):
        # smash 1.3's Net corrects adam's moment bias with the first step's factors at every step
        # (measured: a constant gradient gives steps lr, 1.34 lr, 1.57 lr, ...): the counter stays at 1.
        self._optimizer.t = 1
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
        """Copy the net.

        Returns
        -------
        Net
            A deep copy (layers, weights, history).
        """
        return copy.deepcopy(self)

    # ------------------------------------------------------------- display
    def __repr__(self):
        rows = [(layer.layer_name(), f"{layer.input_shape}/{layer.output_shape()}", str(layer.n_params()))
                for layer in self.layers]
        header = ("Layer Type", "Input/Output Shape", "Num Parameters")
        w1 = max(len(r[0]) for r in [*rows, header]) + 2
        w2 = max(len(r[1]) for r in [*rows, header]) + 2
        w3 = max(len(r[2]) for r in [*rows, header])
        lines = [f"| {a:<{w1}}{b:<{w2}}{c:<{w3}} |" for a, b, c in [header, *rows]]
        border = "+" + "-" * (len(lines[0]) - 2) + "+"
        total = sum(layer.n_params() for layer in self.layers)
        trainable = sum(layer.n_params() for layer in self._trainable_layers if layer.trainable)
        body = [border, *lines[1:]] if rows else []
        return "\n".join([border, lines[0], *body, border, f"Total parameters: {total}",
                          f"Trainable parameters: {trainable}"])
