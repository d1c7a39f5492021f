#pragma once
// Keras 3 weight files (.weights.h5): what keras.Model.save_weights writes and
// load_weights reads, so weights move between Keras and xgrad both ways.
//
//   xgrad::nn::load_keras_weights(model, "model.weights.h5");  // from model.save_weights(...)
//   xgrad::nn::save_keras_weights(model, "out.weights.h5");    // for model.load_weights(...)
//
// The layout is Keras 3's (keras/src/saving/saving_lib.py): every object
// Keras saves gets an HDF5 group at its attribute path, its own variables sit
// in the group's "vars" subgroup as datasets "0", "1", ... in the layer's
// weights order. A Sequential's layers are its "layers" container, each named
// after its class in snake_case with _1, _2 ... for repeats, whatever the
// layer's own name ("simple_rnn", "simple_rnn_1", "dense"):
//
//   /vars                                  the model's own variables: none
//   /layers/simple_rnn/vars                none (the weights live in the cell)
//   /layers/simple_rnn/cell/vars/0, 1, 2   kernel [F, U], recurrent_kernel [U, U], bias [U]
//   /layers/dense/vars/0, 1                kernel [F, U], bias [U]
//   /layers/embedding/vars/0               embeddings [V, D]
//
// A single layer saved on its own has its paths at the root ("/cell/vars/0",
// or "/vars/0" for a Dense). Datasets are float32 for float modules and
// float64 for double ones.
//
// save writes what the newest Keras 3 writes: a "vars" group for every saved
// object, empty when it has no variables, with a string attribute "name"
// (the layer's name: "sequential", "simple_rnn_1", "simple_rnn_cell"). Earlier
// Keras 3 releases write the same groups without the attribute; Keras reads
// either. The layers must be built. The file is made in memory and written
// through write_file_atomically: an interrupted or failed save leaves the
// previous file whole.
//
// load reads files from every Keras 3 release: "vars" groups may be missing
// where a layer has no variables, attributes are ignored, and a Keras 2.13
// file's "_layer_checkpoint_dependencies" stands for "layers", as Keras'
// own reader allows. Anything else at the top level ("optimizer" and other
// training state) is ignored. Everything under the model's paths must match
// the model exactly: a missing or extra layer group, a missing or extra
// dataset, a dtype other than the module's (float32 for float, float64 for
// double: no silent conversion) or a wrong shape throws xgrad::IoError naming
// the file, the HDF5 path, and the expected and found dtype and shape. Every
// dataset is checked and read before any weight changes, so a failed load
// leaves the model untouched. An unbuilt layer is built from the file's
// shapes (its input features F are taken from the kernel), as set_weights
// does; the other dimensions must match its options.
//
// Supported: Sequential (nested too), SimpleRNN, LSTM, GRU, Dense, Embedding, Bidirectional, and layers
// without parameters (Dropout, Masking...), which Keras records as empty
// groups named after the layer's name without a _N suffix. Other layers with
// parameters make save and load throw IoError.
//
// Hostile files: libhdf5 (1.10) crashes or hangs on some corrupt files, so
// by default load does not parse the file in the calling process. It runs
// the program xgrad-h5-reader (installed with the library, in libexec), which
// applies a memory limit to itself, reads the file with the same reader and
// hands the weights back as an .npz that load checks again. A crash, a
// hang past the time limit or any failure there is an IoError naming the
// file. The program is found through the environment variable
// XGRAD_H5_READER if set, else where the library was installed, else in the
// build tree it was built in. KerasLoadOptions().trusted(true) reads in the
// calling process instead (no program to start, which takes tens of
// milliseconds; for files you made yourself).
//
// Sizes: weights whose shape the model fixes must match it exactly before
// anything is allocated; those it does not (an unbuilt layer's kernel) may
// together declare at most max(64 MiB, 32 x the file's size) bytes unless
// KerasLoadOptions::max_bytes raises that. The walk through the file's
// groups visits each expected group once, at most 64 deep, and refuses links
// with empty, repeated or otherwise invalid names.
//
// Checksums: save stores every dataset in chunks with HDF5's Fletcher32
// checksum (Keras and h5py read such files as any other), so a changed byte
// in a file xgrad wrote is an IoError on load. Files Keras writes have no
// checksums; a changed byte in their data loads as a different weight.
//
// HDF5's own error printing is switched off during these calls and restored
// after; its reason for a failure ends up in the IoError message. Like HDF5
// itself (unless built thread-safe), these calls must not run concurrently.

#include <cstdint>
#include <string>

#include "xgrad/nn/module.hpp"
#include "xgrad/nn/options.hpp"

namespace xgrad::nn {

struct KerasLoadOptions {
  // Read the file in the calling process, where a file that crashes libhdf5
  // crashes the program; only for files you trust.
  XGRAD_ARG(bool, trusted) = false;
  // Bytes the file may declare for weights whose shape the model does not
  // fix; 0: max(64 MiB, 32 x the file's size).
  XGRAD_ARG(std::uint64_t, max_bytes) = 0;
  // Wall-clock seconds xgrad-h5-reader may take before it is killed.
  XGRAD_ARG(double, time_limit_seconds) = 60;
};

template <typename T>
void save_keras_weights(const Module<T>& model, const std::string& path);

template <typename T>
void load_keras_weights(Module<T>& model, const std::string& path, const KerasLoadOptions& options = {});

extern template void save_keras_weights(const Module<float>&, const std::string&);
extern template void save_keras_weights(const Module<double>&, const std::string&);
extern template void load_keras_weights(Module<float>&, const std::string&, const KerasLoadOptions&);
extern template void load_keras_weights(Module<double>&, const std::string&, const KerasLoadOptions&);

}  // namespace xgrad::nn
