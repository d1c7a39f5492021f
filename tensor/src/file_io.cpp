#include "xgrad/tensor/file_io.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <system_error>

namespace xgrad {

void write_file_atomically(const std::string& path, const std::string& bytes,
                           const std::string& where) {
  static std::atomic<unsigned> counter{0};
  std::string tmp;
  int fd = -1;
  for (int attempt = 0; fd < 0; ++attempt) {
    tmp = path + ".tmp" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && (errno != EEXIST || attempt == 100))
      throw IoError(where + "cannot create temporary file " + tmp + ": " + std::generic_category().message(errno));
  }
  auto fail = [&](const char* what) {
    const int e = errno;
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    throw IoError(where + what + ": " + std::generic_category().message(e));
  };
  for (std::size_t done = 0; done < bytes.size();) {
    const ssize_t r = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) fail("write failed");
    done += static_cast<std::size_t>(r);
  }
  if (::fsync(fd) != 0) fail("fsync failed");
  const int closed = ::close(fd);
  fd = -1;
  if (closed != 0) fail("close failed");
  if (::rename(tmp.c_str(), path.c_str()) != 0) fail("cannot replace the file");
  // Make the rename itself durable; a failure here leaves a complete file.
  const std::size_t slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "."
                          : slash == 0               ? "/"
                                                     : path.substr(0, slash);
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
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
