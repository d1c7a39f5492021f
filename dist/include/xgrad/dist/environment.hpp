#pragma once
// Data-parallel training over MPI (xgrad::dist, the optional target
// xgrad::dist): R processes (ranks) run the same program, each with the whole
// model and its own part of the data, and average their gradients with one
// MPI_Allreduce per bucket at every step, as Horovod and torch.distributed's
// MPI backend do. Launched by MPI's own launcher, which also spans machines:
//
//   mpirun -np 2 ./train                      one machine, two processes
//   mpirun -np 64 --hostfile hosts ./train    several machines
//   srun -n 64 ./train                        under Slurm
//
// Environment is MPI for the lifetime of one object; make it first in main():
//
//   int main(int argc, char** argv) {
//     xgrad::dist::Environment mpi(argc, argv);
//     ...
//     xgrad::dist::DataParallel<float> parallel(trainer);  // data_parallel.hpp
//     trainer.fit(x, y, options);
//   }
//
// Faults: an exception that leaves main() on any rank (std::terminate) ends
// the whole job with MPI_Abort: its message on stderr with the rank, and a
// non-zero exit status from mpirun, never ranks waiting forever in a
// collective. A rank that catches an exception itself ends the job with
// abort(message). (A rank that just returns from main() while the others
// are still training leaves them waiting: end a failing rank with one of
// those two.)

#include <cstddef>
#include <exception>
#include <string>

namespace xgrad::dist {

class Environment {
 public:
  // MPI_Init_thread with MPI_THREAD_FUNNELED (only the main thread calls
  // MPI; OpenBLAS's threads never do), and the std::terminate handler that
  // aborts the job. Throws std::logic_error if MPI is already initialized
  // (one Environment per process) and std::runtime_error if MPI fails.
  Environment(int& argc, char**& argv);
  Environment();
  // MPI_Finalize; MPI_Abort instead when an exception is passing through
  // (see abort()), since the other ranks may be waiting for this one.
  ~Environment();
  Environment(const Environment&) = delete;
  Environment& operator=(const Environment&) = delete;

  // This process's rank in MPI_COMM_WORLD, 0 .. world_size() − 1.
  std::size_t rank() const;
  std::size_t world_size() const;
  bool is_root() const { return rank() == 0; }

  // Ends the whole job: writes "xgrad::dist: rank r of R: <message>" on
  // stderr and calls MPI_Abort(MPI_COMM_WORLD, exit_code), which makes the
  // launcher stop every rank and exit non-zero.
  [[noreturn]] static void abort(const std::string& message, int exit_code = 1);

 private:
  int uncaught_at_start_ = 0;
  std::terminate_handler previous_terminate_ = nullptr;
};

// The rank and world size of MPI_COMM_WORLD; std::logic_error when MPI is not
// initialized (no Environment alive).
std::size_t rank();
std::size_t world_size();

}  // namespace xgrad::dist
