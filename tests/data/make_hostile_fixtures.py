#!/usr/bin/python3
"""Writes the hostile files of tests/test_keras_weights.cpp and tests/test_npy.cpp.

keras_simple_rnn_notebook_empty_link.weights.h5
    keras_simple_rnn_notebook.weights.h5 with byte 728 set to 0: the first
    letter of the root group's link "layers", so the root lists a link named
    "" (h5py shows ['', 'vars']). xgrad's reader used to follow it into the
    root again, recursing until the stack overflowed.
keras_simple_rnn_notebook_repeated_link.weights.h5
    The same file with the root's link "vars" renamed "layers" in place
    (bytes 720-727), so the root lists "layers" twice.
keras_embedding_rnn_dense_unchained.weights.h5
    keras_embedding_rnn_dense.weights.h5 (Embedding 10 -> 4, SimpleRNN 3,
    Dense 1) with a SimpleRNN kernel of shape (5, 3): a well-formed file
    whose layers do not chain. Loaded into the unbuilt model, it built a
    SimpleRNN for 5 features behind an Embedding that gives 4, and the model
    could not run (fuzz_keras_weights_trusted's first finding).
npz_bomb.npz
    One deflated entry "bomb" declaring float32 zeros of shape (33554432,):
    128 MiB of data in a file of about 130 KB, 1000-fold, as a zip bomb.
    It is a valid file (numpy.load reads it); read_npz refuses it by default
    before inflating anything.

Run with Debian's /usr/bin/python3 (python3-h5py, python3-numpy).
"""
import os
import zipfile

import h5py
import numpy as np

here = os.path.dirname(os.path.abspath(__file__))


def patched_notebook(name, at, before, after, keys):
    """The notebook's file with bytes at..at+len(before) replaced by after
    (the root group's link names live at bytes 720-733: "vars", then
    "layers"), written as name; h5py must then list keys at the root."""
    source = os.path.join(here, "keras_simple_rnn_notebook.weights.h5")
    target = os.path.join(here, name)
    data = bytearray(open(source, "rb").read())
    assert data[at:at + len(before)] == before, data[720:740]
    data[at:at + len(after)] = after
    with open(target, "wb") as out:
        out.write(data)
    with h5py.File(target, "r") as f:
        assert list(f.keys()) == keys, list(f.keys())


def empty_link():
    patched_notebook("keras_simple_rnn_notebook_empty_link.weights.h5", 728, b"layers", b"\0", ["", "vars"])


def repeated_link():
    patched_notebook("keras_simple_rnn_notebook_repeated_link.weights.h5", 720, b"vars\0\0\0\0layers",
                     b"layers\0\0", ["layers", "layers"])


def unchained():
    source = os.path.join(here, "keras_embedding_rnn_dense.weights.h5")
    target = os.path.join(here, "keras_embedding_rnn_dense_unchained.weights.h5")
    with h5py.File(source, "r") as f, h5py.File(target, "w") as out:
        def copy(name, item):
            if isinstance(item, h5py.Dataset):
                value = item[()]
                if name == "layers/simple_rnn/cell/vars/0":
                    assert value.shape == (4, 3), value.shape
                    value = np.concatenate([value, value[:1]], axis=0)
                out.create_dataset(name, data=value)
            else:
                out.require_group(name)
        f.visititems(copy)
    with h5py.File(target, "r") as f:
        assert f["layers/simple_rnn/cell/vars/0"].shape == (5, 3)


def npz_bomb():
    n = 1 << 25
    chunk = np.zeros(1 << 20, dtype=np.float32).tobytes()
    target = os.path.join(here, "npz_bomb.npz")
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        with archive.open("bomb.npy", "w") as entry:
            np.lib.format.write_array_header_1_0(
                entry, {"descr": "<f4", "fortran_order": False, "shape": (n,)})
            for _ in range(n * 4 // len(chunk)):
                entry.write(chunk)
    loaded = np.load(target)["bomb"]
    assert loaded.shape == (n,) and not loaded.any()


empty_link()
repeated_link()
unchained()
npz_bomb()
