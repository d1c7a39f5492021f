#pragma once
// Checkpoints in NumPy's .npz format: one array per named parameter, named by
// its path ("simple_rnn/kernel", "dense/bias"), so numpy.load reads them.
//
//   xgrad::nn::save(model, "model.npz");
//   xgrad::nn::load(model, "model.npz");
//
// save writes a temporary file and renames it over `path`: an interrupted
// save leaves the previous checkpoint whole. load reads and checks every
// entry (names, dtypes, shapes) before it changes any weight; on any mismatch
// it throws xgrad::IoError naming the file and the entry, and the module is
// untouched.
//
// load also takes the file numpy.savez("m.npz", *layer.get_weights()) writes
// from Keras: entries arr_0, arr_1, ... are matched to the parameters in
// order (Keras' weights order is the order named_parameters() gives).

#include <string>

#include "xgrad/nn/module.hpp"
#include "xgrad/tensor/npy.hpp"

namespace xgrad::nn {

template <typename T>
void save(const Module<T>& module, const std::string& path);

// The module must be built (its parameters exist).
template <typename T>
void load(Module<T>& module, const std::string& path);

extern template void save(const Module<float>&, const std::string&);
extern template void save(const Module<double>&, const std::string&);
extern template void load(Module<float>&, const std::string&);
extern template void load(Module<double>&, const std::string&);

}  // namespace xgrad::nn
