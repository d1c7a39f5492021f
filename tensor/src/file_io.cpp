#include "xgrad/tensor/file_io.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <system_error>

namespace xgrad {

namespace {

std::string errno_text(int e) { return std::generic_category().message(e); }

std::string directory_of(const std::string& path) {
  const std::size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
}

std::string base_name_of(const std::string& path) {
  const std::size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// "<path>.tmp<pid>-<n>": a temporary names the process that wrote it.
std::string temporary_name(const std::string& path) {
  static std::atomic<unsigned> counter{0};
  return path + ".tmp" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
}

// Removes the temporaries of `path` whose writer no longer runs: a writer
// killed between naming its temporary and renaming it (a few microseconds
// with O_TMPFILE, the whole write without) leaves one behind.
void remove_stale_temporaries(const std::string& path) {
  const std::string prefix = base_name_of(path) + ".tmp";
  const std::string dir = directory_of(path);
  DIR* listing = ::opendir(dir.c_str());
  if (listing == nullptr) return;
  while (const dirent* entry = ::readdir(listing)) {
    const std::string name = entry->d_name;
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    const std::size_t dash = name.find('-', prefix.size());
    const std::string pid_text = name.substr(prefix.size(), dash == std::string::npos ? 0 : dash - prefix.size());
    const std::string serial = dash == std::string::npos ? "" : name.substr(dash + 1);
    const auto digits = [](const std::string& s) {
      return !s.empty() && s.size() < 12 && s.find_first_not_of("0123456789") == std::string::npos;
    };
    if (!digits(pid_text) || !digits(serial)) continue;
    const long pid = std::strtol(pid_text.c_str(), nullptr, 10);
    if (pid <= 0 || pid == ::getpid()) continue;
    if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) ::unlinkat(::dirfd(listing), name.c_str(), 0);
  }
  ::closedir(listing);
}

// Gives the anonymous file `fd` (O_TMPFILE) the name `name`.
bool link_anonymous(int fd, const std::string& name) {
  const std::string self = "/proc/self/fd/" + std::to_string(fd);
  if (::linkat(AT_FDCWD, self.c_str(), AT_FDCWD, name.c_str(), AT_SYMLINK_FOLLOW) == 0) return true;
  // Without /proc, linking by descriptor needs CAP_DAC_READ_SEARCH.
  return errno == ENOENT && ::linkat(fd, "", AT_FDCWD, name.c_str(), AT_EMPTY_PATH) == 0;
}

}  // namespace

void write_file_atomically(const std::string& path, const std::string& bytes,
                           const std::string& where) {
  remove_stale_temporaries(path);
  // An O_TMPFILE file has no name until it is complete, so a writer killed
  // while writing leaves nothing behind. Where the file system cannot, a
  // named temporary, which the next save removes if its writer died.
  std::string tmp;
  int fd = ::open(directory_of(path).c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0666);
  const bool anonymous = fd >= 0;
  for (int attempt = 0; fd < 0; ++attempt) {
    tmp = temporary_name(path);
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && (errno != EEXIST || attempt == 100))
      throw IoError(where + "cannot create temporary file " + tmp + ": " + errno_text(errno));
  }
  auto fail = [&](const char* what) {
    const int e = errno;
    if (fd >= 0) ::close(fd);
    if (!tmp.empty()) ::unlink(tmp.c_str());
    throw IoError(where + what + ": " + errno_text(e));
  };
  for (std::size_t done = 0; done < bytes.size();) {
    const ssize_t r = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) fail("write failed");
    done += static_cast<std::size_t>(r);
  }
  if (::fsync(fd) != 0) fail("fsync failed");
  if (anonymous) {
    // linkat cannot replace `path`: name the file, then rename that name over it.
    for (int attempt = 0;; ++attempt) {
      const std::string name = temporary_name(path);
      if (link_anonymous(fd, name)) {
        tmp = name;
        break;
      }
      if (errno != EEXIST || attempt == 100) fail("cannot name the temporary file");
    }
  }
  const int closed = ::close(fd);
  fd = -1;
  if (closed != 0) fail("close failed");
  if (::rename(tmp.c_str(), path.c_str()) != 0) fail("cannot replace the file");
  // Make the rename itself durable; a failure here leaves a complete file.
  const int dfd = ::open(directory_of(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

std::uint64_t default_declared_bytes_limit(std::uint64_t file_size) {
  constexpr std::uint64_t floor = std::uint64_t{64} << 20;
  constexpr std::uint64_t ratio = 32;
  return file_size > UINT64_MAX / ratio ? UINT64_MAX : std::max(floor, ratio * file_size);
}

}  // namespace xgrad
