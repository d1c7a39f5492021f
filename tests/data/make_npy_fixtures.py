#!/usr/bin/python3
"""Writes the NumPy fixtures that tests/test_npy.cpp reads.

Run with Debian's interpreter, which has numpy:
    /usr/bin/python3 tests/data/make_npy_fixtures.py
Values are fixed formulas mirrored in the C++ test; only the timestamps that
numpy.savez puts inside the .npz files differ between runs.
"""
import os

import numpy as np
from numpy.lib import format as npy_format

HERE = os.path.dirname(os.path.abspath(__file__))


def path(name):
    return os.path.join(HERE, name)


def main():
    written = []

    def save(name, array, version=None):
        with open(path(name), "wb") as f:
            npy_format.write_array(f, array, version=version)
        written.append(name)

    # What numpy.save writes for a float32 C-order array (format 1.0).
    save("float32_2x3x4.npy", (np.arange(24, dtype=np.float32) * 0.25 - 3).reshape(2, 3, 4))
    # 15 dimensions: NumPy's spare header room pushes the data to offset 192.
    save("float64_15d.npy", np.array([0.5, -1.0]).reshape((1,) * 14 + (2,)))
    # Fortran order: element [i, j] = 10 i + j + 0.5 after the reader transposes.
    save("float64_3x4_fortran.npy",
         np.asfortranarray(np.array([[10 * i + j + 0.5 for j in range(4)] for i in range(3)])))
    # Formats 2.0 (4-byte header length) and 3.0 (UTF-8 header).
    save("int64_v2.npy", np.array([-(2 ** 40), 0, 7], dtype=np.int64), version=(2, 0))
    save("bool_v3.npy", np.array([[True, False, True], [False, False, True]]), version=(3, 0))

    weights = {
        "kernel": (np.arange(10, dtype=np.float32) * 0.5 - 2).reshape(5, 2),
        "recurrent_kernel": np.array([[1, -1], [0.25, 4]], dtype=np.float32),
        "bias": np.array([0.1, -0.2], dtype=np.float32),
        "simple_rnn/kernel": np.array([[1, 2, 3]], dtype=np.float32),
        "dense/bias": np.array([1 / 3, -2.5, 1e-300], dtype=np.float64),
        "steps": np.array(42, dtype=np.int64),
        "tokens": np.array([[1, 2, 3], [4, 5, -6]], dtype=np.int32),
        "empty": np.zeros((0, 4), dtype=np.float32),
    }
    np.savez(path("weights_savez.npz"), **weights)
    np.savez_compressed(path("weights_savez_compressed.npz"), **weights)
    written += ["weights_savez.npz", "weights_savez_compressed.npz"]

    for name in written:
        print(name)


if __name__ == "__main__":
    main()
