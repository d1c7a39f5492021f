#pragma once
// Files a user saves are never half-written: every writer in xgrad goes
// through write_file_atomically.

#include <cstdint>
#include <stdexcept>
#include <string>

namespace xgrad {

// A file could not be read or written, or its contents are corrupt. The
// message names the file (and, for .npz, the entry).
class IoError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Writes `bytes` to a sibling temporary, fsyncs it and renames it over
// `path`, so readers see the old file or the complete new one. On failure the
// temporary is removed, `path` is untouched, and IoError is thrown with
// `where` (e.g. "save: model.npz: ") in front of the reason.
//
// A killed writer leaves no temporary: on Linux file systems with O_TMPFILE
// (ext4, xfs, btrfs, tmpfs) the temporary has no name until it is complete
// and is named "<path>.tmp<pid>-<n>" only for the instant before the rename;
// elsewhere it has that name while written. Each write first removes the
// temporaries of `path` whose process no longer runs.
void write_file_atomically(const std::string& path, const std::string& bytes,
                           const std::string& where);

// How many bytes of arrays a file of `file_size` bytes may declare where
// nothing else bounds them (a zip entry's inflated size, an unbuilt layer's
// weights), unless the caller raises the limit: max(64 MiB, 32 x file_size).
// A real weight file rarely inflates 32-fold; a zip bomb does 1000-fold.
std::uint64_t default_declared_bytes_limit(std::uint64_t file_size);

}  // namespace xgrad
