// An exception on one rank in the middle of data-parallel training ends the
// whole job: run as `mpirun -np 2 dist_fault`, rank 1 throws from a callback
// at its third batch while rank 0 goes on into the next step's allreduce.
// dist::Environment must then print it and MPI_Abort, so that mpirun exits
// non-zero at once instead of rank 0 waiting forever (check_fault.cmake
// times it).

#include <memory>
#include <stdexcept>
#include <string>

#include <xgrad/dist/dist.hpp>
#include <xgrad/xgrad.hpp>

namespace nn = xgrad::nn;

class FailOnRankOne : public nn::Callback {
 public:
  void on_train_batch_end(std::size_t batch, nn::Logs&) override {
    if (xgrad::dist::rank() == 1 && batch == 2)
      throw std::runtime_error("injected failure on rank 1 at batch 2");
  }
};

// Trains until rank 1 fails (never returns normally).
void train_until_rank_one_fails() {
  xgrad::set_num_threads(1);
  xgrad::manual_seed(1);
  auto model = std::make_shared<nn::Dense<float>>(nn::DenseOptions(1));
  const xgrad::Array<float> x = xgrad::uniform<float>({64, 4}, -1.0f, 1.0f);
  const xgrad::Array<float> y = xgrad::uniform<float>({64, 1}, -1.0f, 1.0f);
  (*model)(xgrad::Variable<float>(x));
  nn::SGD<float> sgd(model->parameters());
  nn::Trainer<float> trainer(*model, sgd, "mse");
  xgrad::dist::DataParallel<float> parallel(trainer);
  trainer.fit(x, y, nn::FitOptions().epochs(1000).batch_size(2).verbose(0).callbacks(
                        {std::make_shared<FailOnRankOne>()}));
}

// dist_fault: the exception leaves main() (std::terminate).
// dist_fault --caught: main() catches it outside the Environment's scope, so
// the Environment is destroyed by the exception passing through: it must
// end the job rather than finalize MPI while rank 0 waits.
int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "--caught") {
    try {
      xgrad::dist::Environment mpi(argc, argv);
      train_until_rank_one_fails();
    } catch (const std::exception&) {
      return 3;  // not reached: the Environment's destructor aborted the job
    }
    return 0;
  }
  xgrad::dist::Environment mpi(argc, argv);
  train_until_rank_one_fails();
  return 0;  // not reached: rank 1 fails in the first epoch
}
