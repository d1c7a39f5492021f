#!/usr/bin/python3
"""Writes the checkpoint fixtures of tests/test_checkpoint.cpp with NumPy.

The weights are the seed notebook's In [5] values (a Keras SimpleRNN with 2
units on 5 features), saved the two ways a Keras user would:
  numpy.savez(path, *layer.get_weights())        -> arr_0, arr_1, arr_2
  numpy.savez(path, kernel=..., recurrent_kernel=..., bias=...)
Run with Debian's /usr/bin/python3 (python3-numpy).
"""
import os
import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
kernel = np.array([[-0.8766506, 0.9172727], [-0.37667286, 0.6936799],
                   [-0.44308627, -0.71843755], [-0.627252, 0.8343315],
                   [-0.00902045, 0.08299422]], dtype=np.float32)
recurrent_kernel = np.array([[0.57300806, -0.8195498], [0.8195498, 0.573008]], dtype=np.float32)
bias = np.array([0.0, 0.0], dtype=np.float32)

np.savez(os.path.join(here, "keras_get_weights.npz"), kernel, recurrent_kernel, bias)
np.savez(os.path.join(here, "keras_named_weights.npz"),
         kernel=kernel, recurrent_kernel=recurrent_kernel, bias=bias)
print("keras_get_weights.npz keras_named_weights.npz")
