#!/usr/bin/python3
"""NumPy reads what xgrad saves: loads a checkpoint written by nn::save and checks
its entries' names, dtypes and shapes, and that the values are finite.

usage: numpy_reads_checkpoint.py CHECKPOINT.npz NAME:D0xD1... [NAME:SHAPE ...]
"""
import sys
import numpy as np

path, expected = sys.argv[1], sys.argv[2:]
with np.load(path) as archive:
    names = list(archive.files)
    wanted = [item.split(":")[0] for item in expected]
    if names != wanted:
        sys.exit(f"{path}: entries {names}, expected {wanted}")
    for item in expected:
        name, shape_text = item.split(":")
        array = archive[name]
        shape = tuple(int(d) for d in shape_text.split("x")) if shape_text else ()
        if array.dtype != np.float32 or array.shape != shape:
            sys.exit(f"{path}: {name} is {array.dtype} {array.shape}, expected float32 {shape}")
        if not np.all(np.isfinite(array)):
            sys.exit(f"{path}: {name} has non-finite values")
print(f"numpy read {len(expected)} arrays from {path}")
