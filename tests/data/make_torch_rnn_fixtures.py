#!/usr/bin/python3
"""Writes the PyTorch nn.RNN fixtures of tests/test_keras_weights.cpp with torch itself.

For each RNN, <name>.npz is its state dict saved as
    np.savez(path, **{k: v.numpy() for k, v in rnn.state_dict().items()})
and <name>_io.npz a fixed input x [B, T, F] with torch's outputs on it
(batch_first=True): y [B, T, U], every step's h, and h_n [B, U], the last.

  torch_rnn_tanh         nn.RNN(3, 4), tanh, with biases
  torch_rnn_relu_nobias  nn.RNN(3, 4, nonlinearity="relu", bias=False)

Run with Debian's /usr/bin/python3 (python3-torch, python3-numpy).
"""
import os

import numpy as np
import torch

here = os.path.dirname(os.path.abspath(__file__))


def write(name, rnn, x):
    state = {k: v.detach().numpy() for k, v in rnn.state_dict().items()}
    np.savez(os.path.join(here, name + ".npz"), **state)
    with torch.no_grad():
        y, h_n = rnn(x)
    np.savez(os.path.join(here, name + "_io.npz"), x=x.numpy(), y=y.numpy(), h_n=h_n[0].numpy())
    print(name + ".npz", name + "_io.npz", sorted(state))


torch.manual_seed(20240611)
write("torch_rnn_tanh", torch.nn.RNN(3, 4, batch_first=True), torch.randn(2, 5, 3))
write("torch_rnn_relu_nobias",
      torch.nn.RNN(3, 4, nonlinearity="relu", bias=False, batch_first=True), torch.randn(2, 5, 3))
print("torch", torch.__version__)
