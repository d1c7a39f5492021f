#!/usr/bin/python3
"""Writes the PyTorch nn.LSTM and nn.GRU fixtures of tests/test_torch_gated.cpp with torch itself.

Everything is float64 (torch.set_default_dtype(torch.float64)) so the C++ test
can compare to 1e-10. Sizes: F = 3 input features, U = 4 units, B = 2, T = 5;
every module is batch_first=True, so x is [B, T, F] as xgrad's input.

For each module, <name>.npz is its state dict saved as
    np.savez(path, **{k: v.detach().numpy() for k, v in module.state_dict().items()})
with torch's own names: weight_ih_l<k> [G*U, F or D*U], weight_hh_l<k> [G*U, U],
bias_ih_l<k> [G*U], bias_hh_l<k> [G*U] for layer k (G = 4 for LSTM, 3 for
GRU; D = 2 directions for a bidirectional module's layers above the first),
and the same with the suffix _reverse for the reverse direction.

  torch_lstm               nn.LSTM(3, 4, batch_first=True)
  torch_gru                nn.GRU(3, 4, batch_first=True)
  torch_lstm_2layer        nn.LSTM(3, 4, num_layers=2, batch_first=True)
  torch_gru_bidirectional  nn.GRU(3, 4, bidirectional=True, batch_first=True)
  torch_lstm_bidirectional nn.LSTM(3, 4, bidirectional=True, batch_first=True)

<name>_io.npz holds torch's inputs and outputs:

  torch_lstm_io.npz, torch_gru_io.npz (random initial states, and gradients):
    x       [B, T, F]  the input
    h0      [B, U]     the initial h (torch's h_0[0])
    c0      [B, U]     the initial c (LSTM only; torch's c_0[0])
    y       [B, T, U]  the output, h at every step
    h_n     [B, U]     the last h (torch's h_n[0])
    c_n     [B, U]     the last c (LSTM only)
    w_y     [B, T, U]  fixed random loss weights for y
    w_h     [B, U]     ... for h_n
    w_c     [B, U]     ... for c_n (LSTM only)
    grad_x, grad_h0, grad_c0 (LSTM only), grad_weight_ih_l0, grad_weight_hh_l0,
    grad_bias_ih_l0, grad_bias_hh_l0: torch's gradients (autograd) of
        loss = sum(y * w_y) + sum(h_n * w_h) [+ sum(c_n * w_c)]
    with respect to those inputs and state-dict entries, in torch's shapes.

  torch_lstm_2layer_io.npz, torch_gru_bidirectional_io.npz,
  torch_lstm_bidirectional_io.npz (zero initial states, no gradients):
    x       [B, T, F]
    y       [B, T, U] the top layer's output (2-layer); [B, T, 2U] for the
            bidirectional ones, the forward direction's h then the reverse's
    h_n     [2, B, U] torch's h_n: the last h of layer 0 and layer 1, or of
            the forward and the reverse direction (reverse: h after t = 0)
    c_n     [2, B, U] the same for c (LSTM only)

The mapping to Keras' weights, which xgrad uses (nn/src/torch_weights.cpp):

  LSTM. Keras: kernel [F, 4U], recurrent_kernel [U, 4U], bias [4U], column
  blocks i, f, c, o; torch's rows are i, f, g, o, the same order, so
      kernel           = weight_ih_l0ᵀ
      recurrent_kernel = weight_hh_l0ᵀ
      bias             = bias_ih_l0 + bias_hh_l0
  Keras' step: z = x·kernel + h·recurrent_kernel + bias;
      i = σ(z_i), f = σ(z_f), g = tanh(z_c), o = σ(z_o);
      c' = f ⊙ c + i ⊙ g;  h' = o ⊙ tanh(c')
  which is torch's step with W_i* x + b_i* + W_h* h + b_h* for each gate.

  GRU (Keras' reset_after=True, its default). Keras: kernel [F, 3U],
  recurrent_kernel [U, 3U], bias [2, 3U] (row 0 the input bias, row 1 the
  recurrent bias), column blocks z, r, h; torch's rows are r, z, n, so
  Keras' block z is torch's block 1, r is block 0 and h is block 2, for the
  weights and for both biases:
      kernel           = (weight_ih_l0 rows [z, r, n])ᵀ
      recurrent_kernel = (weight_hh_l0 rows [z, r, n])ᵀ
      bias[0]          = bias_ih_l0 blocks [z, r, n]
      bias[1]          = bias_hh_l0 blocks [z, r, n]
  Keras' step: xz = x·kernel + bias[0]; hz = h·recurrent_kernel + bias[1];
      z = σ(xz_z + hz_z); r = σ(xz_r + hz_r); ĥ = tanh(xz_h + r ⊙ hz_h);
      h' = z ⊙ h + (1 − z) ⊙ ĥ
  torch: n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)); h' = (1 − z) ⊙ n + z ⊙ h,
  the same function. (Keras' reset_after=False puts r before the recurrent
  product, which torch has no form of.)

  Layers and directions. Layer k's entries (_l<k>) are the k-th layer of a
  Keras stack of return_sequences layers, its input the layer below's
  output. The _reverse entries are a Keras Bidirectional's backward layer:
  it runs over t = T-1 .. 0, and its outputs flipped back into input order
  are torch's y[..., U:2U]; merge_mode "concat" puts the forward output
  first, as torch does.

The script checks the mapping: it runs Keras' steps above in NumPy on the
converted weights and asserts that they reproduce torch's y, h_n (and c_n)
to 1e-12 for every fixture.

Run with Debian's /usr/bin/python3 (python3-torch, python3-numpy).
"""
import os

import numpy as np
import torch

here = os.path.dirname(os.path.abspath(__file__))
F, U, B, T = 3, 4, 2, 5


# ------------------------------------------------ torch -> Keras, and Keras' steps

def lstm_to_keras(state, suffix):
    """kernel, recurrent_kernel, bias of Keras' LSTM from torch's entries *<suffix>."""
    return (state["weight_ih" + suffix].T, state["weight_hh" + suffix].T,
            state["bias_ih" + suffix] + state["bias_hh" + suffix])


def gru_to_keras(state, suffix):
    """kernel, recurrent_kernel, bias [2, 3U] of Keras' GRU (reset_after) from torch's."""
    def zrh(a):  # torch's blocks r, z, n -> Keras' z, r, h (along axis 0)
        r, z, n = np.split(a, 3, axis=0)
        return np.concatenate([z, r, n], axis=0)
    return (zrh(state["weight_ih" + suffix]).T, zrh(state["weight_hh" + suffix]).T,
            np.stack([zrh(state["bias_ih" + suffix]), zrh(state["bias_hh" + suffix])]))


def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def keras_lstm(x, weights, h, c):
    """Keras' LSTM over x [B, T, F]: (outputs [B, T, U], h, c)."""
    kernel, recurrent_kernel, bias = weights
    outputs = []
    for t in range(x.shape[1]):
        z = x[:, t] @ kernel + h @ recurrent_kernel + bias
        z_i, z_f, z_c, z_o = np.split(z, 4, axis=1)
        c = sigmoid(z_f) * c + sigmoid(z_i) * np.tanh(z_c)
        h = sigmoid(z_o) * np.tanh(c)
        outputs.append(h)
    return np.stack(outputs, axis=1), h, c


def keras_gru(x, weights, h):
    """Keras' GRU (reset_after=True) over x [B, T, F]: (outputs [B, T, U], h)."""
    kernel, recurrent_kernel, bias = weights
    outputs = []
    for t in range(x.shape[1]):
        xz_z, xz_r, xz_h = np.split(x[:, t] @ kernel + bias[0], 3, axis=1)
        hz_z, hz_r, hz_h = np.split(h @ recurrent_kernel + bias[1], 3, axis=1)
        z = sigmoid(xz_z + hz_z)
        r = sigmoid(xz_r + hz_r)
        hh = np.tanh(xz_h + r * hz_h)
        h = z * h + (1 - z) * hh
        outputs.append(h)
    return np.stack(outputs, axis=1), h


def keras_run(kind, x, weights, h, c):
    """One Keras layer: (outputs, h, c); c is None for GRU."""
    if kind == "lstm":
        return keras_lstm(x, weights, h, c)
    y, h = keras_gru(x, weights, h)
    return y, h, None


def to_keras(kind, state, suffix):
    return (lstm_to_keras if kind == "lstm" else gru_to_keras)(state, suffix)


def assert_close(name, what, got, want):
    error = np.max(np.abs(got - want))
    assert error <= 1e-12, f"{name}: Keras' {what} differs from torch's by {error}"


# ------------------------------------------------------------------ the fixtures

def save_state(name, module):
    state = {k: v.detach().numpy() for k, v in module.state_dict().items()}
    np.savez(os.path.join(here, name + ".npz"), **state)
    return state


def one_layer(name, kind):
    """A one-layer module with random initial states and the loss's gradients."""
    module = (torch.nn.LSTM if kind == "lstm" else torch.nn.GRU)(F, U, batch_first=True)
    state = save_state(name, module)
    x = torch.randn(B, T, F, requires_grad=True)
    h0 = torch.randn(B, U, requires_grad=True)
    c0 = torch.randn(B, U, requires_grad=True) if kind == "lstm" else None
    if kind == "lstm":
        y, (h_n, c_n) = module(x, (h0[None], c0[None]))
        c_n = c_n[0]
    else:
        y, h_n = module(x, h0[None])
        c_n = None
    h_n = h_n[0]
    w_y, w_h = torch.randn(B, T, U), torch.randn(B, U)
    loss = (y * w_y).sum() + (h_n * w_h).sum()
    io = {"x": x, "h0": h0, "y": y, "h_n": h_n, "w_y": w_y, "w_h": w_h}
    if kind == "lstm":
        w_c = torch.randn(B, U)
        loss = loss + (c_n * w_c).sum()
        io.update(c0=c0, c_n=c_n, w_c=w_c)
    loss.backward()
    io["grad_x"], io["grad_h0"] = x.grad, h0.grad
    if kind == "lstm":
        io["grad_c0"] = c0.grad
    for key, parameter in module.named_parameters():
        io["grad_" + key] = parameter.grad
    io = {k: v.detach().numpy() for k, v in io.items()}
    np.savez(os.path.join(here, name + "_io.npz"), **io)

    # Keras' step on the converted weights is torch's function.
    got_y, got_h, got_c = keras_run(kind, io["x"], to_keras(kind, state, "_l0"), io["h0"],
                                    io.get("c0"))
    assert_close(name, "y", got_y, io["y"])
    assert_close(name, "h_n", got_h, io["h_n"])
    if kind == "lstm":
        assert_close(name, "c_n", got_c, io["c_n"])
    print(name + ".npz", name + "_io.npz", sorted(state), sorted(io))


def stacked(name, kind, num_layers, bidirectional):
    """A multi-layer or bidirectional module from zero initial states."""
    module = (torch.nn.LSTM if kind == "lstm" else torch.nn.GRU)(
        F, U, num_layers=num_layers, bidirectional=bidirectional, batch_first=True)
    state = save_state(name, module)
    x = torch.randn(B, T, F)
    with torch.no_grad():
        if kind == "lstm":
            y, (h_n, c_n) = module(x)
        else:
            y, h_n = module(x)
    io = {"x": x.numpy(), "y": y.numpy(), "h_n": h_n.numpy()}
    if kind == "lstm":
        io["c_n"] = c_n.numpy()
    np.savez(os.path.join(here, name + "_io.npz"), **io)

    # Keras: a stack of layers, or one Bidirectional(merge_mode="concat").
    zeros = np.zeros((B, U))
    inputs, last_h, last_c = io["x"], [], []
    for k in range(num_layers):
        y_f, h_f, c_f = keras_run(kind, inputs, to_keras(kind, state, f"_l{k}"), zeros, zeros)
        last_h.append(h_f)
        last_c.append(c_f)
        if bidirectional:
            y_r, h_r, c_r = keras_run(kind, inputs[:, ::-1], to_keras(kind, state, f"_l{k}_reverse"),
                                      zeros, zeros)
            y_f = np.concatenate([y_f, y_r[:, ::-1]], axis=2)
            last_h.append(h_r)
            last_c.append(c_r)
        inputs = y_f
    assert_close(name, "y", inputs, io["y"])
    assert_close(name, "h_n", np.stack(last_h), io["h_n"])
    if kind == "lstm":
        assert_close(name, "c_n", np.stack(last_c), io["c_n"])
    print(name + ".npz", name + "_io.npz", sorted(state), sorted(io))


torch.set_default_dtype(torch.float64)
torch.manual_seed(20240612)
one_layer("torch_lstm", "lstm")
one_layer("torch_gru", "gru")
stacked("torch_lstm_2layer", "lstm", num_layers=2, bidirectional=False)
stacked("torch_gru_bidirectional", "gru", num_layers=1, bidirectional=True)
stacked("torch_lstm_bidirectional", "lstm", num_layers=1, bidirectional=True)
print("torch", torch.__version__, "numpy", np.__version__)
