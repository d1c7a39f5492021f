#!/usr/bin/python3
"""Writes the Keras .weights.h5 fixtures of tests/test_keras_weights.cpp with h5py.

The files are laid out the way Keras 3's keras/src/saving/saving_lib.py writes
them in model.save_weights(path): _save_state visits the model, then (for a
Sequential) its `layers` list, each layer under its class name in snake_case
with _1, _2 ... for repeats (_save_container_state), then each object's
KerasSaveable attributes (a SimpleRNN's `cell`). Each visited object calls
save_own_variables(store.make(inner_path)), which puts its variables into the
group <inner_path>/vars as datasets "0", "1", ... (H5IOStore / H5Entry).

Keras 3 releases differ only in when that "vars" group is made; the Store
class below writes each way, and the fixtures use all three:
  eager     every visited object gets <path>/vars, empty if it has no variables
            (H5Entry in Keras 3.0 onwards)
  deferred  <path>/vars only appears with the object's first variable
            (H5IOStore.make deferring group creation to __setitem__)
  metadata  every visited object gets <path>/vars at once, with the string
            attribute "name" = the object's name (the newest saving_lib, which
            calls make(inner_path, metadata={"name": saveable.name}))

Weights are float32, as Keras keeps them. The values are multiples of 1/16, so
float32 holds them exactly and the C++ test recomputes them with fixed():
    value[i] = ((i + start) % 17 - 8) / 16,  i over the array in C order.
The one exception is the seed notebook's SimpleRNN (In [5]), quoted as printed.

Run with Debian's /usr/bin/python3 (python3-h5py, python3-numpy).
"""
import os

import h5py
import numpy as np

here = os.path.dirname(os.path.abspath(__file__))


def fixed(shape, start):
    n = int(np.prod(shape))
    return (((np.arange(n) + start) % 17 - 8) / 16).astype(np.float32).reshape(shape)


class Store:
    """The part of Keras' H5IOStore that save_weights uses."""

    def __init__(self, filename, flavour):
        self.file = h5py.File(os.path.join(here, filename), "w")
        self.flavour = flavour

    def save(self, inner_path, name, variables=()):
        """One object's save_own_variables(store.make(inner_path))."""
        if self.flavour == "deferred" and not variables:
            return
        group = (self.file.create_group(inner_path).create_group("vars")
                 if inner_path else self.file.create_group("vars"))
        if self.flavour == "metadata":
            group.attrs["name"] = name
        for i, value in enumerate(variables):
            group[str(i)] = value

    def close(self):
        self.file.close()


def save_simple_rnn(store, path, name, kernel, recurrent_kernel, bias):
    store.save(path, name)  # the RNN layer itself holds no variables
    store.save(path + "/cell", "simple_rnn_cell", [kernel, recurrent_kernel, bias])


# (a) Sequential([SimpleRNN(2)]) on 5 features with the seed notebook's In [5]
# weights; eager layout.
store = Store("keras_simple_rnn_notebook.weights.h5", "eager")
store.save("", "sequential")
save_simple_rnn(
    store, "layers/simple_rnn", "simple_rnn",
    np.array([[-0.8766506, 0.9172727], [-0.37667286, 0.6936799],
              [-0.44308627, -0.71843755], [-0.627252, 0.8343315],
              [-0.00902045, 0.08299422]], dtype=np.float32),
    np.array([[0.57300806, -0.8195498], [0.8195498, 0.573008]], dtype=np.float32),
    np.array([0.0, 0.0], dtype=np.float32))
store.close()

# (b) Sequential([SimpleRNN(3, return_sequences=True), SimpleRNN(4), Dense(2)])
# on 5 features, newest layout, plus an "optimizer" group at the top level as
# a compiled model has (Keras walks the model's `optimizer` attribute after
# `layers`); its contents here only stand in for the optimizer's variables,
# which a weights load into xgrad ignores.
store = Store("keras_rnn_rnn_dense.weights.h5", "metadata")
store.save("", "sequential")
save_simple_rnn(store, "layers/simple_rnn", "simple_rnn",
                fixed((5, 3), 10), fixed((3, 3), 20), fixed((3,), 30))
save_simple_rnn(store, "layers/simple_rnn_1", "simple_rnn_1",
                fixed((3, 4), 40), fixed((4, 4), 50), fixed((4,), 60))
store.save("layers/dense", "dense", [fixed((4, 2), 70), fixed((2,), 80)])
store.save("optimizer", "adam", [np.array(3, dtype=np.int64), np.array(0.001, dtype=np.float32)])
store.close()

# (c) Sequential([Embedding(10, 4), SimpleRNN(3), Dense(1)]), deferred layout
# (no empty "vars" groups).
store = Store("keras_embedding_rnn_dense.weights.h5", "deferred")
store.save("", "sequential")
store.save("layers/embedding", "embedding", [fixed((10, 4), 100)])
save_simple_rnn(store, "layers/simple_rnn", "simple_rnn",
                fixed((4, 3), 200), fixed((3, 3), 300), fixed((3,), 400))
store.save("layers/dense", "dense", [fixed((3, 1), 500), fixed((1,), 600)])
store.close()

# (d) A lone Dense(3) on 4 features: its variables at the root.
store = Store("keras_dense_layer.weights.h5", "eager")
store.save("", "dense", [fixed((4, 3), 700), fixed((3,), 800)])
store.close()

# (e) Sequential([Dense(2)]) on 3 features under "_layer_checkpoint_dependencies",
# the container name H5IOStore.get falls back to for Keras 2.13 files.
store = Store("keras_legacy_dependencies.weights.h5", "eager")
store.save("", "sequential")
store.save("_layer_checkpoint_dependencies/dense", "dense", [fixed((3, 2), 900), fixed((2,), 1000)])
store.close()

def save_recurrent(store, path, name, cell_name, weights):
    """LSTM, GRU: like SimpleRNN, the variables belong to the cell."""
    store.save(path, name)
    store.save(path + "/cell", cell_name, weights)


# (f) Sequential([LSTM(3, return_sequences=True), Bidirectional(GRU(2,
# return_sequences=True)), GRU(2, reset_after=False), Dense(1)]) on 4
# features, newest layout. LSTM: kernel [4, 12], recurrent_kernel [3, 12],
# bias [12]; GRU with reset_after: bias [2, 6] (input bias, recurrent bias);
# without: bias [6]. Bidirectional holds no variables; Keras visits its
# attributes in name order, backward_layer before forward_layer.
store = Store("keras_lstm_gru.weights.h5", "metadata")
store.save("", "sequential")
save_recurrent(store, "layers/lstm", "lstm", "lstm_cell",
               [fixed((4, 12), 1100), fixed((3, 12), 1200), fixed((12,), 1300)])
store.save("layers/bidirectional", "bidirectional")
save_recurrent(store, "layers/bidirectional/backward_layer", "backward_gru", "gru_cell",
               [fixed((3, 6), 1400), fixed((2, 6), 1500), fixed((2, 6), 1600)])
save_recurrent(store, "layers/bidirectional/forward_layer", "forward_gru", "gru_cell",
               [fixed((3, 6), 1700), fixed((2, 6), 1800), fixed((2, 6), 1900)])
save_recurrent(store, "layers/gru", "gru", "gru_cell",
               [fixed((4, 6), 2000), fixed((2, 6), 2100), fixed((6,), 2200)])
store.save("layers/dense", "dense", [fixed((2, 1), 2300), fixed((1,), 2400)])
store.close()

print("keras_simple_rnn_notebook.weights.h5 keras_rnn_rnn_dense.weights.h5 "
      "keras_embedding_rnn_dense.weights.h5 keras_dense_layer.weights.h5 "
      "keras_legacy_dependencies.weights.h5 keras_lstm_gru.weights.h5")
