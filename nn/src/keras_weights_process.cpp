// load_keras_weights' default path: libhdf5 parses the file in the program
// xgrad-h5-reader, so a file that crashes or hangs libhdf5 costs an IoError,
// not the caller's process. The request goes to the program's stdin, the
// weights come back on its stdout as an .npz, an error message on stderr.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "keras_weights_reader.hpp"
#include "xgrad/tensor/file_io.hpp"
#include "xgrad/tensor/npy.hpp"

extern char** environ;

namespace xgrad::nn::detail {

const char* const h5_reader_name = "xgrad-h5-reader";

OwnedFd::~OwnedFd() {
  if (fd_ >= 0) ::close(fd_);
}

namespace {

constexpr const char* kProtocol = "xgrad-h5-reader/1";
constexpr std::size_t kMaxMessage = 16 * 1024;  // of the program's stderr kept for the IoError
constexpr std::uint64_t kMaxRequest = std::uint64_t{64} << 20;

// The request is a sequence of fields, each "<decimal length>:<bytes>", so
// any layer name travels unchanged.
class Encoder {
 public:
  Encoder& field(const std::string& text) {
    out_ += std::to_string(text.size()) + ":" + text;
    return *this;
  }
  Encoder& number(std::int64_t value) { return field(std::to_string(value)); }
  const std::string& text() const { return out_; }

 private:
  std::string out_;
};

class Decoder {
 public:
  explicit Decoder(const std::string& in) : in_(in) {}
  std::string field() {
    std::size_t length = 0, digits = 0;
    while (pos_ < in_.size() && in_[pos_] >= '0' && in_[pos_] <= '9' && digits++ < 12)
      length = length * 10 + static_cast<std::size_t>(in_[pos_++] - '0');
    if (digits == 0 || pos_ >= in_.size() || in_[pos_] != ':' || in_.size() - pos_ - 1 < length)
      throw std::invalid_argument("malformed request");
    std::string out = in_.substr(pos_ + 1, length);
    pos_ += 1 + length;
    return out;
  }
  std::int64_t number() {
    const std::string text = field();
    std::size_t used = 0;
    const long long value = std::stoll(text, &used);
    if (used != text.size()) throw std::invalid_argument("malformed number in request");
    return value;
  }
  bool done() const { return pos_ == in_.size(); }

 private:
  const std::string& in_;
  std::size_t pos_ = 0;
};

struct Request {
  std::string path, where, dtype;
  std::uint64_t max_free_bytes = 0;
  KerasFileLayout layout;
};

std::string encode_request(const Request& request) {
  Encoder out;
  out.field(kProtocol).field(request.path).field(request.where).field(request.dtype);
  out.number(static_cast<std::int64_t>(std::min<std::uint64_t>(request.max_free_bytes, INT64_MAX)));
  out.number(static_cast<std::int64_t>(request.layout.containers.size()));
  for (const auto& container : request.layout.containers) out.field(container);
  out.number(static_cast<std::int64_t>(request.layout.objects.size()));
  for (const auto& object : request.layout.objects) {
    out.field(object.path).field(object.name).field(object.owner).number(object.built);
    out.number(static_cast<std::int64_t>(object.slots.size()));
    for (const auto& slot : object.slots) {
      out.field(slot.what).number(static_cast<std::int64_t>(slot.shape.size()));
      for (const auto extent : slot.shape) out.number(extent);
    }
  }
  return out.text();
}

Request decode_request(const std::string& text) {
  Decoder in(text);
  if (in.field() != kProtocol)
    throw std::invalid_argument(std::string("not a request of protocol ") + kProtocol +
                                " (the library and the program are of different versions)");
  Request request;
  request.path = in.field();
  request.where = in.field();
  request.dtype = in.field();
  request.max_free_bytes = static_cast<std::uint64_t>(in.number());
  auto count = [&in] {
    const std::int64_t n = in.number();
    if (n < 0 || n > 1 << 24) throw std::invalid_argument("implausible count in request");
    return static_cast<std::size_t>(n);
  };
  for (std::size_t i = count(); i > 0; --i) request.layout.containers.insert(in.field());
  for (std::size_t i = count(); i > 0; --i) {
    KerasObject object;
    object.path = in.field();
    object.name = in.field();
    object.owner = in.field();
    object.built = in.number() != 0;
    for (std::size_t s = count(); s > 0; --s) {
      KerasSlot slot;
      slot.what = in.field();
      for (std::size_t d = count(); d > 0; --d) slot.shape.push_back(static_cast<std::ptrdiff_t>(in.number()));
      object.slots.push_back(std::move(slot));
    }
    request.layout.objects.push_back(std::move(object));
  }
  if (!in.done()) throw std::invalid_argument("unexpected text after the request");
  return request;
}

std::string errno_text(int error) { return std::strerror(error); }

void write_all(int fd, const std::string& bytes) {
  for (std::size_t done = 0; done < bytes.size();) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw IoError(std::string("write failed: ") + errno_text(errno));
    done += static_cast<std::size_t>(n);
  }
}

std::string find_program(const std::string& where) {
  if (const char* chosen = std::getenv("XGRAD_H5_READER"); chosen != nullptr && *chosen != '\0') {
    if (::access(chosen, X_OK) != 0)
      throw IoError(where + "XGRAD_H5_READER names " + chosen + ", which is not an executable program: " +
                    errno_text(errno));
    return chosen;
  }
  const std::vector<std::string> candidates{XGRAD_H5_READER_INSTALLED, XGRAD_H5_READER_BUILT};
  for (const auto& candidate : candidates)
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  throw IoError(where + "cannot find the program " + h5_reader_name + " that reads HDF5 files outside this process (not in " +
                candidates[0] + " nor " + candidates[1] +
                "); install xgrad, name the program in the environment variable XGRAD_H5_READER, or load a "
                "file you trust with KerasLoadOptions().trusted(true)");
}

// The environment of the calling process, with OpenBLAS (which the library
// links) kept from starting threads the program does not need.
std::vector<std::string> program_environment() {
  std::vector<std::string> out;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry)
    if (std::strncmp(*entry, "OPENBLAS_NUM_THREADS=", 21) != 0) out.emplace_back(*entry);
  out.emplace_back("OPENBLAS_NUM_THREADS=1");
  return out;
}

std::vector<char*> pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

std::string signal_text(int signal_number) {
  const char* name = sigabbrev_np(signal_number);
  return "signal " + std::to_string(signal_number) + (name ? std::string(", SIG") + name : std::string());
}

// Waits for the child until `deadline`; false if it is still running then.
bool wait_until(pid_t pid, int& status, std::chrono::steady_clock::time_point deadline) {
  for (auto pause = std::chrono::microseconds(200);; pause = std::min(pause * 2, std::chrono::microseconds(20000))) {
    const pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) return true;
    if (done < 0 && errno != EINTR) {
      status = 0;  // reaped elsewhere (SIGCHLD ignored): judge by the output
      return true;
    }
    if (std::chrono::steady_clock::now() >= deadline) return false;
    ::usleep(static_cast<useconds_t>(pause.count()));
  }
}

std::uint64_t parse_limit(const char* text) {
  char* end = nullptr;
  errno = 0;
  const unsigned long long value = std::strtoull(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0') throw std::invalid_argument(std::string("bad limit ") + text);
  return value;
}

// The program's virtual memory now, so that its limit adds to what the
// libraries and (under AddressSanitizer) the shadow memory already take.
std::uint64_t current_address_space() {
  std::FILE* statm = std::fopen("/proc/self/statm", "r");
  unsigned long long pages = 0;
  if (statm != nullptr) {
    if (std::fscanf(statm, "%llu", &pages) != 1) pages = 0;
    std::fclose(statm);
  }
  return pages * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
}

void set_limit(int resource, std::uint64_t value) {
  rlimit limit{};
  if (::getrlimit(resource, &limit) != 0) return;
  const rlim_t wanted = value >= RLIM_INFINITY ? RLIM_INFINITY : static_cast<rlim_t>(value);
  limit.rlim_cur = limit.rlim_max == RLIM_INFINITY ? wanted : std::min(wanted, limit.rlim_max);
  ::setrlimit(resource, &limit);
}

template <typename T>
std::vector<std::pair<std::string, NpyArray>> read_as_entries(const Request& request) {
  auto staged = read_keras_weights_file<T>(request.path, request.layout, request.max_free_bytes, request.where);
  std::vector<std::pair<std::string, NpyArray>> entries;
  for (std::size_t o = 0; o < staged.size(); ++o) {
    for (std::size_t i = 0; i < staged[o].size(); ++i) {
      entries.emplace_back(weight_entry_name(request.layout.objects[o].path, i), NpyArray::from(staged[o][i]));
      staged[o][i] = Array<T>();  // one copy at a time
    }
  }
  return entries;
}

}  // namespace

OwnedFd run_h5_reader(const std::string& path, const KerasFileLayout& layout, const std::string& dtype,
                      std::uint64_t max_free_bytes, std::uint64_t output_limit, double seconds,
                      const std::string& where) {
  const std::string program = find_program(where);
  auto fail = [&](const std::string& what) { throw IoError(where + what + ": " + errno_text(errno)); };

  OwnedFd input(::memfd_create("xgrad-h5-reader-request", MFD_CLOEXEC));
  OwnedFd output(::memfd_create("xgrad-h5-reader-weights", MFD_CLOEXEC));
  if (input.get() < 0 || output.get() < 0) fail("cannot create an in-memory file");
  write_all(input.get(), encode_request({path, where, dtype, max_free_bytes, layout}));
  if (::lseek(input.get(), 0, SEEK_SET) != 0) fail("cannot rewind an in-memory file");
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) fail("cannot create a pipe");
  OwnedFd messages(pipe_fds[0]);
  OwnedFd messages_end(pipe_fds[1]);

  // Room for the weights (as arrays, .npy copies and the .npz) and libhdf5.
  const std::uint64_t memory = (std::uint64_t{256} << 20) + 6 * output_limit;
  const auto cpu_seconds = static_cast<std::uint64_t>(std::ceil(std::max(seconds, 0.0))) + 1;
  std::vector<std::string> arguments{program, "--memory-limit", std::to_string(memory), "--cpu-seconds",
                                     std::to_string(cpu_seconds), "--output-limit", std::to_string(output_limit)};
  std::vector<std::string> environment = program_environment();
  std::vector<char*> argv = pointers(arguments);
  std::vector<char*> envp = pointers(environment);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, input.get(), 0);
  posix_spawn_file_actions_adddup2(&actions, output.get(), 1);
  posix_spawn_file_actions_adddup2(&actions, messages_end.get(), 2);
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);  // the caller's descriptors stay its own
  pid_t pid = -1;
  const int spawned = ::posix_spawn(&pid, program.c_str(), &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (spawned != 0) {
    errno = spawned;
    fail("cannot start " + program);
  }
  { OwnedFd close_our_end(std::move(messages_end)); }

  // The program's stderr until it closes (it exits) or time runs out.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                                                std::chrono::duration<double>(std::max(seconds, 0.0)));
  std::string message;
  bool timed_out = false;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd waiting{messages.get(), POLLIN, 0};
    const int ready = ::poll(&waiting, 1, static_cast<int>(std::min<long long>(left.count() + 1, 1000)));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;
    char buffer[4096];
    const ssize_t n = ::read(messages.get(), buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    message.append(buffer, static_cast<std::size_t>(n));
    if (message.size() > kMaxMessage) message.resize(kMaxMessage);
  }
  int status = 0;
  if (timed_out || !wait_until(pid, status, deadline + std::chrono::seconds(1))) {
    ::kill(pid, SIGKILL);
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    throw IoError(where + h5_reader_name + " took longer than " + std::to_string(seconds) +
                  " s to read it and was killed (a corrupt file can make libhdf5 loop; "
                  "KerasLoadOptions::time_limit_seconds raises the limit)");
  }
  while (!message.empty() && (message.back() == '\n' || message.back() == '\r')) message.pop_back();
  if (WIFSIGNALED(status)) {
    throw IoError(where + h5_reader_name + " crashed reading it (" + signal_text(WTERMSIG(status)) +
                  "): the file is corrupt or hostile" + (message.empty() ? "" : "; it said: " + message));
  }
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (code == 1 && message.rfind(where, 0) == 0) throw IoError(message);  // the reader's own IoError
  if (code != 0) {
    throw IoError(where + h5_reader_name + " failed (exit status " + std::to_string(code) + ")" +
                  (message.empty() ? "" : ": " + message));
  }
  struct stat info {};
  if (::fstat(output.get(), &info) != 0) fail("cannot read the output of " + program);
  if (static_cast<std::uint64_t>(info.st_size) > output_limit)
    throw IoError(where + "the output of " + h5_reader_name + " is larger than the " + std::to_string(output_limit) +
                  " bytes it may be");
  return output;
}

int h5_reader_main(int argc, char** argv) {
  const char* const usage =
      "usage: xgrad-h5-reader --memory-limit BYTES --cpu-seconds S --output-limit BYTES\n"
      "Started by xgrad's load_keras_weights: reads the request on stdin, writes an .npz on stdout.\n";
  Request request;
  try {
    std::uint64_t memory = 0, cpu_seconds = 0, output_limit = 0;
    for (int i = 1; i < argc; i += 2) {
      const std::string flag = argv[i];
      if (i + 1 >= argc) throw std::invalid_argument("missing value of " + flag);
      const std::uint64_t value = parse_limit(argv[i + 1]);
      if (flag == "--memory-limit") memory = value;
      else if (flag == "--cpu-seconds") cpu_seconds = value;
      else if (flag == "--output-limit") output_limit = value;
      else throw std::invalid_argument("unknown option " + flag);
    }
    if (memory == 0 || cpu_seconds == 0 || output_limit == 0) throw std::invalid_argument("every limit is needed");
    // No core dump of a crash on a hostile file; then the limits, before the file is opened.
    set_limit(RLIMIT_CORE, 0);
    set_limit(RLIMIT_CPU, cpu_seconds);
    set_limit(RLIMIT_FSIZE, output_limit);
    set_limit(RLIMIT_AS, current_address_space() + memory);

    std::string text;
    char buffer[65536];
    for (;;) {
      const ssize_t n = ::read(0, buffer, sizeof buffer);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw std::invalid_argument(std::string("cannot read the request: ") + errno_text(errno));
      if (n == 0) break;
      text.append(buffer, static_cast<std::size_t>(n));
      if (text.size() > kMaxRequest) throw std::invalid_argument("request too long");
    }
    request = decode_request(text);
    if (request.dtype != "float32" && request.dtype != "float64")
      throw std::invalid_argument("unknown dtype " + request.dtype);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "xgrad-h5-reader: %s\n%s", error.what(), usage);
    return 2;
  }
  try {
    const auto entries =
        request.dtype == "float32" ? read_as_entries<float>(request) : read_as_entries<double>(request);
    write_all(1, encode_npz(entries));
    return 0;
  } catch (const IoError& error) {
    const std::string text = error.what();
    std::fprintf(stderr, "%s\n", text.rfind(request.where, 0) == 0 ? text.c_str() : (request.where + text).c_str());
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "%s%s ran out of memory reading it (the file declares more than it holds?)\n",
                 request.where.c_str(), h5_reader_name);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "%s%s\n", request.where.c_str(), error.what());
  }
  return 1;
}

}  // namespace xgrad::nn::detail
