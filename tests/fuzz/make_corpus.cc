// Writes the fuzz targets' seed corpora: make_corpus OUT_DIR writes OUT_DIR/<target>/<name> for
// the targets page, log, store and dump, from the base stores of fuzz_support.h (every page of
// each type, every log segment, a few patch lists), plus a few nodes built here. Nothing binary is
// committed: scripts/fuzz.sh runs this before fuzzing, and ctest replays its output (label fuzz).
// Also checks that the base store is byte-for-byte deterministic (built twice, compared), which
// a store input's reproducibility depends on; exit status 1 if it is not.
#include <fmt/format.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <type_traits>
#include <vector>

#include "index/btree_node.h"
#include "tests/fuzz/fuzz_support.h"

namespace pagestore::fuzz {
namespace {

namespace fs = std::filesystem;

class Writer {
 public:
  explicit Writer(fs::path dir) : dir_(std::move(dir)) {}
  void Put(const std::string& target, const std::string& name, const std::vector<std::byte>& in) {
    fs::create_directories(dir_ / target);
    std::ofstream f(dir_ / target / name, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(in.data()), static_cast<std::streamsize>(in.size()));
    if (!f) Fail("cannot write " + (dir_ / target / name).string());
    ++counts_[target];
  }
  const std::map<std::string, int>& counts() const { return counts_; }

 private:
  fs::path dir_;
  std::map<std::string, int> counts_;
};

template <typename T>
requires std::is_integral_v<T>
void Append(std::vector<std::byte>& out, const T& v) {
  const auto* p = reinterpret_cast<const std::byte*>(&v);
  out.insert(out.end(), p, p + sizeof v);
}
void AppendBytes(std::vector<std::byte>& out, std::span<const std::byte> bytes) {
  out.insert(out.end(), bytes.begin(), bytes.end());
}

std::vector<std::byte> TrimZeros(std::span<const std::byte> b) {
  std::size_t n = b.size();
  while (n > 0 && b[n - 1] == std::byte{0}) --n;
  return {b.begin(), b.begin() + static_cast<std::ptrdiff_t>(n)};
}

// Empty if equal, else the first difference.
std::string Difference(const StoreImage& a, const StoreImage& b) {
  if (a.pages.size() != b.pages.size()) {
    return fmt::format("{} pages against {}", a.pages.size(), b.pages.size());
  }
  for (std::size_t id = 0; id < a.pages.size(); ++id) {
    for (std::size_t i = 0; i < kPageSize; ++i) {
      if (a.pages[id][i] != b.pages[id][i]) return fmt::format("page {} byte {}", id, i);
    }
  }
  if (a.log_files.size() != b.log_files.size()) return "the number of log files";
  for (std::size_t f = 0; f < a.log_files.size(); ++f) {
    const auto& [name, x] = a.log_files[f];
    const auto& y = b.log_files[f].second;
    if (name != b.log_files[f].first)
      return "log file names: " + name + ", " + b.log_files[f].first;
    if (x.size() != y.size())
      return fmt::format("log file {}: {} bytes against {}", name, x.size(), y.size());
    for (std::size_t i = 0; i < x.size(); ++i) {
      if (x[i] != y[i]) return fmt::format("log file {} byte {}", name, i);
    }
  }
  return "";
}

// Pages: every distinct page of both images, and nodes built here.
using Pages = std::vector<std::array<std::byte, kPageSize>>;
void PageSeeds(Writer& w, const Pages& pages, const std::string& tag, const Pages* skip_same) {
  for (std::size_t id = 0; id < pages.size(); ++id) {
    if (skip_same != nullptr && id < skip_same->size() && (*skip_same)[id] == pages[id]) continue;
    const std::string type(PageTypeName(static_cast<PageType>(ReadPageHeader(pages[id]).type)));
    const std::string name = fmt::format("{}-{:03d}-{}", tag, id, id < 2 ? "superblock" : type);
    // The page target seals for page 2 + selector % 64: pages up to 65 keep their checksum;
    // later ones (and superblocks) are resealed by the harness.
    std::vector<std::byte> in;
    const bool as_is = id >= kFirstDataPage && id < kFirstDataPage + 64;
    Append(in, std::uint8_t{as_is ? std::uint8_t{0} : std::uint8_t{1}});
    Append(in, static_cast<std::uint16_t>(as_is ? id - kFirstDataPage : 0));
    AppendBytes(in, TrimZeros(pages[id]));
    w.Put("page", name, in);
    // dump-page: the page as data page 2 or 3 (resealed), or as a superblock copy.
    std::vector<std::byte> d;
    Append(d, std::uint8_t{0});
    const PageId as = id < 2 ? id : 2 + id % 2;
    Append(d, static_cast<std::uint8_t>(1 | (as << 1) | (id % 5 == 0 ? 8 : 0)));
    AppendBytes(d, TrimZeros(pages[id]));
    w.Put("dump", "page-" + name, d);
  }
  if (skip_same != nullptr) return;
  // Crafted nodes: a full-ish leaf with dead bytes, and an internal node.
  alignas(kPageSize) std::array<std::byte, kPageSize> leaf{}, internal{};
  InitPage(PageSpan(leaf.data(), kPageSize), PageType::kBTreeLeaf);
  Node l(leaf.data());
  l.Init(0);
  for (int i = 0; i < 40; ++i) {
    l.InsertLeaf(static_cast<std::size_t>(i), BaseKey(i),
                 std::string(static_cast<std::size_t>(i), 'v'));
  }
  l.Remove(10);
  l.Remove(20);
  InitPage(PageSpan(internal.data(), kPageSize), PageType::kBTreeInternal);
  Node n(internal.data());
  n.Init(1);
  n.set_leftmost_child(7);
  for (int i = 0; i < 30; ++i) n.InsertInternal(static_cast<std::size_t>(i), BaseKey(i * 3), 8 + i);
  for (const auto& [name, page] :
       {std::pair{"node-leaf", &leaf}, std::pair{"node-internal", &internal}}) {
    std::vector<std::byte> in;
    Append(in, std::uint8_t{1});
    Append(in, std::uint16_t{0});
    AppendBytes(in, TrimZeros(*page));
    w.Put("page", name, in);
  }
}

// Log inputs from the images' segments: each alone with a harness header, raw, consecutive pairs.
void LogSeeds(Writer& w, const StoreImage& image, const std::string& tag) {
  std::vector<FuzzSegment> segs;
  for (const auto& [name, bytes] : image.log_files) {
    SegmentHeader h;
    std::uint64_t number;
    if (!ParseSegmentFileName(name, &number) || bytes.size() < kSegmentHeaderSize ||
        !DecodeSegmentHeader(bytes, &h) || number > 0xffff) {
      continue;
    }
    FuzzSegment s;
    s.number = static_cast<std::uint16_t>(number);
    s.first_lsn = h.first_lsn;
    s.presized = false;
    s.body = TrimZeros(std::span<const std::byte>(bytes).subspan(kSegmentHeaderSize));
    segs.push_back(s);
    FuzzSegment raw = s;
    raw.with_header = false;
    raw.body = TrimZeros(bytes);
    const std::string base = fmt::format("{}-{}", tag, name);
    w.Put("log", base, EncodeFuzzLog({s}, false));
    w.Put("log", base + "-raw", EncodeFuzzLog({raw}, false));
    std::vector<std::byte> d;
    Append(d, std::uint8_t{1});
    AppendBytes(d, EncodeFuzzLog({s}, false));
    w.Put("dump", "wal-" + base, d);
    std::vector<std::byte> stats;
    Append(stats, std::uint8_t{1 | 2 | 4});
    AppendBytes(stats, EncodeFuzzLog({s}, false));
    w.Put("dump", "wal-stats-json-" + base, stats);
  }
  for (std::size_t i = 0; i + 1 < segs.size(); ++i) {
    const std::string name = fmt::format("{}-pair-{}", tag, i);
    w.Put("log", name, EncodeFuzzLog({segs[i], segs[i + 1]}, false));
    std::vector<std::byte> d;
    Append(d, std::uint8_t{1 | 8});
    Append(d, Lsn{segs[i + 1].first_lsn});
    AppendBytes(d, EncodeFuzzLog({segs[i], segs[i + 1]}, false));
    w.Put("dump", "wal-from-" + name, d);
  }
}

// Patch lists against the base stores.
void StoreSeeds(Writer& w, const StoreImage& clean) {
  auto put = [&](const std::string& name, std::uint8_t flags, std::vector<std::byte> ops) {
    std::vector<std::byte> in;
    Append(in, flags);
    AppendBytes(in, ops);
    w.Put("store", name, in);
  };
  put("clean", 0x00, {});
  put("crashed", 0x01, {});
  put("crashed-write", 0x11, {});
  put("crashed-absolute", 0x05, {});
  put("crashed-point-in-time", 0x09, {});
  const std::uint32_t pages = static_cast<std::uint32_t>(clean.pages.size());
  for (std::uint32_t id = kFirstDataPage; id < pages; ++id) {
    // A resealed change of the page's first payload bytes (node counts, hash depths, trunk
    // counts).
    std::vector<std::byte> ops;
    Append(ops, std::uint8_t{0});
    Append(ops, static_cast<std::uint32_t>(id * kPageSize + kPageHeaderSize + 2 * (id % 4)));
    Append(ops, std::uint8_t{2});
    Append(ops, std::uint16_t{static_cast<std::uint16_t>(0x0100 + id)});
    put(fmt::format("page-{:03d}", id), static_cast<std::uint8_t>(0x02 | (id % 2)), ops);
  }
  {
    std::vector<std::byte> ops;
    Append(ops, std::uint8_t{1});
    Append(ops, std::uint8_t{0});
    Append(ops, std::uint32_t{kSegmentHeaderSize + 100});
    Append(ops, std::uint8_t{4});
    Append(ops, std::uint32_t{0xdeadbeef});
    put("log-bytes", 0x01, ops);
    put("log-bytes-resealed", 0x03, ops);
  }
  for (std::uint8_t file = 0; file < clean.log_files.size() && file < 4; ++file) {
    std::vector<std::byte> ops;
    Append(ops, std::uint8_t{2});
    Append(ops, file);
    Append(ops, std::uint32_t{kSegmentHeaderSize + 3000});
    put(fmt::format("log-resize-{}", file), 0x01, ops);
    std::vector<std::byte> rm;
    Append(rm, std::uint8_t{4});
    Append(rm, file);
    put(fmt::format("log-remove-{}", file), 0x01, rm);
  }
  {
    std::vector<std::byte> ops;
    Append(ops, std::uint8_t{3});
    Append(ops, static_cast<std::uint16_t>(pages - 1));
    put("page-file-cut", 0x01, ops);
  }
}

}  // namespace
}  // namespace pagestore::fuzz

int main(int argc, char** argv) {
  using namespace pagestore;
  using namespace pagestore::fuzz;
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
    return 2;
  }
  int status = 0;
  for (bool crashed : {false, true}) {
    absl::StatusOr<StoreImage> again = BuildStore(crashed);
    if (!again.ok()) Fail(again.status().ToString());
    if (const std::string diff = Difference(*again, BaseStore(crashed)); !diff.empty()) {
      std::fprintf(stderr,
                   "make_corpus: the %s base store is not deterministic (%s): store inputs will "
                   "not reproduce across processes\n",
                   crashed ? "crashed" : "clean", diff.c_str());
      status = 1;
    }
  }
  Writer w{std::filesystem::path(argv[1])};
  const StoreImage& clean = BaseStore(false);
  const StoreImage& crashed = BaseStore(true);
  PageSeeds(w, clean.pages, "clean", nullptr);
  PageSeeds(w, crashed.pages, "crashed", &clean.pages);
  LogSeeds(w, clean, "clean");
  LogSeeds(w, crashed, "crashed");
  StoreSeeds(w, clean);
  for (const auto& [target, n] : w.counts()) {
    std::printf("make_corpus: %d seeds in %s/%s (base store: %zu pages, %zu log files)\n", n,
                argv[1], target.c_str(), clean.pages.size(), clean.log_files.size());
  }
  return status;
}
