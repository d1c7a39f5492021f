#pragma once
// Anomaly detection, as torch.autograd.detect_anomaly: which op first made a
// NaN or an infinity, in which layer, with which shapes.
//
//   {
//     xgrad::DetectAnomaly guard;       // this thread, until the guard ends
//     auto loss = nn::mean_squared_error(model.forward(x), y);
//     loss.backward();                  // or the forward above throws
//   }
//
// While a guard lives, the result of every op (forward, whether recorded or
// not) and every gradient an op's backward sends to its inputs are checked,
// and the first value that is NaN or ±inf throws NonFiniteError, e.g.
//
//   DetectAnomaly: the backward of 'recurrent_sequence' in
//   'sequential/simple_rnn' (output of shape (2, 4)) made nan in the gradient
//   of its input 1 of shape (2, 4) (first at flat index 0)
//
// Without a guard nothing is checked: the only cost is one thread-local flag
// test per op and per backward step.
//
// Layers name themselves through LayerScope: the nn layers open one in their
// forward (Module::layer_scope()) and the losses one named after themselves,
// so an op records the path of the layers calling it ("sequential/dense_1");
// a user's own layer or loss may open one too.

#include <stdexcept>
#include <string>

namespace xgrad {

// A NaN or infinity where there must be none: thrown under DetectAnomaly, and
// by nn::clip_grad_norm with error_if_nonfinite.
class NonFiniteError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// While one of these lives, this thread's ops check their results and
// backward() checks every gradient (see above). Guards nest.
class DetectAnomaly {
 public:
  DetectAnomaly();
  ~DetectAnomaly();
  DetectAnomaly(const DetectAnomaly&) = delete;
  DetectAnomaly& operator=(const DetectAnomaly&) = delete;

 private:
  bool previous_;
};

bool is_anomaly_detection_enabled();

// Names the layer whose ops run while the scope lives on this thread; scopes
// nest into a path ("sequential/dense_1"). `name` must outlive the scope.
// `owner` (a layer's address, or nullptr) lets a container name a child once:
// a scope whose owner is that of the innermost open scope adds nothing, so a
// Sequential's scope for its child "dense_1" is not followed by the child's
// own "dense".
class LayerScope {
 public:
  explicit LayerScope(const char* name, const void* owner = nullptr);
  explicit LayerScope(const std::string& name, const void* owner = nullptr)
      : LayerScope(name.c_str(), owner) {}
  ~LayerScope();
  LayerScope(const LayerScope&) = delete;
  LayerScope& operator=(const LayerScope&) = delete;

 private:
  friend const char* current_layer_path_interned();
  const char* name_;
  const void* owner_;
  LayerScope* outer_ = nullptr;
  bool open_ = false;  // false when it added nothing (same owner as the innermost)
  // The path up to this scope, made on first use and kept for the process.
  const char* path_ = nullptr;
};

// The path of this thread's open layer scopes, outermost first, joined by
// '/'; "" outside any.
std::string current_layer_path();
// The same as a string that lives until the process ends (one copy per
// distinct path), or nullptr outside any scope: graph nodes keep it for their
// backward's messages.
const char* current_layer_path_interned();

}  // namespace xgrad
