#pragma once
// What the libFuzzer targets share: the scratch file each input is written
// to (the readers take paths), the check that fails a run loudly, and the
// zip repair that lets mutations reach the .npy entries behind a zip's CRCs.

#include <stdlib.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace xgrad::fuzz {

// A finding that is not a crash (a wrong shape after a load that reported
// success): abort, so libFuzzer saves the input like any crash.
[[noreturn]] inline void fail(const std::string& what) {
  std::fprintf(stderr, "fuzz target check failed: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

inline void check(bool ok, const std::string& what) {
  if (!ok) fail(what);
}

// One file per process in $TMPDIR (scripts/fuzz.sh points it at its scratch
// directory), rewritten for every input and removed at exit. The suffix
// matters to the readers: read_npz refuses ".pt" and ".pth".
class ScratchFile {
 public:
  explicit ScratchFile(const char* suffix) {
    const char* dir = std::getenv("TMPDIR");
    std::string pattern = std::string(dir && *dir ? dir : "/tmp") + "/xgrad_fuzz_XXXXXX" + suffix;
    std::vector<char> name(pattern.begin(), pattern.end());
    name.push_back('\0');
    const int fd = mkstemps(name.data(), static_cast<int>(std::strlen(suffix)));
    if (fd < 0) fail("cannot create a scratch file from " + pattern);
    ::close(fd);
    path_ = name.data();
  }
  ~ScratchFile() { ::unlink(path_.c_str()); }
  ScratchFile(const ScratchFile&) = delete;
  ScratchFile& operator=(const ScratchFile&) = delete;

  const std::string& write(const std::uint8_t* data, std::size_t size) {
    std::FILE* out = std::fopen(path_.c_str(), "wb");
    if (!out || (size && std::fwrite(data, 1, size, out) != size) || std::fclose(out) != 0)
      fail("cannot write the scratch file " + path_);
    return path_;
  }
  const std::string& write(const std::string& bytes) {
    return write(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

namespace zip_detail {
inline std::uint32_t u16(const std::string& s, std::size_t at) {
  return static_cast<std::uint8_t>(s[at]) | static_cast<std::uint8_t>(s[at + 1]) << 8;
}
inline std::uint32_t u32(const std::string& s, std::size_t at) { return u16(s, at) | u16(s, at + 2) << 16; }
inline std::uint64_t u64(const std::string& s, std::size_t at) {
  return u32(s, at) | static_cast<std::uint64_t>(u32(s, at + 4)) << 32;
}
inline void put32(std::string& s, std::size_t at, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) s[at + i] = static_cast<char>(v >> (8 * i));
}

// CRC-32 of a raw deflate stream's output, or false if it does not inflate
// (to at most 64 MiB: enough for any seed, small enough for the run).
inline bool inflated_crc(const char* data, std::size_t size, std::uint32_t& crc) {
  z_stream z{};
  if (inflateInit2(&z, -MAX_WBITS) != Z_OK) return false;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data));
  z.avail_in = static_cast<uInt>(size);
  unsigned char out[1 << 14];
  uLong c = crc32(0, nullptr, 0);
  std::size_t total = 0;
  int status = Z_OK;
  while (status == Z_OK && total < (std::size_t{64} << 20)) {
    z.next_out = out;
    z.avail_out = sizeof out;
    status = inflate(&z, Z_NO_FLUSH);
    const std::size_t produced = sizeof out - z.avail_out;
    c = crc32(c, out, static_cast<uInt>(produced));
    total += produced;
    if (status == Z_OK && produced == 0 && z.avail_in == 0) break;
  }
  inflateEnd(&z);
  crc = static_cast<std::uint32_t>(c);
  return status == Z_STREAM_END;
}
}  // namespace zip_detail

// `zip` with every entry's CRC-32 (in its local header and its central
// directory record) set to the CRC of its data. A mutated byte inside an
// entry then reaches the .npy parser instead of failing libzip's CRC check;
// bytes that are not a zip come back as they are. Knows what numpy.savez
// writes: stored or deflated entries, sizes in a zip64 extra field.
inline std::string with_valid_crcs(std::string zip) {
  using namespace zip_detail;
  std::vector<std::pair<std::size_t, std::uint32_t>> fixed;  // local header offset, CRC
  for (std::size_t at = zip.find("PK\3\4"); at != std::string::npos && at + 30 <= zip.size();
       at = zip.find("PK\3\4", at + 4)) {
    const std::uint32_t method = u16(zip, at + 8);
    std::uint64_t comp_size = u32(zip, at + 18);
    const std::size_t name_len = u16(zip, at + 26), extra_len = u16(zip, at + 28);
    const std::size_t data_at = at + 30 + name_len + extra_len;
    if (data_at > zip.size()) break;
    if (comp_size == 0xFFFFFFFFu) {  // zip64: the sizes are in extra field 0x0001
      for (std::size_t e = at + 30 + name_len; e + 4 <= data_at;) {
        const std::size_t id = u16(zip, e), len = u16(zip, e + 2);
        if (id == 1 && len >= 16 && e + 4 + len <= data_at) comp_size = u64(zip, e + 12);
        e += 4 + len;
      }
    }
    if (comp_size > zip.size() - data_at) continue;
    std::uint32_t crc = 0;
    if (method == 0) {
      crc = static_cast<std::uint32_t>(
          crc32(crc32(0, nullptr, 0), reinterpret_cast<const Bytef*>(zip.data() + data_at),
                static_cast<uInt>(comp_size)));
    } else if (method != 8 || !inflated_crc(zip.data() + data_at, comp_size, crc)) {
      continue;
    }
    put32(zip, at + 14, crc);
    fixed.emplace_back(at, crc);
  }
  for (std::size_t at = zip.find("PK\1\2"); at != std::string::npos && at + 46 <= zip.size();
       at = zip.find("PK\1\2", at + 4)) {
    std::uint64_t local = u32(zip, at + 42);
    if (local == 0xFFFFFFFFu) {  // zip64 extra: [size, comp size,] local offset
      const std::size_t name_len = u16(zip, at + 28), extra_len = u16(zip, at + 30);
      const std::size_t begin = at + 46 + name_len, end = std::min(begin + extra_len, zip.size());
      for (std::size_t e = begin; e + 4 <= end;) {
        const std::size_t id = u16(zip, e), len = u16(zip, e + 2);
        if (id == 1 && e + 4 + len <= end) {
          std::size_t field = e + 4;
          if (u32(zip, at + 24) == 0xFFFFFFFFu) field += 8;
          if (u32(zip, at + 20) == 0xFFFFFFFFu) field += 8;
          if (field + 8 <= e + 4 + len) local = u64(zip, field);
        }
        e += 4 + len;
      }
    }
    for (const auto& [offset, crc] : fixed)
      if (offset == local) put32(zip, at + 16, crc);
  }
  return zip;
}

}  // namespace xgrad::fuzz
