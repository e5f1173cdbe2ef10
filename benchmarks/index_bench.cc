// index_bench: the B+tree (index/btree.h) beside LMDB, a mature memory-mapped B+tree, and
// absl::btree_map, the in-memory limit; the extendible hash index (index/hash_index.h) beside our
// B+tree and absl::flat_hash_map, its in-memory limit. All in the same binary and run, so results
// read as ratios; scripts/bench_report.py finds them by name and compares medians ("## Indexes").
//
// Data: PAGESTORE_BENCH_KEYS keys (default 10000000; scripts/bench.sh sets 2000000, 500000 with
// --quick, 20000 with --smoke: its YCSB runs cover 10M records) of
// 16 bytes and values of 100 bytes. Key i is the big-endian bytes of Mix(i ^ Mix(seed)) (a
// bijection of 64-bit integers) followed by the big-endian bytes of i: unique, fixed width,
// uniformly spread over the key space, so that i = 0, 1, 2... is a random key order and sorting
// the first eight bytes gives the sorted order. Value i is a fixed pattern starting with i's
// bytes. Both trees compare keys bytewise (LMDB's default memcmp order is the same order); the
// hash index hashes them with its own seeded XXH3, so no key order means anything to it.
//
// Everything is cached and nothing is durable, on every side: our stores have a pool of twice
// the data (16 + 100 bytes per key, in 4 KiB frames; the pool_evictions counter says whether
// anything was ever evicted), commit with Durability::kNone and never checkpoint on their own
// (checkpoint_interval_bytes is unbounded; a store's final checkpoint at close is untimed);
// LMDB runs with MDB_NOSYNC | MDB_NOMETASYNC and a map 4x the data. Both write their file (our
// log, LMDB's pages) into the page cache with write(2)s as they go: that is part of their cost.
//
//   btree_get/{pagestore,lmdb,absl_btree_map}  (1 and 2 threads) point lookups of uniformly
//       random existing keys (absl::BitGen seeded with PAGESTORE_BENCH_SEED and the thread
//       index). pagestore: BTree::Get into a reused std::string (no allocation per get); lmdb:
//       mdb_get in a read transaction that each thread keeps and refreshes (mdb_txn_reset and
//       mdb_txn_renew) every 1000 gets, as LMDB's db_bench does; absl_btree_map: find on an
//       absl::btree_map<std::string, std::string> of the same pairs (no copy of the value).
//       Items are gets (of all threads) per second of wall time.
//   btree_scan/{pagestore,lmdb}   one iteration is a full ordered scan (BTree::Begin and Next;
//       an LMDB cursor's MDB_FIRST and MDB_NEXT in one read transaction), reading one byte of
//       every key and value. Items are keys per second.
//   btree_scan_reverse/{pagestore,lmdb}   the same scan backward (BTree::SeekToLast and Prev;
//       MDB_LAST and MDB_PREV).
//       The read trees behind get and scan are built once (untimed) from the sorted keys:
//       BTree::BulkLoad with fill 1.0 on our side, mdb_put with MDB_APPEND on LMDB's (which
//       leaves its pages full), so both have about the same number of equally full leaves.
//   btree_insert_random/{pagestore,lmdb}   one iteration (Iterations(1), manual time) inserts
//       every key in random order (i = 0, 1, 2...) into a new, empty store or environment made
//       for it (untimed, as is its deletion). Both sides insert in transactions of 1000 inserts:
//       pagestore: Store::Begin, BTree::Insert(txn, ...) x 1000, Commit(Durability::kNone)
//       (user transactions, each insert logging its logical undo, rather than txn = nullptr
//       system mini-transactions: the parity with LMDB's write transactions); lmdb:
//       mdb_txn_begin, mdb_put(MDB_NOOVERWRITE, as Insert fails on an existing key) x 1000,
//       mdb_txn_commit. Items are inserts per second of the timed insertion.
//   compact/rewrite, compact/in_place   the offline compaction (RewriteIndexes, `pagestore
//       compact`) and Store::Compact (on a copy) of a store of PAGESTORE_BENCH_COMPACT_MB
//       (default 256) filled by bulk load, then 70% deleted; counters give the file sizes
//       before and after (see CompactRewrite).
//   btree_bulk_load/pagestore   one iteration (Iterations(1), manual time) is BTree::BulkLoad of
//       the sorted pairs (fill 0.9, the default) into a new empty tree in a new store. Items are
//       keys per second.
//   btree_get_large_{8k,256k}/{pagestore,lmdb}  point gets of random keys whose values are 8 KiB
//       or 256 KiB (stored out of line: our value pages, LMDB's overflow pages), each value
//       copied into a reused std::string on both sides (LMDB's mdb_get returns a pointer into
//       its map; the copy is what reading the value costs an engine that keeps it). The data
//       is min(128 MiB, 64 bytes per configured key), loaded once (untimed) by Put and mdb_put
//       in transactions of about 1 MiB; our pool holds twice the data.
//   btree_put_large_{8k,256k}/{pagestore,lmdb}  overwrites of random keys of that set with new
//       values of the same size, in transactions of about 1 MiB of values (128 and 4 puts)
//       committed with Durability::kNone / under MDB_NOSYNC. Ours logs every value page written
//       (a full image each) and frees the replaced value's pages at commit; our store
//       checkpoints every 64 MiB of log (the default) and recycles every log segment a
//       checkpoint frees, as LMDB reuses the pages it frees (the load before has checkpointed,
//       so the puts run in that steady state from the start). Items are puts.
//   hash_get/{pagestore,absl_flat_hash_map}  (1 and 2 threads) as btree_get, the same random
//       keys: pagestore: HashIndex::Get into a reused std::string; absl_flat_hash_map: find on an
//       absl::flat_hash_map<std::string, std::string> of the same pairs (no copy of the value).
//       The read hash index is built once (untimed) by HashIndex::Insert of every key in the
//       order i = 0, 1, 2... with txn = nullptr (system mini-transactions: no undo to log, and
//       faster than transactions of 1000), then verified.
//   hash_insert_random/pagestore   as btree_insert_random/pagestore, exactly (a new empty index
//       in a new store, every key in the order i = 0, 1, 2..., transactions of 1000 inserts
//       committed with Durability::kNone), so that the two compare: the timed part includes
//       every bucket split and directory doubling from one bucket up.
//   hash_delete/pagestore   one iteration (Iterations(1), manual time) builds (untimed) a new
//       index holding every key, as the read index is built, then times deleting every key in
//       another random order (the indexes sorted by Mix(i ^ Mix(Mix(seed))), prepared once,
//       untimed) in transactions of 1000 deletes committed with Durability::kNone: the timed
//       part includes the bucket merges and directory halvings down to one bucket. Items are
//       deletes per second.
//
// After each insert or bulk load the tree is checked (BTree::Stats or mdb_stat must count every
// key) and counters report its height, leaves, fill and, for ours, the log bytes per key. After
// each hash insert or delete the index is checked (HashIndex::Verify, then Stats must count every
// key; after the deletes, Stats and Size must count none) and counters report its global depth,
// buckets, overflow pages, fill, pool evictions and the log bytes per key of the timed part.
//
// Files: everything lives in one directory, PAGESTORE_BENCH_DIR (default /tmp) /
// pagestore_index_bench_<pid>, created at start and deleted with its contents at exit or on
// SIGINT/SIGTERM/SIGHUP. Setup hooks (run before each run, with no benchmark thread running)
// build the shared inputs, read trees, read hash index and absl maps on first use; they stay
// until exit.
//
// Other knobs (environment): PAGESTORE_BENCH_SEED (default 42).
//
// Sizes: at 10M keys the process peaks near 15 GiB (the read trees and hash index, the two absl
// maps, the sorted pairs, the delete order and one insert tree or index at a time; at 1M keys it
// peaks at 1.5 GiB, 1.0 GiB without the hash benchmarks) and one insert repetition takes one to
// two minutes per side (hash_delete's about twice that: its untimed build too); at 1M keys
// (quick) the whole binary, three repetitions, runs in about two minutes.
#include <fmt/format.h>
#include <lmdb.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/flat_hash_map.h"
#include "absl/random/distributions.h"
#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "benchmark/benchmark.h"
#include "benchmarks/bench_main.h"
#include "benchmarks/bench_util.h"
#include "index/btree.h"
#include "index/catalog.h"
#include "index/hash_index.h"
#include "index/rewrite.h"
#include "storage/page.h"
#include "tools/ycsb.h"
#include "wal/store.h"

namespace pagestore {

using bench::Check;
using bench::Die;
using bench::EnvUint;
using bench::Fail;
using bench::Register;
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kKeyBytes = 16;
constexpr std::size_t kValueBytes = 100;
constexpr std::uint64_t kInsertsPerTxn = 1000;   // every write transaction's operations
constexpr std::uint64_t kGetsPerReadTxn = 1000;  // LMDB: gets between reset and renew
constexpr double kReadTreeFill = 1.0;            // as full as LMDB's MDB_APPEND pages
constexpr double kBulkLoadFill = 0.9;            // BTree::BulkLoad's default
constexpr std::uint64_t kLmdbLoadTxn = 100000;   // appends per transaction building LMDB's tree

// ---------------------------------------------------------------------------------------------
// Configuration, keys and values.

struct Config {
  fs::path dir;   // PAGESTORE_BENCH_DIR
  fs::path root;  // this process's directory under it
  std::uint64_t keys;
  std::uint64_t seed;
  std::uint64_t key_mask;  // Mix(seed)
};

// splitmix64's finalizer, a bijection of 64-bit integers: the one `pagestore bench` and
// ycsb_bench make their keys with.
using ycsb::Mix;

const Config& GetConfig() {
  static const Config config = [] {
    Config c;
    const char* dir = std::getenv("PAGESTORE_BENCH_DIR");
    c.dir = (dir != nullptr && *dir != '\0') ? dir : "/tmp";
    c.root = c.dir / fmt::format("pagestore_index_bench_{}", ::getpid());
    c.keys = std::max<std::uint64_t>(1, EnvUint("PAGESTORE_BENCH_KEYS", 10000000));
    c.seed = EnvUint("PAGESTORE_BENCH_SEED", 42);
    c.key_mask = Mix(c.seed);
    return c;
  }();
  return config;
}

// Key i's first eight bytes under `mask` (GetConfig().key_mask): its place in the sorted order.
std::uint64_t KeyPrefix(std::uint64_t i, std::uint64_t mask) { return Mix(i ^ mask); }

// Key i under `mask` (GetConfig().key_mask; a parameter so that hot loops need not fetch it).
void MakeKey(std::uint64_t i, std::uint64_t mask, char* out) {
  const std::uint64_t hi = __builtin_bswap64(KeyPrefix(i, mask));
  const std::uint64_t lo = __builtin_bswap64(i);
  std::memcpy(out, &hi, 8);
  std::memcpy(out + 8, &lo, 8);
}
void MakeKey(std::uint64_t i, char* out) { MakeKey(i, GetConfig().key_mask, out); }

// A 26-letter cycle twice over, so that any 92 bytes from any start are one memcpy.
constexpr std::string_view kLetters =
    "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz"
    "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz";
static_assert(kLetters.size() >= 26 + kValueBytes);

void MakeValue(std::uint64_t i, char* out) {
  std::memcpy(out, &i, 8);
  std::memcpy(out + 8, kLetters.data() + (i + 8) % 26, kValueBytes - 8);
}

std::string_view View(const char* p, std::size_t n) { return std::string_view(p, n); }

// The key indexes 0..keys-1 sorted by Mix(i ^ mask): a permutation of them.
std::vector<std::uint64_t>* IdsSortedBy(std::uint64_t mask) {
  const std::uint64_t n = GetConfig().keys;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> by_prefix(n);
  for (std::uint64_t i = 0; i < n; ++i) by_prefix[i] = {KeyPrefix(i, mask), i};
  std::sort(by_prefix.begin(), by_prefix.end());
  auto* out = new std::vector<std::uint64_t>(n);
  for (std::uint64_t k = 0; k < n; ++k) (*out)[k] = by_prefix[k].second;
  return out;
}

// The key indexes in sorted key order, built once.
const std::vector<std::uint64_t>& SortedIds() {
  static const std::vector<std::uint64_t>* ids = IdsSortedBy(GetConfig().key_mask);
  return *ids;
}

// The order hash_delete deletes in: random, and neither the insertion order nor the sorted order.
const std::vector<std::uint64_t>& DeleteOrder() {
  static const std::vector<std::uint64_t>* ids = IdsSortedBy(Mix(GetConfig().key_mask));
  return *ids;
}

// The sorted (key, value) pairs, as BTree::BulkLoad takes them; built once.
using Pairs = std::vector<std::pair<std::string, std::string>>;
const Pairs& SortedPairs() {
  static const Pairs* pairs = [] {
    const std::vector<std::uint64_t>& ids = SortedIds();
    auto* out = new Pairs(ids.size());
    char key[kKeyBytes], value[kValueBytes];
    for (std::size_t k = 0; k < ids.size(); ++k) {
      MakeKey(ids[k], key);
      MakeValue(ids[k], value);
      (*out)[k] = {std::string(key, kKeyBytes), std::string(value, kValueBytes)};
    }
    return out;
  }();
  return *pairs;
}

double SecondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void RemoveStoreFiles(const fs::path& pages) {
  std::error_code ec;
  fs::remove(pages, ec);
  fs::remove_all(pages.string() + "-wal", ec);
}

// A fresh name under the root for each store or environment made.
fs::path FreshPath(std::string_view what) {
  static int counter = 0;
  return GetConfig().root / fmt::format("{}_{}", what, counter++);
}

// ---------------------------------------------------------------------------------------------
// Our side: stores and trees.

StoreOptions IndexStoreOptions() {
  const std::uint64_t data = GetConfig().keys * (kKeyBytes + kValueBytes);
  StoreOptions o;
  o.pool_frames = static_cast<std::size_t>(2 * data / kPageSize + 1024);  // 2x the data
  o.durability = Durability::kNone;
  o.checkpoint_interval_bytes = ~std::uint64_t{0};  // no checkpoint while measuring
  o.undo_handlers[kBTreeResourceManager] = BTreeUndoHandler();
  o.undo_handlers[kHashResourceManager] = HashUndoHandler();
  return o;
}

std::unique_ptr<Store> OpenStore(const fs::path& path) {
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(path, IndexStoreOptions());
  Check(store.status(), fmt::format("open the store {}", path.string()));
  return std::move(*store);
}

// Closes (the store's final checkpoint writes its pages) and deletes the files.
void DestroyStore(const fs::path& path, std::unique_ptr<Store>& store) {
  if (store != nullptr) {
    if (absl::Status s = store->Close(); !s.ok()) {
      std::fprintf(stderr, "index_bench: closing %s: %s\n", path.c_str(), s.ToString().c_str());
    }
    store.reset();
  }
  RemoveStoreFiles(path);
}

// Runs op(txn, k) for k = 0 .. n-1 in transactions of kInsertsPerTxn operations, each committed
// with Durability::kNone; the first error stops it.
template <typename Op>
absl::Status InTransactions(Store& store, std::uint64_t n, Op op) {
  for (std::uint64_t k = 0; k < n;) {
    absl::StatusOr<std::unique_ptr<Transaction>> txn = store.Begin();
    if (!txn.ok()) return txn.status();
    for (std::uint64_t j = 0; j < kInsertsPerTxn && k < n; ++j, ++k) {
      if (absl::Status s = op(txn->get(), k); !s.ok()) return s;
    }
    if (absl::Status s = (*txn)->Commit(Durability::kNone); !s.ok()) return s;
  }
  return absl::OkStatus();
}

struct OurTree {
  fs::path path;
  std::unique_ptr<Store> store;
  std::unique_ptr<BTree> tree;

  static OurTree Make(std::string_view what) {
    OurTree t;
    t.path = FreshPath(what);
    t.store = OpenStore(t.path);
    absl::StatusOr<std::unique_ptr<BTree>> tree = BTree::Create(*t.store);
    Check(tree.status(), "create a B+tree");
    t.tree = std::move(*tree);
    return t;
  }
  void Destroy() {
    tree.reset();
    DestroyStore(path, store);
  }
};

// Counters describing a finished tree; fails the benchmark unless it holds every key.
void OurTreeCounters(benchmark::State& state, const OurTree& t, std::uint64_t log_before) {
  absl::StatusOr<BTreeStats> st = t.tree->Stats();  // also verifies the tree
  if (!st.ok()) {
    Fail(state, st.status());
    return;
  }
  if (st->entries != GetConfig().keys) {
    Fail(state, absl::InternalError(fmt::format("the tree holds {} entries, expected {}",
                                                st->entries, GetConfig().keys)));
    return;
  }
  const BufferPoolStats pool = t.store->pool().stats();
  state.counters["height"] = static_cast<double>(st->height);
  state.counters["leaves"] = static_cast<double>(st->leaves);
  state.counters["fill"] = st->average_fill;
  state.counters["pool_evictions"] = static_cast<double>(pool.evictions);
  state.counters["log_bytes_per_key"] =
      static_cast<double>(t.store->log_stats().bytes_appended - log_before) /
      static_cast<double>(GetConfig().keys);
}

OurTree* g_our_read = nullptr;

void SetUpOurRead(const benchmark::State&) {
  if (g_our_read != nullptr) return;
  const auto t0 = std::chrono::steady_clock::now();
  const Pairs& pairs = SortedPairs();
  auto t = std::make_unique<OurTree>(OurTree::Make("read"));
  Check(t->tree->BulkLoad(pairs, kReadTreeFill), "bulk load the read tree");
  absl::StatusOr<BTreeStats> st = t->tree->Stats();
  Check(st.status(), "verify the read tree");
  if (st->entries != pairs.size()) Die("the read tree lost entries");
  std::fprintf(stderr,
               "index_bench: pagestore read tree: %llu keys, height %u, %llu leaves, fill %.3f, "
               "built in %.1f s\n",
               static_cast<unsigned long long>(st->entries), st->height,
               static_cast<unsigned long long>(st->leaves), st->average_fill, SecondsSince(t0));
  g_our_read = t.release();
}

// ---------------------------------------------------------------------------------------------
// Our side, beyond the pool: the read tree's keys bulk-loaded once into a file of their own,
// which is then opened with the pread manager under O_DIRECT (every miss a device read, none
// served by the page cache) and a pool of PAGESTORE_BENCH_COLD_POOL_MB MiB (default 16), far
// smaller than the tree. The same store serves two handles on the tree, with scan read-ahead
// (the default) and without.

struct ColdTree {
  fs::path path;
  std::unique_ptr<Store> store;
  std::unique_ptr<BTree> tree;      // read-ahead on (BTreeOptions default)
  std::unique_ptr<BTree> no_ahead;  // read_ahead_leaves = 0
};
ColdTree* g_cold = nullptr;

void SetUpCold(const benchmark::State&) {
  if (g_cold != nullptr) return;
  const auto t0 = std::chrono::steady_clock::now();
  auto cold = std::make_unique<ColdTree>();
  OurTree t = OurTree::Make("cold");
  Check(t.tree->BulkLoad(SortedPairs(), kReadTreeFill), "bulk load the cold tree");
  const PageId anchor = t.tree->anchor();
  t.tree.reset();
  Check(t.store->Close(), "close the cold tree's store");
  t.store.reset();
  cold->path = t.path;
  StoreOptions o = IndexStoreOptions();
  o.pool_frames = static_cast<std::size_t>(EnvUint("PAGESTORE_BENCH_COLD_POOL_MB", 16)) *
                  ((1 << 20) / kPageSize);
  absl::StatusOr<DiskManagerOptions> disk = ParseDiskManagerSpec("pread:direct=1");
  Check(disk.status(), "cold disk spec");
  o.disk = *disk;
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(cold->path, o);
  Check(store.status(), "open the cold store (O_DIRECT)");
  cold->store = std::move(*store);
  absl::StatusOr<std::unique_ptr<BTree>> tree = BTree::Open(*cold->store, anchor);
  Check(tree.status(), "open the cold tree");
  cold->tree = std::move(*tree);
  BTreeOptions off;
  off.read_ahead_leaves = 0;
  tree = BTree::Open(*cold->store, anchor, off);
  Check(tree.status(), "open the cold tree without read-ahead");
  cold->no_ahead = std::move(*tree);
  std::fprintf(stderr, "index_bench: cold tree (%s, %zu-frame pool) built in %.1f s\n",
               cold->store->pool().disk_manager_name().c_str(), cold->store->pool().frame_count(),
               SecondsSince(t0));
  g_cold = cold.release();
}

// btree_scan_cold/{read_ahead,no_read_ahead}: a scan of kColdScanKeys keys from a random key,
// beyond the pool. Items are keys.
constexpr std::uint64_t kColdScanKeys = 20000;

template <bool kReadAhead>
void ScanCold(benchmark::State& state) {
  const BTree& tree = kReadAhead ? *g_cold->tree : *g_cold->no_ahead;
  std::mt19937_64 rng(GetConfig().seed + (kReadAhead ? 1 : 2));
  const Pairs& pairs = SortedPairs();
  std::uint64_t total = 0;
  for (auto _ : state) {
    const std::string& begin = pairs[rng() % pairs.size()].first;
    std::uint64_t count = 0;
    unsigned sum = 0;
    BTree::Iterator it = tree.LowerBound(begin);
    for (; it.Valid() && count < kColdScanKeys; it.Next(), ++count) {
      sum += static_cast<unsigned char>(it.value()[kValueBytes - 1]);
    }
    benchmark::DoNotOptimize(sum);
    if (!it.status().ok()) [[unlikely]] {
      Fail(state, it.status());
      break;
    }
    total += count;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(total));
  state.counters["pool_mb"] =
      static_cast<double>(g_cold->store->pool().frame_count()) * kPageSize / (1 << 20);
}

// btree_{multiget,get}_cold/pagestore: kColdBatch random keys per iteration, by one MultiGet or
// by as many Gets, beyond the pool. Items are keys.
constexpr std::size_t kColdBatch = 32;

template <bool kMulti>
void GetCold(benchmark::State& state) {
  const BTree& tree = *g_cold->tree;
  std::mt19937_64 rng(GetConfig().seed + (kMulti ? 3 : 4));
  const Pairs& pairs = SortedPairs();
  std::vector<std::string_view> keys(kColdBatch);
  std::vector<std::string> values;
  std::vector<absl::Status> statuses;
  std::string value;
  for (auto _ : state) {
    for (std::string_view& k : keys) k = pairs[rng() % pairs.size()].first;
    absl::Status s;
    if constexpr (kMulti) {
      tree.MultiGet(keys, &values, &statuses);
      for (const absl::Status& one : statuses) {
        if (!one.ok()) s = one;
      }
    } else {
      for (std::string_view k : keys) {
        if (absl::Status one = tree.Get(k, &value); !one.ok()) s = one;
      }
    }
    if (!s.ok()) [[unlikely]] {
      Fail(state, s);
      break;
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kColdBatch));
}

// ---------------------------------------------------------------------------------------------
// Our side: hash indexes.

struct OurHash {
  fs::path path;
  std::unique_ptr<Store> store;
  std::unique_ptr<HashIndex> index;

  static OurHash Make(std::string_view what) {
    OurHash h;
    h.path = FreshPath(what);
    h.store = OpenStore(h.path);
    absl::StatusOr<std::unique_ptr<HashIndex>> index = HashIndex::Create(*h.store);
    Check(index.status(), "create a hash index");
    h.index = std::move(*index);
    return h;
  }
  void Destroy() {
    index.reset();
    DestroyStore(path, store);
  }
};

// Inserts every key, i = 0, 1, 2..., each in its own system mini-transaction (untimed builds).
absl::Status FillHash(const OurHash& h) {
  const std::uint64_t n = GetConfig().keys, mask = GetConfig().key_mask;
  char key[kKeyBytes], value[kValueBytes];
  for (std::uint64_t i = 0; i < n; ++i) {
    MakeKey(i, mask, key);
    MakeValue(i, value);
    const absl::Status s = h.index->Insert(nullptr, View(key, kKeyBytes), View(value, kValueBytes));
    if (!s.ok()) {
      return absl::Status(s.code(), fmt::format("building the hash index {}: key {}: {}",
                                                h.path.string(), i, std::string(s.message())));
    }
  }
  return absl::OkStatus();
}

// Verifies the index and returns its statistics, or the first problem (an entry count other
// than `entries` among them).
absl::StatusOr<HashIndexStats> CheckedHashStats(const OurHash& h, std::uint64_t entries) {
  if (absl::Status s = h.index->Verify(); !s.ok()) return s;
  absl::StatusOr<HashIndexStats> st = h.index->Stats();
  if (!st.ok()) return st.status();
  if (st->entries != entries) {
    return absl::InternalError(
        fmt::format("the hash index holds {} entries, expected {}", st->entries, entries));
  }
  return st;
}

// Counters describing a finished index; fails the benchmark unless it holds `entries` keys.
void OurHashCounters(benchmark::State& state, const OurHash& h, std::uint64_t log_before,
                     std::uint64_t entries) {
  absl::StatusOr<HashIndexStats> st = CheckedHashStats(h, entries);
  if (!st.ok()) {
    Fail(state, st.status());
    return;
  }
  const BufferPoolStats pool = h.store->pool().stats();
  state.counters["global_depth"] = static_cast<double>(st->global_depth);
  state.counters["buckets"] = static_cast<double>(st->buckets);
  state.counters["overflow_pages"] = static_cast<double>(st->overflow_pages);
  state.counters["fill"] = st->average_fill;
  state.counters["pool_evictions"] = static_cast<double>(pool.evictions);
  state.counters["log_bytes_per_key"] =
      static_cast<double>(h.store->log_stats().bytes_appended - log_before) /
      static_cast<double>(GetConfig().keys);
}

OurHash* g_our_hash_read = nullptr;

void SetUpOurHashRead(const benchmark::State&) {
  if (g_our_hash_read != nullptr) return;
  const auto t0 = std::chrono::steady_clock::now();
  auto h = std::make_unique<OurHash>(OurHash::Make("hash_read"));
  Check(FillHash(*h), "build the read hash index");
  absl::StatusOr<HashIndexStats> st = CheckedHashStats(*h, GetConfig().keys);
  Check(st.status(), "verify the read hash index");
  std::fprintf(stderr,
               "index_bench: pagestore read hash index: %llu keys, global depth %u (max local "
               "%u), %llu buckets, %llu overflow pages, %llu directory pages, fill %.3f, built in "
               "%.1f s\n",
               static_cast<unsigned long long>(st->entries), st->global_depth, st->max_local_depth,
               static_cast<unsigned long long>(st->buckets),
               static_cast<unsigned long long>(st->overflow_pages),
               static_cast<unsigned long long>(st->directory_pages), st->average_fill,
               SecondsSince(t0));
  g_our_hash_read = h.release();
}

// ---------------------------------------------------------------------------------------------
// LMDB.

void CheckMdb(int rc, std::string_view what) {
  if (rc != MDB_SUCCESS) Die(fmt::format("lmdb: {}: {}", what, mdb_strerror(rc)));
}

struct Lmdb {
  fs::path path;  // a directory (data.mdb, lock.mdb)
  MDB_env* env = nullptr;
  MDB_dbi dbi = 0;

  // `map_bytes`: the map's size (0: 4x the configured data and 64 MiB).
  static Lmdb Make(std::string_view what, std::uint64_t map_bytes = 0) {
    Lmdb l;
    l.path = FreshPath(what);
    std::error_code ec;
    if (!fs::create_directories(l.path, ec) || ec) {
      Die(fmt::format("{}: cannot create: {}", l.path.string(), ec.message()));
    }
    const std::uint64_t data = GetConfig().keys * (kKeyBytes + kValueBytes);
    CheckMdb(mdb_env_create(&l.env), "mdb_env_create");
    if (map_bytes == 0) map_bytes = 4 * data + (64 << 20);
    CheckMdb(mdb_env_set_mapsize(l.env, static_cast<std::size_t>(map_bytes)),
             "mdb_env_set_mapsize");
    CheckMdb(mdb_env_set_maxreaders(l.env, 64), "mdb_env_set_maxreaders");
    // Durability off (no fsync at commit, none of the meta page); read transactions belong to
    // their MDB_txn, not to the thread that began them.
    CheckMdb(mdb_env_open(l.env, l.path.c_str(), MDB_NOSYNC | MDB_NOMETASYNC | MDB_NOTLS, 0644),
             "mdb_env_open");
    MDB_txn* txn;
    CheckMdb(mdb_txn_begin(l.env, nullptr, 0, &txn), "mdb_txn_begin");
    CheckMdb(mdb_dbi_open(txn, nullptr, 0, &l.dbi), "mdb_dbi_open");
    CheckMdb(mdb_txn_commit(txn), "mdb_txn_commit");
    return l;
  }
  void Destroy() {
    if (env != nullptr) mdb_env_close(env);
    env = nullptr;
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  MDB_stat Stat() const {
    MDB_txn* txn;
    CheckMdb(mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn), "mdb_txn_begin");
    MDB_stat st;
    CheckMdb(mdb_stat(txn, dbi, &st), "mdb_stat");
    mdb_txn_abort(txn);
    return st;
  }
};

void LmdbCounters(benchmark::State& state, const Lmdb& l) {
  const MDB_stat st = l.Stat();
  if (st.ms_entries != GetConfig().keys) {
    Fail(state, absl::InternalError(fmt::format("LMDB holds {} entries, expected {}", st.ms_entries,
                                                GetConfig().keys)));
    return;
  }
  state.counters["height"] = static_cast<double>(st.ms_depth - 1);  // levels above the leaves
  state.counters["leaves"] = static_cast<double>(st.ms_leaf_pages);
}

Lmdb* g_lmdb_read = nullptr;

void SetUpLmdbRead(const benchmark::State&) {
  if (g_lmdb_read != nullptr) return;
  const auto t0 = std::chrono::steady_clock::now();
  const std::vector<std::uint64_t>& ids = SortedIds();
  auto l = std::make_unique<Lmdb>(Lmdb::Make("lmdb_read"));
  char key[kKeyBytes], value[kValueBytes];
  for (std::size_t k = 0; k < ids.size();) {
    MDB_txn* txn;
    CheckMdb(mdb_txn_begin(l->env, nullptr, 0, &txn), "mdb_txn_begin");
    for (std::uint64_t n = 0; n < kLmdbLoadTxn && k < ids.size(); ++n, ++k) {
      MakeKey(ids[k], key);
      MakeValue(ids[k], value);
      MDB_val mk{kKeyBytes, key}, mv{kValueBytes, value};
      CheckMdb(mdb_put(txn, l->dbi, &mk, &mv, MDB_APPEND), "mdb_put(MDB_APPEND)");
    }
    CheckMdb(mdb_txn_commit(txn), "mdb_txn_commit");
  }
  const MDB_stat st = l->Stat();
  if (st.ms_entries != ids.size()) Die("the LMDB read tree lost entries");
  std::fprintf(stderr,
               "index_bench: lmdb read tree: %zu keys, depth %u, %zu leaf pages, %zu branch pages, "
               "built in %.1f s\n",
               st.ms_entries, st.ms_depth, st.ms_leaf_pages, st.ms_branch_pages, SecondsSince(t0));
  g_lmdb_read = l.release();
}

// ---------------------------------------------------------------------------------------------
// absl::btree_map.

using AbslMap = absl::btree_map<std::string, std::string>;
AbslMap* g_absl = nullptr;

void SetUpAbsl(const benchmark::State&) {
  if (g_absl != nullptr) return;
  const auto t0 = std::chrono::steady_clock::now();
  const std::vector<std::uint64_t>& ids = SortedIds();
  auto m = std::make_unique<AbslMap>();
  char key[kKeyBytes], value[kValueBytes];
  for (std::uint64_t id : ids) {
    MakeKey(id, key);
    MakeValue(id, value);
    m->emplace_hint(m->end(), std::string(key, kKeyBytes), std::string(value, kValueBytes));
  }
  if (m->size() != ids.size()) Die("the absl::btree_map lost entries");
  std::fprintf(stderr, "index_bench: absl::btree_map: %zu keys, built in %.1f s\n", m->size(),
               SecondsSince(t0));
  g_absl = m.release();
}

// ---------------------------------------------------------------------------------------------
// absl::flat_hash_map.

using AbslHashMap = absl::flat_hash_map<std::string, std::string>;
AbslHashMap* g_absl_hash = nullptr;

void SetUpAbslHash(const benchmark::State&) {
  if (g_absl_hash != nullptr) return;
  const auto t0 = std::chrono::steady_clock::now();
  const std::uint64_t n = GetConfig().keys;
  auto m = std::make_unique<AbslHashMap>();
  m->reserve(n);
  char key[kKeyBytes], value[kValueBytes];
  for (std::uint64_t i = 0; i < n; ++i) {
    MakeKey(i, key);
    MakeValue(i, value);
    m->emplace(std::string(key, kKeyBytes), std::string(value, kValueBytes));
  }
  if (m->size() != n) Die("the absl::flat_hash_map lost entries");
  std::fprintf(stderr, "index_bench: absl::flat_hash_map: %zu keys, built in %.1f s\n", m->size(),
               SecondsSince(t0));
  g_absl_hash = m.release();
}

// ---------------------------------------------------------------------------------------------
// btree_get/* and hash_get/*

// Random existing keys: each thread its own generator, seeded explicitly.
class RandomKeys {
 public:
  explicit RandomKeys(const benchmark::State& state)
      : seq_{GetConfig().seed, static_cast<std::uint64_t>(state.thread_index())},
        gen_(seq_),
        keys_(GetConfig().keys),
        mask_(GetConfig().key_mask) {}
  // The next key, written to key(); returns its index.
  std::uint64_t Next() {
    const std::uint64_t i = absl::Uniform<std::uint64_t>(gen_, 0, keys_);
    MakeKey(i, mask_, key_);
    return i;
  }
  std::string_view key() const { return View(key_, kKeyBytes); }
  const char* data() const { return key_; }

 private:
  std::seed_seq seq_;
  absl::BitGen gen_;
  const std::uint64_t keys_;
  const std::uint64_t mask_;
  char key_[kKeyBytes];
};

// BTree or HashIndex: Get(key, &value).
template <typename Index>
void GetOurs(benchmark::State& state, const Index& index) {
  RandomKeys keys(state);
  std::string value;  // reused, as an engine would: no allocation per get
  for (auto _ : state) {
    keys.Next();
    absl::Status s = index.Get(keys.key(), &value);
    if (!s.ok() || value.size() != kValueBytes) [[unlikely]] {
      Fail(state, s.ok() ? absl::InternalError("wrong value size") : s);
      break;
    }
    benchmark::DoNotOptimize(value.data());
  }
  state.SetItemsProcessed(state.iterations());
}
void GetPagestore(benchmark::State& state) { GetOurs(state, *g_our_read->tree); }
void GetHashPagestore(benchmark::State& state) { GetOurs(state, *g_our_hash_read->index); }

void GetLmdb(benchmark::State& state) {
  const Lmdb& l = *g_lmdb_read;
  RandomKeys keys(state);
  MDB_txn* txn = nullptr;
  if (int rc = mdb_txn_begin(l.env, nullptr, MDB_RDONLY, &txn); rc != MDB_SUCCESS) {
    state.SkipWithError(mdb_strerror(rc));
    return;
  }
  std::uint64_t left = kGetsPerReadTxn;
  for (auto _ : state) {
    if (left-- == 0) [[unlikely]] {
      mdb_txn_reset(txn);
      if (int rc = mdb_txn_renew(txn); rc != MDB_SUCCESS) {
        state.SkipWithError(mdb_strerror(rc));
        break;
      }
      left = kGetsPerReadTxn - 1;
    }
    keys.Next();
    MDB_val k{kKeyBytes, const_cast<char*>(keys.data())}, v;
    const int rc = mdb_get(txn, l.dbi, &k, &v);
    if (rc != MDB_SUCCESS || v.mv_size != kValueBytes) [[unlikely]] {
      state.SkipWithError(rc != MDB_SUCCESS ? mdb_strerror(rc) : "wrong value size");
      break;
    }
    benchmark::DoNotOptimize(v.mv_data);
  }
  mdb_txn_abort(txn);
  state.SetItemsProcessed(state.iterations());
}

// absl::btree_map or absl::flat_hash_map: find by string_view, no copy of the key or the value.
template <typename Map>
void GetAbslMap(benchmark::State& state, const Map& m) {
  RandomKeys keys(state);
  for (auto _ : state) {
    keys.Next();
    const auto it = m.find(absl::string_view(keys.data(), kKeyBytes));
    if (it == m.end() || it->second.size() != kValueBytes) [[unlikely]] {
      state.SkipWithError("key not found");
      break;
    }
    benchmark::DoNotOptimize(it->second.data());
  }
  state.SetItemsProcessed(state.iterations());
}
void GetAbsl(benchmark::State& state) { GetAbslMap(state, *g_absl); }
void GetAbslHash(benchmark::State& state) { GetAbslMap(state, *g_absl_hash); }

// ---------------------------------------------------------------------------------------------
// btree_scan/*

template <bool kReverse>
void ScanPagestore(benchmark::State& state) {
  const BTree& tree = *g_our_read->tree;
  const std::uint64_t n = GetConfig().keys;
  std::uint64_t total = 0;
  for (auto _ : state) {
    std::uint64_t count = 0;
    unsigned sum = 0;
    BTree::Iterator it = kReverse ? tree.SeekToLast() : tree.Begin();
    for (; it.Valid(); kReverse ? it.Prev() : it.Next()) {
      sum += static_cast<unsigned char>(it.key()[kKeyBytes - 1]) +
             static_cast<unsigned char>(it.value()[kValueBytes - 1]);
      ++count;
    }
    benchmark::DoNotOptimize(sum);
    if (!it.status().ok() || count != n) [[unlikely]] {
      Fail(state, it.status().ok() ? absl::InternalError(
                                         fmt::format("the scan saw {} keys, expected {}", count, n))
                                   : it.status());
      break;
    }
    total += count;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(total));
}

template <bool kReverse>
void ScanLmdb(benchmark::State& state) {
  const Lmdb& l = *g_lmdb_read;
  const std::uint64_t n = GetConfig().keys;
  std::uint64_t total = 0;
  for (auto _ : state) {
    MDB_txn* txn;
    MDB_cursor* cur;
    int rc = mdb_txn_begin(l.env, nullptr, MDB_RDONLY, &txn);
    if (rc == MDB_SUCCESS) {
      rc = mdb_cursor_open(txn, l.dbi, &cur);
      if (rc != MDB_SUCCESS) mdb_txn_abort(txn);
    }
    if (rc != MDB_SUCCESS) {
      state.SkipWithError(mdb_strerror(rc));
      break;
    }
    std::uint64_t count = 0;
    unsigned sum = 0;
    MDB_val k, v;
    for (rc = mdb_cursor_get(cur, &k, &v, kReverse ? MDB_LAST : MDB_FIRST); rc == MDB_SUCCESS;
         rc = mdb_cursor_get(cur, &k, &v, kReverse ? MDB_PREV : MDB_NEXT)) {
      sum += static_cast<unsigned char>(static_cast<const char*>(k.mv_data)[kKeyBytes - 1]) +
             static_cast<unsigned char>(static_cast<const char*>(v.mv_data)[kValueBytes - 1]);
      ++count;
    }
    benchmark::DoNotOptimize(sum);
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    if (rc != MDB_NOTFOUND || count != n) [[unlikely]] {
      state.SkipWithError(rc != MDB_NOTFOUND
                              ? mdb_strerror(rc)
                              : fmt::format("the scan saw {} keys, expected {}", count, n).c_str());
      break;
    }
    total += count;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(total));
}

// ---------------------------------------------------------------------------------------------
// btree_insert_random/* and btree_bulk_load/pagestore: a new tree per iteration.

// One timed step per iteration on a new store of `Ours` (OurTree or OurHash) made for it:
// `prepare` (untimed) builds what the step needs, `step` is timed, `counters(state, ours,
// log_before)` checks the result and reports it (log_before: the log's size before the step);
// the store is deleted after each iteration. Items are `items` per iteration.
template <typename Ours, typename Prepare, typename Step, typename Counters>
void TimeOnNewStore(benchmark::State& state, std::string_view what, std::uint64_t items,
                    Prepare prepare, Step step, Counters counters) {
  for (auto _ : state) {
    Ours ours = Ours::Make(what);
    absl::Status s = prepare(ours);
    std::uint64_t log_before = 0;
    std::chrono::steady_clock::time_point start, stop;
    if (s.ok()) {
      log_before = ours.store->log_stats().bytes_appended;
      start = std::chrono::steady_clock::now();
      s = step(ours);
      stop = std::chrono::steady_clock::now();
    }
    if (!s.ok()) {
      Fail(state, s);
      ours.Destroy();
      break;
    }
    state.SetIterationTime(std::chrono::duration<double>(stop - start).count());
    counters(state, ours, log_before);
    ours.Destroy();
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(items));
}

absl::Status NothingToPrepare(const auto&) { return absl::OkStatus(); }

// Every key in random order (i = 0, 1, 2...), in transactions of kInsertsPerTxn.
template <typename Index>
absl::Status InsertAllKeys(Store& store, Index& index) {
  const std::uint64_t mask = GetConfig().key_mask;
  char key[kKeyBytes], value[kValueBytes];
  return InTransactions(store, GetConfig().keys, [&](Transaction* txn, std::uint64_t i) {
    MakeKey(i, mask, key);
    MakeValue(i, value);
    return index.Insert(txn, View(key, kKeyBytes), View(value, kValueBytes));
  });
}

void InsertRandomPagestore(benchmark::State& state) {
  TimeOnNewStore<OurTree>(
      state, "insert", GetConfig().keys, NothingToPrepare<OurTree>,
      [](OurTree& t) { return InsertAllKeys(*t.store, *t.tree); }, OurTreeCounters);
}

void InsertRandomLmdb(benchmark::State& state) {
  const std::uint64_t n = GetConfig().keys, mask = GetConfig().key_mask;
  char key[kKeyBytes], value[kValueBytes];
  for (auto _ : state) {
    Lmdb l = Lmdb::Make("lmdb_insert");
    int rc = MDB_SUCCESS;
    const auto start = std::chrono::steady_clock::now();
    for (std::uint64_t i = 0; i < n && rc == MDB_SUCCESS;) {
      MDB_txn* txn;
      rc = mdb_txn_begin(l.env, nullptr, 0, &txn);
      if (rc != MDB_SUCCESS) break;
      for (std::uint64_t j = 0; j < kInsertsPerTxn && i < n && rc == MDB_SUCCESS; ++j, ++i) {
        MakeKey(i, mask, key);
        MakeValue(i, value);
        MDB_val mk{kKeyBytes, key}, mv{kValueBytes, value};
        rc = mdb_put(txn, l.dbi, &mk, &mv, MDB_NOOVERWRITE);
      }
      if (rc == MDB_SUCCESS) {
        rc = mdb_txn_commit(txn);
      } else {
        mdb_txn_abort(txn);
      }
    }
    const auto stop = std::chrono::steady_clock::now();
    if (rc != MDB_SUCCESS) {
      state.SkipWithError(mdb_strerror(rc));
      l.Destroy();
      break;
    }
    state.SetIterationTime(std::chrono::duration<double>(stop - start).count());
    LmdbCounters(state, l);
    l.Destroy();
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(GetConfig().keys));
}

void SetUpBulkLoad(const benchmark::State&) { SortedPairs(); }

void BulkLoadPagestore(benchmark::State& state) {
  const Pairs& pairs = SortedPairs();
  TimeOnNewStore<OurTree>(
      state, "bulk", pairs.size(), NothingToPrepare<OurTree>,
      [&](OurTree& t) { return t.tree->BulkLoad(pairs, kBulkLoadFill); }, OurTreeCounters);
}

// ---------------------------------------------------------------------------------------------
// hash_insert_random/pagestore and hash_delete/pagestore: a new index per iteration.

void InsertRandomHashPagestore(benchmark::State& state) {
  TimeOnNewStore<OurHash>(
      state, "hash_insert", GetConfig().keys, NothingToPrepare<OurHash>,
      [](OurHash& h) { return InsertAllKeys(*h.store, *h.index); },
      [](benchmark::State& st, const OurHash& h, std::uint64_t log_before) {
        OurHashCounters(st, h, log_before, GetConfig().keys);
      });
}

void SetUpHashDelete(const benchmark::State&) { DeleteOrder(); }

void DeleteHashPagestore(benchmark::State& state) {
  const std::vector<std::uint64_t>& order = DeleteOrder();
  const std::uint64_t mask = GetConfig().key_mask;
  TimeOnNewStore<OurHash>(
      state, "hash_delete", GetConfig().keys, FillHash,
      [&](OurHash& h) {
        char key[kKeyBytes];
        return InTransactions(*h.store, GetConfig().keys, [&](Transaction* txn, std::uint64_t k) {
          MakeKey(order[k], mask, key);
          return h.index->Delete(txn, View(key, kKeyBytes));
        });
      },
      [](benchmark::State& st, const OurHash& h, std::uint64_t log_before) {
        absl::StatusOr<std::uint64_t> size = h.index->Size();
        if (!size.ok() || *size != 0) {
          Fail(st, size.ok() ? absl::InternalError(
                                   fmt::format("Size() is {} after deleting every key", *size))
                             : size.status());
          return;
        }
        OurHashCounters(st, h, log_before, 0);
      });
}

// ---------------------------------------------------------------------------------------------
// btree_get_large_{8k,256k}/* and btree_put_large_{8k,256k}/*: values stored out of line.

constexpr std::size_t kLargeSizes[] = {8 << 10, 256 << 10};

// How many keys hold `size`-byte values: min(128 MiB, 64 bytes per configured key) of data.
std::uint64_t LargeCount(std::size_t size) {
  const std::uint64_t data = std::min<std::uint64_t>(128ull << 20, GetConfig().keys * 64);
  return std::max<std::uint64_t>(16, data / size);
}
// Puts per write transaction: about 1 MiB of values each.
std::uint64_t LargePutsPerTxn(std::size_t size) {
  return std::max<std::uint64_t>(1, (1 << 20) / size);
}

// A value of `size` bytes for key i, generation g: the two in its first 16 bytes, then letters.
// Made once per size; puts patch only the first 16 bytes.
std::string& LargeValueBuffer(std::size_t size) {
  static std::string buffers[std::size(kLargeSizes)];
  std::string& b = buffers[size == kLargeSizes[0] ? 0 : 1];
  if (b.size() != size) {
    b.resize(size);
    for (std::size_t i = 0; i < size; ++i) b[i] = kLetters[i % 26];
  }
  return b;
}
std::string_view LargeValue(std::uint64_t i, std::uint64_t g, std::size_t size) {
  std::string& b = LargeValueBuffer(size);
  std::memcpy(b.data(), &i, 8);
  std::memcpy(b.data() + 8, &g, 8);
  return b;
}

struct LargeSet {
  OurTree ours;
  Lmdb lmdb;
  std::uint64_t count = 0;
};
LargeSet* g_large[std::size(kLargeSizes)] = {};

StoreOptions LargeStoreOptions(std::size_t size) {
  StoreOptions o = IndexStoreOptions();
  const std::uint64_t data = LargeCount(size) * size;
  o.pool_frames = static_cast<std::size_t>(2 * data / kPageSize + 1024);  // 2x the data
  // Puts log every byte they write: checkpoints keep the log from growing without end, as
  // LMDB reuses its freed pages, and every segment a checkpoint frees is kept to be recycled
  // (a new segment is zero-filled first; a recycled one is not).
  o.checkpoint_interval_bytes = 64ull << 20;  // the default: the load already checkpoints
  o.log.max_spare_segments =
      2 + static_cast<std::size_t>(o.checkpoint_interval_bytes /
                                   (o.log.segment_size - kSegmentHeaderSize));
  return o;
}

void SetUpLarge(const benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  LargeSet*& set = g_large[size == kLargeSizes[0] ? 0 : 1];
  if (set != nullptr) return;
  const auto t0 = std::chrono::steady_clock::now();
  auto l = std::make_unique<LargeSet>();
  l->count = LargeCount(size);
  l->ours.path = FreshPath("large");
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(l->ours.path, LargeStoreOptions(size));
  Check(store.status(), "open the large-value store");
  l->ours.store = std::move(*store);
  absl::StatusOr<std::unique_ptr<BTree>> tree = BTree::Create(*l->ours.store);
  Check(tree.status(), "create a B+tree");
  l->ours.tree = std::move(*tree);
  l->lmdb = Lmdb::Make("lmdb_large", 4 * l->count * size + (256ull << 20));
  const std::uint64_t mask = GetConfig().key_mask, per_txn = LargePutsPerTxn(size);
  char key[kKeyBytes];
  Check(InTransactions(*l->ours.store, l->count,
                       [&](Transaction* txn, std::uint64_t i) {
                         MakeKey(i, mask, key);
                         return l->ours.tree->Put(txn, View(key, kKeyBytes),
                                                  LargeValue(i, 0, size));
                       }),
        "load the large values");
  for (std::uint64_t i = 0; i < l->count;) {
    MDB_txn* txn;
    CheckMdb(mdb_txn_begin(l->lmdb.env, nullptr, 0, &txn), "mdb_txn_begin");
    for (std::uint64_t n = 0; n < per_txn && i < l->count; ++n, ++i) {
      MakeKey(i, mask, key);
      const std::string_view v = LargeValue(i, 0, size);
      MDB_val mk{kKeyBytes, key}, mv{size, const_cast<char*>(v.data())};
      CheckMdb(mdb_put(txn, l->lmdb.dbi, &mk, &mv, 0), "mdb_put");
    }
    CheckMdb(mdb_txn_commit(txn), "mdb_txn_commit");
  }
  absl::StatusOr<BTreeStats> st = l->ours.tree->Stats();
  Check(st.status(), "verify the large-value tree");
  if (st->entries != l->count || st->large_values != l->count)
    Die("the large-value tree lost keys");
  if (l->lmdb.Stat().ms_entries != l->count) Die("the LMDB large-value tree lost keys");
  std::fprintf(stderr,
               "index_bench: %zu-byte values: %llu keys on each side, %llu value pages of ours, "
               "built in %.1f s\n",
               size, static_cast<unsigned long long>(l->count),
               static_cast<unsigned long long>(st->value_pages), SecondsSince(t0));
  set = l.release();
}

const LargeSet& Large(const benchmark::State& state) {
  return *g_large[state.range(0) == static_cast<std::int64_t>(kLargeSizes[0]) ? 0 : 1];
}

// A random key of the large set.
std::uint64_t NextLarge(absl::BitGen& gen, std::uint64_t count, char* key) {
  const std::uint64_t i = absl::Uniform<std::uint64_t>(gen, 0, count);
  MakeKey(i, GetConfig().key_mask, key);
  return i;
}

void GetLargePagestore(benchmark::State& state) {
  const LargeSet& l = Large(state);
  const auto size = static_cast<std::size_t>(state.range(0));
  std::seed_seq seq{GetConfig().seed, std::uint64_t{7}};
  absl::BitGen gen(seq);
  char key[kKeyBytes];
  std::string value;  // reused: no allocation per get once large enough
  for (auto _ : state) {
    NextLarge(gen, l.count, key);
    absl::Status s = l.ours.tree->Get(View(key, kKeyBytes), &value);
    if (!s.ok() || value.size() != size) [[unlikely]] {
      Fail(state, s.ok() ? absl::InternalError("wrong value size") : s);
      break;
    }
    benchmark::DoNotOptimize(value.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(size));
}

void GetLargeLmdb(benchmark::State& state) {
  const LargeSet& l = Large(state);
  const auto size = static_cast<std::size_t>(state.range(0));
  std::seed_seq seq{GetConfig().seed, std::uint64_t{7}};
  absl::BitGen gen(seq);
  char key[kKeyBytes];
  std::string value;  // the value copied out, as our Get does
  MDB_txn* txn = nullptr;
  if (int rc = mdb_txn_begin(l.lmdb.env, nullptr, MDB_RDONLY, &txn); rc != MDB_SUCCESS) {
    state.SkipWithError(mdb_strerror(rc));
    return;
  }
  std::uint64_t left = kGetsPerReadTxn;
  for (auto _ : state) {
    if (left-- == 0) [[unlikely]] {
      mdb_txn_reset(txn);
      if (int rc = mdb_txn_renew(txn); rc != MDB_SUCCESS) {
        state.SkipWithError(mdb_strerror(rc));
        break;
      }
      left = kGetsPerReadTxn - 1;
    }
    NextLarge(gen, l.count, key);
    MDB_val k{kKeyBytes, key}, v;
    const int rc = mdb_get(txn, l.lmdb.dbi, &k, &v);
    if (rc != MDB_SUCCESS || v.mv_size != size) [[unlikely]] {
      state.SkipWithError(rc != MDB_SUCCESS ? mdb_strerror(rc) : "wrong value size");
      break;
    }
    value.assign(static_cast<const char*>(v.mv_data), v.mv_size);
    benchmark::DoNotOptimize(value.data());
  }
  mdb_txn_abort(txn);
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(size));
}

// Overwrites of random keys with new values of the same size, LargePutsPerTxn per transaction.
void PutLargePagestore(benchmark::State& state) {
  const LargeSet& l = Large(state);
  const auto size = static_cast<std::size_t>(state.range(0));
  const std::uint64_t per_txn = LargePutsPerTxn(size);
  std::seed_seq seq{GetConfig().seed, std::uint64_t{11}};
  absl::BitGen gen(seq);
  char key[kKeyBytes];
  std::uint64_t generation = 1, in_txn = 0;
  std::unique_ptr<Transaction> txn;
  absl::Status s;
  for (auto _ : state) {
    if (txn == nullptr) {
      absl::StatusOr<std::unique_ptr<Transaction>> t = l.ours.store->Begin();
      if (!t.ok()) {
        s = t.status();
        break;
      }
      txn = std::move(*t);
    }
    const std::uint64_t i = NextLarge(gen, l.count, key);
    s = l.ours.tree->Put(txn.get(), View(key, kKeyBytes), LargeValue(i, generation++, size));
    if (!s.ok()) break;
    if (++in_txn == per_txn) {
      s = txn->Commit(Durability::kNone);
      txn.reset();
      in_txn = 0;
      if (!s.ok()) break;
    }
  }
  if (s.ok() && txn != nullptr) s = txn->Commit(Durability::kNone);
  if (!s.ok()) Fail(state, s);
  const BufferPoolStats pool = l.ours.store->pool().stats();
  state.counters["pool_evictions"] = static_cast<double>(pool.evictions);
  state.counters["pool_disk_writes"] = static_cast<double>(pool.disk_writes);
  state.counters["checkpoints"] = static_cast<double>(l.ours.store->stats().checkpoints);
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(size));
}

void PutLargeLmdb(benchmark::State& state) {
  const LargeSet& l = Large(state);
  const auto size = static_cast<std::size_t>(state.range(0));
  const std::uint64_t per_txn = LargePutsPerTxn(size);
  std::seed_seq seq{GetConfig().seed, std::uint64_t{11}};
  absl::BitGen gen(seq);
  char key[kKeyBytes];
  std::uint64_t generation = 1, in_txn = 0;
  MDB_txn* txn = nullptr;
  int rc = MDB_SUCCESS;
  for (auto _ : state) {
    if (txn == nullptr) {
      rc = mdb_txn_begin(l.lmdb.env, nullptr, 0, &txn);
      if (rc != MDB_SUCCESS) break;
    }
    const std::uint64_t i = NextLarge(gen, l.count, key);
    const std::string_view v = LargeValue(i, generation++, size);
    MDB_val mk{kKeyBytes, key}, mv{size, const_cast<char*>(v.data())};
    rc = mdb_put(txn, l.lmdb.dbi, &mk, &mv, 0);
    if (rc != MDB_SUCCESS) break;
    if (++in_txn == per_txn) {
      rc = mdb_txn_commit(txn);
      txn = nullptr;
      in_txn = 0;
      if (rc != MDB_SUCCESS) break;
    }
  }
  if (txn != nullptr) {
    if (rc == MDB_SUCCESS) {
      rc = mdb_txn_commit(txn);
    } else {
      mdb_txn_abort(txn);
    }
  }
  if (rc != MDB_SUCCESS) state.SkipWithError(mdb_strerror(rc));
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(size));
}

// ---------------------------------------------------------------------------------------------
// Registration and shutdown.

void NoSetUp(const benchmark::State&) {}

// ---------------------------------------------------------------------------------------------
// compact/rewrite: the offline compaction of a store of PAGESTORE_BENCH_COMPACT_MB (default 256)
// filled by bulk load (fill 0.9, keys "c<12 digits>", 100-byte values) and then 70% deleted (a
// random 70% of its keys, in transactions of 1000): built once, untimed, closed. Each iteration
// (manual time) opens it, RewriteIndexes into a new store, closes that (its final checkpoint
// included) and deletes it. Counters: the source's and the copy's file sizes (MiB), the live
// entries. Items are entries copied.

struct CompactSource {
  fs::path path;
  std::uint64_t live = 0;
};
CompactSource* g_compact = nullptr;

StoreOptions CompactStoreOptions() {
  StoreOptions o;
  o.pool_frames = 32768;  // 128 MiB: the copy reads the source beyond it
  o.durability = Durability::kNone;
  o.undo_handlers[kBTreeResourceManager] = BTreeUndoHandler();
  o.undo_handlers[kHashResourceManager] = HashUndoHandler();
  return o;
}

void SetUpCompact(const benchmark::State&) {
  if (g_compact != nullptr) return;
  auto c = std::make_unique<CompactSource>();
  c->path = GetConfig().root / "compact_src.pages";
  const std::uint64_t mb = std::max<std::uint64_t>(EnvUint("PAGESTORE_BENCH_COMPACT_MB", 256), 1);
  // About 0.9 of a page's payload per 35 entries of 16 + 100 bytes (and their slots).
  const std::uint64_t n = mb * 256 * 31;
  std::vector<std::pair<std::string, std::string>> pairs(n);
  for (std::uint64_t i = 0; i < n; ++i) {
    pairs[i].first = fmt::format("c{:012}", i);
    pairs[i].second.assign(kValueBytes, static_cast<char>('a' + i % 26));
  }
  {
    absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(c->path, CompactStoreOptions());
    Check(store.status(), "open the compaction source");
    absl::StatusOr<std::unique_ptr<Catalog>> catalog = Catalog::Open(**store);
    Check(catalog.status(), "open its catalog");
    absl::StatusOr<std::unique_ptr<BTree>> tree = (*catalog)->CreateBTree("t");
    Check(tree.status(), "create its tree");
    Check((*tree)->BulkLoad(pairs, 0.9), "bulk load the compaction source");
    std::vector<std::uint64_t> order(n);
    for (std::uint64_t i = 0; i < n; ++i) order[i] = i;
    std::shuffle(order.begin(), order.end(), std::mt19937_64(GetConfig().seed));
    const std::uint64_t doomed = n * 7 / 10;
    Check(InTransactions(**store, doomed,
                         [&](Transaction* txn, std::uint64_t k) {
                           return (*tree)->Delete(txn, pairs[order[k]].first);
                         }),
          "delete 70% of the compaction source");
    c->live = n - doomed;
    tree->reset();
    Check((*store)->Close(), "close the compaction source");
  }
  g_compact = c.release();
}

void CompactRewrite(benchmark::State& state) {
  double source_mb = 0, dest_mb = 0;
  for (auto _ : state) {
    const fs::path dest = FreshPath("compact_dst");
    const auto start = std::chrono::steady_clock::now();
    absl::StatusOr<std::unique_ptr<Store>> source =
        Store::Open(g_compact->path, CompactStoreOptions());
    absl::StatusOr<std::unique_ptr<Store>> fresh =
        source.ok() ? Store::Open(dest, CompactStoreOptions()) : source.status();
    absl::StatusOr<RewriteReport> r =
        fresh.ok() ? RewriteIndexes(**source, **fresh, RewriteOptions{}) : fresh.status();
    absl::Status s = r.status();
    if (s.ok()) s = (*fresh)->Close();
    const auto stop = std::chrono::steady_clock::now();
    if (s.ok() && r->entries != g_compact->live) {
      s = absl::InternalError(
          fmt::format("the copy holds {} entries, expected {}", r->entries, g_compact->live));
    }
    if (!s.ok()) {
      Fail(state, s);
      break;
    }
    state.SetIterationTime(std::chrono::duration<double>(stop - start).count());
    source_mb = static_cast<double>(fs::file_size(g_compact->path)) / (1 << 20);
    dest_mb = static_cast<double>(fs::file_size(dest)) / (1 << 20);
    fresh->reset();
    source->reset();
    RemoveStoreFiles(dest);
  }
  state.counters["source_mb"] = source_mb;
  state.counters["dest_mb"] = dest_mb;
  state.counters["live_entries"] = static_cast<double>(g_compact->live);
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(g_compact->live));
}

// compact/in_place: Store::Compact of a copy of the same sparse store (made untimed before
// each iteration): open, Catalog::Open, Compact, Close timed, as the rewrite's open and close
// are. Counters as compact/rewrite's.
void CompactInPlace(benchmark::State& state) {
  double source_mb = 0, dest_mb = 0;
  for (auto _ : state) {
    const fs::path copy = FreshPath("compact_copy");
    std::error_code ec;
    fs::copy_file(g_compact->path, copy, ec);
    if (!ec) fs::copy(g_compact->path.string() + "-wal", copy.string() + "-wal", ec);
    if (ec) {
      Fail(state, absl::InternalError(fmt::format("copying the source: {}", ec.message())));
      break;
    }
    const auto start = std::chrono::steady_clock::now();
    absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(copy, CompactStoreOptions());
    absl::Status s = store.status();
    std::unique_ptr<Catalog> catalog;
    if (s.ok()) {
      absl::StatusOr<std::unique_ptr<Catalog>> c = Catalog::Open(**store);
      s = c.status();
      if (s.ok()) catalog = std::move(*c);
    }
    if (s.ok()) s = (*store)->Compact().status();
    catalog.reset();
    if (s.ok()) s = (*store)->Close();
    const auto stop = std::chrono::steady_clock::now();
    if (!s.ok()) {
      Fail(state, s);
      break;
    }
    state.SetIterationTime(std::chrono::duration<double>(stop - start).count());
    source_mb = static_cast<double>(fs::file_size(g_compact->path)) / (1 << 20);
    dest_mb = static_cast<double>(fs::file_size(copy)) / (1 << 20);
    store->reset();
    RemoveStoreFiles(copy);
  }
  state.counters["source_mb"] = source_mb;
  state.counters["dest_mb"] = dest_mb;
  state.counters["live_entries"] = static_cast<double>(g_compact->live);
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(g_compact->live));
}

void RegisterAll() {
  auto get = [](const char* name, void (*fn)(benchmark::State&), bench::Setup setup) {
    Register(name, fn, setup)->Threads(1)->Threads(2)->UseRealTime();
  };
  get("btree_get/pagestore", GetPagestore, SetUpOurRead);
  get("btree_get/lmdb", GetLmdb, SetUpLmdbRead);
  get("btree_get/absl_btree_map", GetAbsl, SetUpAbsl);
  get("hash_get/pagestore", GetHashPagestore, SetUpOurHashRead);
  get("hash_get/absl_flat_hash_map", GetAbslHash, SetUpAbslHash);

  auto build = [](const char* name, void (*fn)(benchmark::State&), bench::Setup setup) {
    Register(name, fn, setup)->Iterations(1)->UseManualTime()->Unit(benchmark::kMillisecond);
  };
  build("btree_insert_random/pagestore", InsertRandomPagestore, NoSetUp);
  build("btree_insert_random/lmdb", InsertRandomLmdb, NoSetUp);

  Register("btree_scan/pagestore", ScanPagestore<false>, SetUpOurRead)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
  Register("btree_scan/lmdb", ScanLmdb<false>, SetUpLmdbRead)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
  Register("btree_scan_reverse/pagestore", ScanPagestore<true>, SetUpOurRead)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
  Register("btree_scan_reverse/lmdb", ScanLmdb<true>, SetUpLmdbRead)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);

  // Beyond the pool, from the device (O_DIRECT).
  for (const auto& [name, fn] :
       std::initializer_list<std::pair<const char*, void (*)(benchmark::State&)>>{
           {"btree_scan_cold/read_ahead", ScanCold<true>},
           {"btree_scan_cold/no_read_ahead", ScanCold<false>},
           {"btree_multiget_cold/pagestore", GetCold<true>},
           {"btree_get_cold/pagestore", GetCold<false>}}) {
    Register(name, fn, SetUpCold)->UseRealTime();
  }

  build("btree_bulk_load/pagestore", BulkLoadPagestore, SetUpBulkLoad);
  // One name per value size (the report compares by the name's first two parts).
  for (const auto& [name, fn] :
       std::initializer_list<std::pair<const char*, void (*)(benchmark::State&)>>{
           {"btree_get_large_8k/pagestore", GetLargePagestore},
           {"btree_get_large_8k/lmdb", GetLargeLmdb},
           {"btree_put_large_8k/pagestore", PutLargePagestore},
           {"btree_put_large_8k/lmdb", PutLargeLmdb}}) {
    Register(name, fn, SetUpLarge)->Arg(kLargeSizes[0])->UseRealTime();
  }
  for (const auto& [name, fn] :
       std::initializer_list<std::pair<const char*, void (*)(benchmark::State&)>>{
           {"btree_get_large_256k/pagestore", GetLargePagestore},
           {"btree_get_large_256k/lmdb", GetLargeLmdb},
           {"btree_put_large_256k/pagestore", PutLargePagestore},
           {"btree_put_large_256k/lmdb", PutLargeLmdb}}) {
    Register(name, fn, SetUpLarge)->Arg(kLargeSizes[1])->UseRealTime();
  }
  build("hash_insert_random/pagestore", InsertRandomHashPagestore, NoSetUp);
  build("hash_delete/pagestore", DeleteHashPagestore, SetUpHashDelete);
  build("compact/rewrite", CompactRewrite, SetUpCompact);
  build("compact/in_place", CompactInPlace, SetUpCompact);
}

void Shutdown() {
  if (g_compact != nullptr) {
    RemoveStoreFiles(g_compact->path);
    delete g_compact;
    g_compact = nullptr;
  }
  if (g_cold != nullptr) {
    g_cold->tree.reset();
    g_cold->no_ahead.reset();
    DestroyStore(g_cold->path, g_cold->store);
    delete g_cold;
    g_cold = nullptr;
  }
  if (g_our_read != nullptr) {
    g_our_read->Destroy();
    delete g_our_read;
    g_our_read = nullptr;
  }
  if (g_lmdb_read != nullptr) {
    g_lmdb_read->Destroy();
    delete g_lmdb_read;
    g_lmdb_read = nullptr;
  }
  if (g_our_hash_read != nullptr) {
    g_our_hash_read->Destroy();
    delete g_our_hash_read;
    g_our_hash_read = nullptr;
  }
  for (LargeSet*& l : g_large) {
    if (l == nullptr) continue;
    l->ours.Destroy();
    l->lmdb.Destroy();
    delete l;
    l = nullptr;
  }
  delete g_absl;
  g_absl = nullptr;
  delete g_absl_hash;
  g_absl_hash = nullptr;
  bench::RemoveTempRoot(GetConfig().root);
}

}  // namespace
}  // namespace pagestore

namespace pagestore::bench {

Program ThisProgram() {
  return {
      .start = [] { MakeTempRoot(GetConfig().root); },
      .context =
          [] {
            const Config& c = GetConfig();
            return Context()
                .Add("pagestore_bench_dir", c.dir.string())
                .Add("pagestore_bench_keys", c.keys)
                .Add("pagestore_bench_seed", c.seed)
                .Add("lmdb_version", MDB_VERSION_STRING);
          },
      .register_benchmarks = RegisterAll,
      .finish =
          [] {
            Shutdown();
            return true;
          },
  };
}

}  // namespace pagestore::bench
