"""Neural networks: `Net` and its layers, the adaptive optimizers, the weights of hybrid structures and
the training of ANN regionalization."""
