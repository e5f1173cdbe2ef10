// YCSB's core workloads as pieces a driver composes: the records' keys and values, the six
// workloads' operation mixes, YCSB's scrambled zipfian and "latest" record choosers, the counter
// of inserted records they read behind, and a latency histogram. Header-only; shared by the
// `pagestore bench` command (tools/bench_command.cc) and benchmarks/ycsb_bench.cc, so that both
// draw the same records the same way and a number from one reads against the other.
//
// Records. Record i (0 <= i < 2^64) has a 16-byte key: the big-endian bytes of Mix(i ^ mask)
// (splitmix64's finalizer, a bijection; mask kKeyMask unless a caller picks another) then the
// big-endian bytes of i, as in benchmarks/index_bench.cc: unique, fixed width, spread uniformly
// over the key space, so that writing i = 0, 1, 2... writes keys in random order. A value starts
// with i's bytes (its first min(8, size)), which every read checks, then letters.
//
// Slots. A workload's reads draw a "slot" and work on the record in it: slots 0..R-1 are records
// 0..R-1 (loaded before the run), later slots the records inserted during the run, in the order
// their numbers were taken (numbers from `first_insert` >= R on; see InsertCounter).
//
// Ownership: every type here owns only its own members. Thread safety: stated per type.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/random/distributions.h"

namespace pagestore::ycsb {

inline constexpr std::size_t kKeySize = 16;
inline constexpr std::uint64_t kKeyMask = 0x5851f42d4c957f2dull;  // fixed: keys do not depend
                                                                  // on a run's seed
inline constexpr double kZipfConstant = 0.99;                     // YCSB's
inline constexpr std::uint64_t kMaxScanLength = 100;              // YCSB's maxscanlength

// ---------------------------------------------------------------------------------------------
// Records

// splitmix64's finalizer: a bijection of 64-bit integers.
constexpr std::uint64_t Mix(std::uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

struct Key {
  char bytes[kKeySize];
  std::string_view view() const { return std::string_view(bytes, kKeySize); }
};

// Record `id`'s key; its first eight bytes (Mix(id ^ mask)) place it in the sorted order.
inline Key MakeKey(std::uint64_t id, std::uint64_t mask = kKeyMask) {
  Key key;
  const std::uint64_t hi = __builtin_bswap64(Mix(id ^ mask));
  const std::uint64_t lo = __builtin_bswap64(id);
  std::memcpy(key.bytes, &hi, 8);
  std::memcpy(key.bytes + 8, &lo, 8);
  return key;
}

// The record number of a key made with `mask`; nullopt for any other key.
inline std::optional<std::uint64_t> RecordOf(std::string_view key, std::uint64_t mask = kKeyMask) {
  if (key.size() != kKeySize) return std::nullopt;
  std::uint64_t hi, lo;
  std::memcpy(&hi, key.data(), 8);
  std::memcpy(&lo, key.data() + 8, 8);
  const std::uint64_t id = __builtin_bswap64(lo);
  if (__builtin_bswap64(hi) != Mix(id ^ mask)) return std::nullopt;
  return id;
}

// Record `id`'s value of `size` bytes into `out` (resized): its number, then letters starting
// at a place `version` moves, so that an update changes the bytes.
inline void MakeValue(std::uint64_t id, std::uint64_t version, std::size_t size, std::string* out) {
  // The alphabet twice: any run of up to 26 letters from any start is one memcpy.
  static constexpr std::string_view kLetters =
      "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz";
  out->resize(size);
  char* p = out->data();
  std::memcpy(p, &id, std::min<std::size_t>(8, size));
  std::size_t at = (id + version) % 26;
  for (std::size_t i = 8; i < size;) {
    const std::size_t n = std::min<std::size_t>(26, size - i);
    std::memcpy(p + i, kLetters.data() + at, n);
    i += n;
    at = (at + n) % 26;
  }
}

// Whether `value` starts with record `id`'s number, as every value MakeValue makes does.
inline bool ValueHasRecord(std::uint64_t id, std::string_view value) {
  return std::memcmp(value.data(), &id, std::min<std::size_t>(8, value.size())) == 0;
}

// YCSB's scrambling hash (Utils.fnvhash64): FNV-1a over the eight bytes of the rank.
inline std::uint64_t Fnv64(std::uint64_t v) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (int i = 0; i < 8; ++i, v >>= 8) {
    h ^= v & 0xff;
    h *= 1099511628211ull;
  }
  return h;
}

// ---------------------------------------------------------------------------------------------
// Workloads

// kMultiGet: one batch of point reads (pagestore bench's multiget workload).
enum OpKind { kWrite, kRead, kUpdate, kInsert, kScan, kReadModifyWrite, kMultiGet, kOpKinds };
inline constexpr std::array<std::string_view, kOpKinds> kOpNames = {
    "write", "read", "update", "insert", "scan", "read_modify_write", "multiget"};

enum class Distribution { kFill, kUniform, kZipfian, kLatest };

struct Workload {
  std::string_view name;
  std::string_view summary;
  std::array<double, kOpKinds> mix;  // proportion of each kind (sums to 1)
  Distribution distribution;
};

// fill and read are db_bench's (multiget: read in batches); ycsb-a..f are YCSB's core workloads
// (workloads/workloada...f).
inline constexpr Workload kWorkloads[] = {
    {"fill", "write --num records in random key order", {1, 0, 0, 0, 0, 0}, Distribution::kFill},
    {"read", "uniform point reads", {0, 1, 0, 0, 0, 0}, Distribution::kUniform},
    {"multiget",
     "uniform point reads in batches (BTree::MultiGet)",
     {0, 0, 0, 0, 0, 0, 1},
     Distribution::kUniform},
    {"ycsb-a", "50% read, 50% update; zipfian", {0, .5, .5, 0, 0, 0}, Distribution::kZipfian},
    {"ycsb-b", "95% read, 5% update; zipfian", {0, .95, .05, 0, 0, 0}, Distribution::kZipfian},
    {"ycsb-c", "100% read; zipfian", {0, 1, 0, 0, 0, 0}, Distribution::kZipfian},
    {"ycsb-d", "95% read, 5% insert; latest", {0, .95, 0, .05, 0, 0}, Distribution::kLatest},
    {"ycsb-e", "95% scan, 5% insert; zipfian", {0, 0, 0, .05, .95, 0}, Distribution::kZipfian},
    {"ycsb-f",
     "50% read, 50% read-modify-write; zipfian",
     {0, .5, 0, 0, 0, .5},
     Distribution::kZipfian},
    // C's reads in batches (kMultiGetBatch keys each; pagestore bench: --batch): each engine's
    // own batched lookup where it has one.
    {"ycsb-c-multiget",
     "100% read in batches of 32 keys (MultiGet); zipfian",
     {0, 0, 0, 0, 0, 0, 1},
     Distribution::kZipfian},
};
// Keys per batch of ycsb-c-multiget in ycsb_bench.
inline constexpr std::size_t kMultiGetBatch = 32;

// The workload named `name` ("ycsb-a", ...), or null.
inline const Workload* FindWorkload(std::string_view name) {
  for (const Workload& w : kWorkloads) {
    if (w.name == name) return &w;
  }
  return nullptr;
}

// The next operation's kind, drawn by the workload's proportions.
template <typename Urbg>
OpKind ChooseOp(const Workload& w, Urbg& gen) {
  const double x = absl::Uniform<double>(gen, 0, 1);
  int kind = kOpKinds - 1;
  double sum = 0;
  for (int k = 0; k < kOpKinds; ++k) {
    sum += w.mix[k];
    if (x < sum) {
      kind = k;
      break;
    }
  }
  while (w.mix[kind] == 0) --kind;  // rounding at the top end
  return static_cast<OpKind>(kind);
}

// A scan's length: 1..kMaxScanLength records, uniformly (YCSB's scanlengthdistribution=uniform).
template <typename Urbg>
std::uint64_t ScanLength(Urbg& gen) {
  return absl::Uniform<std::uint64_t>(absl::IntervalClosed, gen, 1, kMaxScanLength);
}

// ---------------------------------------------------------------------------------------------
// Zipfian ranks

// Ranks 0..n-1 with P(r) proportional to 1 / (r + 1)^theta, by rejection-inversion (Hörmann and
// Derflinger, "Rejection-inversion to generate variates from monotone discrete distributions",
// 1996; this follows Apache Commons RNG's RejectionInversionZipfSampler). Constant setup, so the
// "latest" distribution rebuilds it as the records grow.
// Why not absl::zipf_distribution, the same algorithm: its constructor asserts q > 1 (a Debug or
// ASan build aborts at YCSB's 0.99) and its header calls other values undefined behaviour.
// Thread safety: immutable after construction; draws use the caller's generator, so threads may
// share one (each with its own generator).
class ZipfGenerator {
 public:
  ZipfGenerator(std::uint64_t n, double theta)
      : n_(n),
        theta_(theta),
        h_integral_x1_(HIntegral(1.5) - 1),
        h_integral_n_(HIntegral(static_cast<double>(n) + 0.5)),
        s_(2 - HIntegralInverse(HIntegral(2.5) - H(2))) {}

  std::uint64_t n() const { return n_; }

  template <typename Urbg>
  std::uint64_t operator()(Urbg& gen) const {
    for (;;) {
      const double u =
          h_integral_n_ + absl::Uniform<double>(gen, 0, 1) * (h_integral_x1_ - h_integral_n_);
      const double x = HIntegralInverse(u);
      double k = std::floor(x + 0.5);
      k = std::clamp(k, 1.0, static_cast<double>(n_));
      if (k - x <= s_ || u >= HIntegral(k + 0.5) - H(k)) {
        return std::min(static_cast<std::uint64_t>(k), n_) - 1;
      }
    }
  }

 private:
  double H(double x) const { return std::exp(-theta_ * std::log(x)); }
  // The integral of H, from 1 to x.
  double HIntegral(double x) const {
    const double log_x = std::log(x);
    return Helper2((1 - theta_) * log_x) * log_x;
  }
  double HIntegralInverse(double x) const {
    const double t = std::max(-1.0, x * (1 - theta_));
    return std::exp(Helper1(t) * x);
  }
  // log1p(x) / x and expm1(x) / x, continuous at 0.
  static double Helper1(double x) {
    return std::abs(x) > 1e-8 ? std::log1p(x) / x : 1 - x * (0.5 - x * (1.0 / 3 - 0.25 * x));
  }
  static double Helper2(double x) {
    return std::abs(x) > 1e-8 ? std::expm1(x) / x : 1 + x * 0.5 * (1 + x / 3 * (1 + 0.25 * x));
  }

  std::uint64_t n_;
  double theta_;
  double h_integral_x1_;
  double h_integral_n_;
  double s_;
};

// ---------------------------------------------------------------------------------------------
// Inserted records

struct alignas(64) PaddedCounter {
  std::atomic<std::uint64_t> value{0};
};

// Hands out the numbers of inserted records (from `first` on) and knows the newest record below
// which every insert has committed (YCSB's AcknowledgedCounterGenerator), so that a read never
// picks a record whose insert is still running. A thread announces a lower bound of the number it
// is about to take before taking it; Acknowledged reads the counter, then the announcements, so
// any number taken but not committed shows up in one (all sequentially consistent).
// Thread safety: safe for concurrent use, each thread passing its own index in [0, threads).
class InsertCounter {
 public:
  InsertCounter(std::uint64_t first, int threads) : next_(first), in_flight_(threads) {
    for (PaddedCounter& c : in_flight_) c.value.store(kNone);
  }
  // The number of the record `thread` inserts next; call Done(thread) once it has committed (or
  // failed: the run then stops).
  std::uint64_t Take(int thread) {
    in_flight_[thread].value.store(next_.load());
    const std::uint64_t id = next_.fetch_add(1);
    in_flight_[thread].value.store(id);
    return id;
  }
  void Done(int thread) { in_flight_[thread].value.store(kNone); }
  // Every record below this number exists.
  std::uint64_t Acknowledged() const {
    std::uint64_t limit = next_.load();
    for (const PaddedCounter& c : in_flight_) limit = std::min(limit, c.value.load());
    return limit;
  }
  std::uint64_t next() const { return next_.load(); }

 private:
  static constexpr std::uint64_t kNone = std::numeric_limits<std::uint64_t>::max();
  std::atomic<std::uint64_t> next_;
  std::vector<PaddedCounter> in_flight_;
};

// ---------------------------------------------------------------------------------------------
// Choosing records

// The records of reads, updates, scans and read-modify-writes:
//   kUniform  records 0..R-1, uniformly.
//   kZipfian  YCSB's ScrambledZipfianGenerator: a zipfian rank over `zipf_slots` slots (R plus
//             room for the inserts expected), scrambled to slot = Fnv64(rank) mod zipf_slots and
//             redrawn while that slot's insert has not committed yet.
//   kLatest   YCSB's SkewedLatestGenerator: slot = newest - zipfian rank, over the slots every
//             insert below which has committed (so the newest records are the most read).
// Thread safety: one per thread (kLatest rebuilds its generator as records are inserted); the
// InsertCounter it reads is shared and must outlive it.
class KeyChooser {
 public:
  // Slots 0..records-1 are records 0..records-1; slot records + j is record first_insert + j, the
  // j-th number `inserts` handed out (its first is first_insert >= records).
  KeyChooser(Distribution distribution, std::uint64_t records, std::uint64_t first_insert,
             std::uint64_t zipf_slots, const InsertCounter& inserts)
      : distribution_(distribution),
        records_(records),
        first_insert_(first_insert),
        zipf_slots_(zipf_slots),
        inserts_(inserts) {
    if (distribution == Distribution::kZipfian) zipf_.emplace(zipf_slots, kZipfConstant);
  }

  std::uint64_t Record(std::uint64_t slot) const {
    return slot < records_ ? slot : first_insert_ + (slot - records_);
  }
  // The slots a read may draw: every insert below them has committed.
  std::uint64_t Readable() const { return records_ + (inserts_.Acknowledged() - first_insert_); }

  // The next record's number.
  template <typename Urbg>
  std::uint64_t Next(Urbg& gen) {
    switch (distribution_) {
      case Distribution::kUniform:
        return absl::Uniform<std::uint64_t>(gen, 0, records_);
      case Distribution::kZipfian:
        for (;;) {
          const std::uint64_t slot = Fnv64((*zipf_)(gen)) % zipf_slots_;
          if (slot < records_ || slot < Readable()) return Record(slot);
        }
      case Distribution::kLatest: {
        const std::uint64_t readable = Readable();
        if (!latest_ || latest_->n() != readable) latest_.emplace(readable, kZipfConstant);
        return Record(readable - 1 - (*latest_)(gen));
      }
      case Distribution::kFill:
        break;
    }
    return 0;
  }

 private:
  const Distribution distribution_;
  const std::uint64_t records_;
  const std::uint64_t first_insert_;
  const std::uint64_t zipf_slots_;
  const InsertCounter& inserts_;
  std::optional<ZipfGenerator> zipf_;
  std::optional<ZipfGenerator> latest_;
};

// ---------------------------------------------------------------------------------------------
// Latency histogram

// Nanoseconds in log-linear buckets, as HdrHistogram lays them out: values below 256 exactly,
// above that 128 buckets per power of two, so a bucket is at most 1/128 (0.8%) of its values
// wide. Percentiles report a bucket's middle (clamped to the exact min and max).
// Thread safety: REQUIRES external synchronization (one per thread, merged after joining).
class LatencyHistogram {
 public:
  void Record(std::uint64_t ns) {
    if (buckets_.empty()) buckets_.resize(kBuckets);  // allocated on first use only
    ++buckets_[Index(ns)];
    ++count_;
    min_ = std::min(min_, ns);
    max_ = std::max(max_, ns);
  }

  void Merge(const LatencyHistogram& other) {
    if (other.count_ == 0) return;
    if (buckets_.empty()) buckets_.resize(kBuckets);
    for (std::size_t i = 0; i < kBuckets; ++i) buckets_[i] += other.buckets_[i];
    count_ += other.count_;
    min_ = std::min(min_, other.min_);
    max_ = std::max(max_, other.max_);
  }

  std::uint64_t count() const { return count_; }
  std::uint64_t max() const { return max_; }

  // The value `percent` of the recorded values are at or below (0 when empty).
  double Percentile(double percent) const {
    if (count_ == 0) return 0;
    const auto rank = std::max<std::uint64_t>(
        1, static_cast<std::uint64_t>(std::ceil(percent / 100 * static_cast<double>(count_))));
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < kBuckets; ++i) {
      seen += buckets_[i];
      if (seen >= rank) {
        const double middle = static_cast<double>(Lower(i)) + static_cast<double>(Width(i) - 1) / 2;
        return std::clamp(middle, static_cast<double>(min_), static_cast<double>(max_));
      }
    }
    return static_cast<double>(max_);
  }

 private:
  static constexpr int kSubBits = 8;
  static constexpr std::uint64_t kExact = 1u << kSubBits;  // 256 exact buckets
  static constexpr std::uint64_t kHalf = kExact / 2;       // 128 per power of two above
  static constexpr std::size_t kBuckets = kExact + (64 - kSubBits) * kHalf;

  static std::size_t Index(std::uint64_t v) {
    if (v < kExact) return v;
    const int shift = 63 - std::countl_zero(v) - (kSubBits - 1);  // >= 1
    const std::uint64_t top = v >> shift;                         // in [128, 256)
    return kExact + (shift - 1) * kHalf + (top - kHalf);
  }
  static std::uint64_t Lower(std::size_t i) {
    if (i < kExact) return i;
    const std::size_t j = i - kExact;
    return (kHalf + j % kHalf) << (j / kHalf + 1);
  }
  static std::uint64_t Width(std::size_t i) {
    return i < kExact ? 1 : std::uint64_t{1} << ((i - kExact) / kHalf + 1);
  }

  std::vector<std::uint64_t> buckets_;
  std::uint64_t count_ = 0;
  std::uint64_t min_ = std::numeric_limits<std::uint64_t>::max();
  std::uint64_t max_ = 0;
};

}  // namespace pagestore::ycsb
