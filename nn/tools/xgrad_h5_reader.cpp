// xgrad-h5-reader: load_keras_weights runs this program so that libhdf5
// parses an untrusted .weights.h5 outside the caller's process. Everything
// it does is in the library (nn/src/keras_weights_process.cpp).

#include "../src/keras_weights_reader.hpp"

int main(int argc, char** argv) { return xgrad::nn::detail::h5_reader_main(argc, argv); }
