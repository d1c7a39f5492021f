#include "xgrad/dist/environment.hpp"

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <stdexcept>

#include "mpi_support.hpp"

namespace xgrad::dist {

namespace {

// std::terminate handler while an Environment lives: an exception that
// escapes on one rank must end every rank (the others would wait for it in
// their next collective forever), with its message.
[[noreturn]] void abort_job_on_terminate() {
  std::string message = "std::terminate called without an active exception";
  if (const std::exception_ptr exception = std::current_exception()) {
    try {
      std::rethrow_exception(exception);
    } catch (const std::exception& e) {
      message = std::string("uncaught exception: ") + e.what();
    } catch (...) {
      message = "uncaught exception of a type not derived from std::exception";
    }
  }
  Environment::abort(message, 1);
}

std::terminate_handler initialize(int* argc, char*** argv) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (initialized) {
    throw std::logic_error("dist::Environment: MPI is already initialized (one Environment per process)");
  }
  int provided = 0;
  if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
    throw std::runtime_error("dist::Environment: MPI_Init_thread failed");
  }
  return std::set_terminate(abort_job_on_terminate);
}

int world_int(int (*query)(MPI_Comm, int*), const char* where) {
  detail::require_mpi(where);
  int value = 0;
  query(MPI_COMM_WORLD, &value);
  return value;
}

}  // namespace

Environment::Environment(int& argc, char**& argv) : uncaught_at_start_(std::uncaught_exceptions()) {
  previous_terminate_ = initialize(&argc, &argv);
}

Environment::Environment() : uncaught_at_start_(std::uncaught_exceptions()) {
  previous_terminate_ = initialize(nullptr, nullptr);
}

Environment::~Environment() {
  if (std::uncaught_exceptions() > uncaught_at_start_) {
    abort("an exception is leaving the scope of dist::Environment (its message is wherever it "
          "is caught); ending every rank",
          1);
  }
  std::set_terminate(previous_terminate_);
  MPI_Finalize();
}

std::size_t Environment::rank() const { return dist::rank(); }
std::size_t Environment::world_size() const { return dist::world_size(); }

void Environment::abort(const std::string& message, int exit_code) {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (initialized && !finalized) {
    int rank = 0, size = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    std::fprintf(stderr, "xgrad::dist: rank %d of %d: %s\n", rank, size, message.c_str());
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, exit_code == 0 ? 1 : exit_code);
  } else {
    std::fprintf(stderr, "xgrad::dist: %s\n", message.c_str());
    std::fflush(stderr);
  }
  std::_Exit(exit_code == 0 ? 1 : exit_code);
}

std::size_t rank() { return static_cast<std::size_t>(world_int(MPI_Comm_rank, "dist::rank")); }

std::size_t world_size() {
  return static_cast<std::size_t>(world_int(MPI_Comm_size, "dist::world_size"));
}

}  // namespace xgrad::dist
