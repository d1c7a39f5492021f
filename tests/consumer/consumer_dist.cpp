// Data-parallel training through the installed xgrad::dist: built (not run)
// by install_and_consume when xgrad was installed with it, to show that
// find_package(xgrad) brings the target, its headers and MPI.
#include <xgrad/dist/dist.hpp>
#include <xgrad/xgrad.hpp>

int main(int argc, char** argv) {
  xgrad::dist::Environment mpi(argc, argv);
  xgrad::nn::Dense<float> dense(xgrad::nn::DenseOptions(1));
  dense.build({-1, 5});
  xgrad::nn::SGD<float> sgd(dense.parameters());
  xgrad::nn::Trainer<float> trainer(dense, sgd, "mse");
  xgrad::dist::DataParallel<float> parallel(trainer);
  trainer.fit(xgrad::ones<float>({4, 5}), xgrad::zeros<float>({4, 1}),
              xgrad::nn::FitOptions().epochs(1).batch_size(1).verbose(0));
  return xgrad::dist::identical_on_every_rank(dense) ? 0 : 1;
}
