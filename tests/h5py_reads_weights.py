#!/usr/bin/python3
"""Reads a .weights.h5 file with h5py, as Keras' load_weights does, and writes
every dataset to an .npz under its HDF5 path, failing unless each dataset
carries the Fletcher32 checksum xgrad's save puts on it.

    /usr/bin/python3 tests/h5py_reads_weights.py model.weights.h5 out.npz
"""
import sys

import h5py
import numpy as np

arrays = {}


def visit(name, item):
    if isinstance(item, h5py.Dataset):
        if not item.fletcher32:
            sys.exit(f"{name}: no Fletcher32 checksum")
        arrays[name] = item[()]


with h5py.File(sys.argv[1], "r") as f:
    f.visititems(visit)
np.savez(sys.argv[2], **arrays)
