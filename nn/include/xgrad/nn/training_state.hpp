#pragma once
// Resumable training: everything a run needs to continue, in one .npz file,
// so that a run stopped (or killed) and resumed in a new process ends with
// the same weights, byte for byte, as one that never stopped.
//
//   trainer.save_training_state("run.npz");   // during or after fit
//   ...                                        // a new process, same model and options
//   trainer.load_training_state("run.npz");   // the next fit continues there
//   trainer.fit(x, y, options);
//
// nn::BackupAndRestore (callbacks.hpp) does this for fit on its own. A loop
// of your own uses the free functions below with the model and optimizer.
//
// The file (written atomically, as nn::save; numpy.load reads it) holds:
//   training_state/version            int64, 1
//   model/<parameter name>            each weight (named_parameters())
//   optimizer/<Name>/iterations       int64; also skipped_steps, and
//   optimizer/<Name>/learning_rate    float64, the constant rate (a schedule
//                                     follows from iterations)
//   optimizer/<Name>/<slot>/<i>       each moment (Optimizer::state())
//   progress/epoch, progress/batch    int64: the epoch under way, its batches done
//   progress/epoch_order              int64 [N]: that epoch's sample order (mid-epoch
//                                     only; all N training samples, also when
//                                     each replica trains on a shard of it)
//   random/generator                  int64: xgrad::generator()'s state (the
//                                     calling thread's: unseeded dropout, shuffling)
//   random/shuffle_generator          a seeded DataLoader's generator (if any)
//   random/model/<path>               each seeded layer's own generator
//                                     (Module::named_generators())
//   metrics/<name>                    float64: the epoch's running figures
//                                     (the loss tracker and Metric::state();
//                                     with replicas, summed over them)
// Generator states are stored as int64 with the bits of their uint64 words.
//
// Loading checks every entry (names, dtypes, shapes, the optimizer's kind)
// before changing anything, and throws xgrad::IoError naming the file and
// the entry that does not fit. What is not saved: the state of callbacks
// (EarlyStopping's best, ReduceLROnPlateau's wait, as Keras' BackupAndRestore
// does not save them either), a stateful recurrent layer's states, the masks
// a recurrent cell keeps between calls.

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "xgrad/nn/module.hpp"
#include "xgrad/nn/optimizers.hpp"

namespace xgrad::nn {

// Where a run is: the epoch under way (from 0) and how many of its batches
// are done. {epoch + 1, 0} once an epoch has ended.
struct TrainingProgress {
  std::size_t epoch = 0;
  std::size_t batch = 0;
};

// What a training loop keeps besides the model, the optimizer and the
// generators the file always holds.
struct RunState {
  TrainingProgress progress;
  // The sample order of the epoch under way, when it is part-done; empty
  // otherwise.
  std::vector<std::size_t> epoch_order;
  // generator_state() of the data loader's own generator (a DataLoader with
  // a seed: DataLoader::seed_generator()); empty when shuffling draws from
  // xgrad::generator().
  std::vector<std::uint64_t> shuffle_generator;
  // The epoch's running figures by name ("loss", then each metric's
  // Metric::state()).
  std::vector<std::pair<std::string, std::vector<double>>> metrics;
};

// Saves `model`'s weights, `optimizer`'s state, `run`, the calling thread's
// xgrad::generator() and the model's own generators into `path`. Throws
// xgrad::IoError naming the file when it cannot be written or the model has
// no parameters yet.
template <typename T>
void save_training_state(const std::string& path, const Module<T>& model,
                         const Optimizer<T>& optimizer, const RunState& run = {});

// Restores what save_training_state saved into the same (built) model and
// an optimizer of the same kind and options over its parameters, sets the
// calling thread's xgrad::generator() and the model's own generators, and
// returns the rest. On any mismatch it throws xgrad::IoError naming the file
// and the entry (and the shapes), and changes nothing.
template <typename T>
RunState load_training_state(const std::string& path, Module<T>& model, Optimizer<T>& optimizer);

extern template void save_training_state(const std::string&, const Module<float>&,
                                         const Optimizer<float>&, const RunState&);
extern template void save_training_state(const std::string&, const Module<double>&,
                                         const Optimizer<double>&, const RunState&);
extern template RunState load_training_state(const std::string&, Module<float>&, Optimizer<float>&);
extern template RunState load_training_state(const std::string&, Module<double>&, Optimizer<double>&);

}  // namespace xgrad::nn
