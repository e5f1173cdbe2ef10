// SlotTable: a small transactional structure over pages, used to drive the WAL and crash tests
// until the indexes exist (their issues rerun the same harness on them).
//
// Page kFirstDataPage is its directory: the ids of kSlotPages slot pages and of kBlobs blob
// pages (0 = empty). A slot page holds (key, value) u64 pairs at fixed slots; key k lives on slot
// page k % kSlotPages, slot k / kSlotPages; value 0 means absent. A blob is a byte string on a
// page of its own: SetBlob allocates a new page, writes it, points the directory at it and frees
// the old page — so every workload exercises the free list inside mini-transactions.
// Each operation logs its logical undo (the old value, the old bytes) under resource manager kRm.
#pragma once

#include <cstring>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/random/random.h"
#include "wal/store.h"

namespace pagestore::testing {

class SlotTable {
 public:
  static constexpr std::uint16_t kRm = 7;
  static constexpr std::size_t kSlotPages = 3;
  static constexpr std::size_t kBlobs = 4;
  static constexpr PageId kDirectory = kFirstDataPage;
  static constexpr std::size_t kSlotsPerPage = kPagePayloadSize / 16;
  static constexpr std::uint64_t kKeys = kSlotPages * 40;

  struct Model {
    std::map<std::uint64_t, std::uint64_t> values;  // absent keys are 0
    std::map<std::size_t, std::string> blobs;       // absent blobs are ""
    friend bool operator==(const Model&, const Model&) = default;
    friend void PrintTo(const Model& m, std::ostream* os) {
      *os << "{";
      for (const auto& [k, v] : m.values) *os << k << "=" << v << " ";
      for (const auto& [i, b] : m.blobs)
        *os << "blob" << i << "=" << b.size() << "B:" << b.substr(0, 6) << " ";
      *os << "}";
    }
  };

  // Creates the directory and slot pages in a new store (as one system mini-transaction).
  [[nodiscard]] static absl::Status Create(Store& store) {
    MiniTransaction mtr = store.BeginMtr();
    absl::StatusOr<PageId> dir = mtr.AllocatePage(PageType::kRaw);
    if (!dir.ok()) return dir.status();
    if (*dir != kDirectory) return absl::InternalError("directory is not the first data page");
    std::vector<PageId> slots;
    for (std::size_t i = 0; i < kSlotPages; ++i) {
      absl::StatusOr<PageId> p = mtr.AllocatePage(PageType::kRaw);
      if (!p.ok()) return p.status();
      slots.push_back(*p);
    }
    absl::StatusOr<PageSpan> d = mtr.GetForWrite(kDirectory);
    if (!d.ok()) return d.status();
    std::memcpy(d->data() + kPageHeaderSize, slots.data(), slots.size() * sizeof(PageId));
    return mtr.Commit().status();
  }

  static UndoHandler Handler() {
    return [](MiniTransaction& mtr, std::span<const std::byte> undo) -> absl::Status {
      std::uint8_t op;
      std::uint64_t a;
      std::memcpy(&op, undo.data(), 1);
      std::memcpy(&a, undo.data() + 1, 8);
      if (op == 0) {
        std::uint64_t old;
        std::memcpy(&old, undo.data() + 9, 8);
        return WriteSlot(mtr, a, old, nullptr);
      }
      std::string old(reinterpret_cast<const char*>(undo.data()) + 9, undo.size() - 9);
      return WriteBlob(mtr, a, old, nullptr);
    };
  }

  [[nodiscard]] static absl::Status Put(Transaction& txn, std::uint64_t key, std::uint64_t value) {
    MiniTransaction mtr = txn.BeginMtr();
    std::uint64_t old = 0;
    if (absl::Status s = WriteSlot(mtr, key, value, &old); !s.ok()) return s;
    std::byte undo[17];
    undo[0] = std::byte{0};
    std::memcpy(undo + 1, &key, 8);
    std::memcpy(undo + 9, &old, 8);
    mtr.LogUndo(kRm, undo);
    return mtr.Commit().status();
  }

  [[nodiscard]] static absl::Status SetBlob(Transaction& txn, std::size_t i,
                                            const std::string& bytes) {
    MiniTransaction mtr = txn.BeginMtr();
    std::string old_bytes;
    const std::string* old = &old_bytes;
    if (absl::Status s = WriteBlob(mtr, i, bytes, &old_bytes); !s.ok()) return s;
    std::vector<std::byte> undo(9 + old->size());
    undo[0] = std::byte{1};
    const std::uint64_t idx = i;
    std::memcpy(undo.data() + 1, &idx, 8);
    std::memcpy(undo.data() + 9, old->data(), old->size());
    mtr.LogUndo(kRm, undo);
    return mtr.Commit().status();
  }

  // The table's contents (read through a system mini-transaction that changes nothing).
  [[nodiscard]] static absl::StatusOr<Model> Read(Store& store) {
    MiniTransaction mtr = store.BeginMtr();
    Model m;
    for (std::uint64_t k = 0; k < kKeys; ++k) {
      absl::StatusOr<std::uint64_t> v = ReadSlot(mtr, k);
      if (!v.ok()) return v.status();
      if (*v != 0) m.values[k] = *v;
    }
    for (std::size_t i = 0; i < kBlobs; ++i) {
      absl::StatusOr<std::string> b = ReadBlob(mtr, i);
      if (!b.ok()) return b.status();
      if (!b->empty()) m.blobs[i] = *b;
    }
    return m;
  }

  // Every page of the file is exactly one of: the directory, a slot page, a blob page, free.
  [[nodiscard]] static absl::Status CheckPages(Store& store) {
    MiniTransaction mtr = store.BeginMtr();
    absl::flat_hash_set<PageId> used{kDirectory};
    absl::StatusOr<ConstPageSpan> d = mtr.GetForRead(kDirectory);
    if (!d.ok()) return d.status();
    const std::byte* p = d->data() + kPageHeaderSize;
    for (std::size_t i = 0; i < kSlotPages + kBlobs; ++i) {
      PageId id;
      std::memcpy(&id, p + i * 8, 8);
      if (id == kInvalidPageId) continue;
      if (!used.insert(id).second)
        return absl::InternalError(fmt::format("page {} used twice", id));
    }
    for (PageId f : store.FreePages()) {
      if (used.contains(f)) return absl::InternalError(fmt::format("page {} is used and free", f));
      used.insert(f);
    }
    const PageId count = store.pool().page_count();
    for (PageId id = kFirstDataPage; id < count; ++id) {
      if (!used.contains(id)) return absl::InternalError(fmt::format("page {} leaked", id));
    }
    if (used.size() != count - kFirstDataPage) {
      return absl::InternalError("a used or free page lies beyond the file");
    }
    return absl::OkStatus();
  }

 private:
  static absl::StatusOr<PageId> DirEntry(MiniTransaction& mtr, std::size_t index) {
    absl::StatusOr<ConstPageSpan> d = mtr.GetForRead(kDirectory);
    if (!d.ok()) return d.status();
    PageId id;
    std::memcpy(&id, d->data() + kPageHeaderSize + index * 8, 8);
    return id;
  }
  static absl::StatusOr<std::uint64_t> ReadSlot(MiniTransaction& mtr, std::uint64_t key) {
    absl::StatusOr<PageId> page = DirEntry(mtr, key % kSlotPages);
    if (!page.ok()) return page.status();
    absl::StatusOr<ConstPageSpan> s = mtr.GetForRead(*page);
    if (!s.ok()) return s.status();
    std::uint64_t v;
    std::memcpy(&v, s->data() + kPageHeaderSize + (key / kSlotPages) * 16 + 8, 8);
    return v;
  }
  static absl::Status WriteSlot(MiniTransaction& mtr, std::uint64_t key, std::uint64_t value,
                                std::uint64_t* old) {
    absl::StatusOr<PageId> page = DirEntry(mtr, key % kSlotPages);
    if (!page.ok()) return page.status();
    absl::StatusOr<PageSpan> s = mtr.GetForWrite(*page);
    if (!s.ok()) return s.status();
    std::byte* slot = s->data() + kPageHeaderSize + (key / kSlotPages) * 16;
    if (old != nullptr) std::memcpy(old, slot + 8, 8);
    std::memcpy(slot, &key, 8);
    std::memcpy(slot + 8, &value, 8);
    return absl::OkStatus();
  }
  static absl::StatusOr<std::string> ReadBlob(MiniTransaction& mtr, std::size_t i) {
    absl::StatusOr<PageId> page = DirEntry(mtr, kSlotPages + i);
    if (!page.ok()) return page.status();
    if (*page == kInvalidPageId) return std::string();
    absl::StatusOr<ConstPageSpan> s = mtr.GetForRead(*page);
    if (!s.ok()) return s.status();
    std::uint32_t len;
    std::memcpy(&len, s->data() + kPageHeaderSize, 4);
    if (len > kPagePayloadSize - 4) return absl::DataLossError("bad blob length");
    return std::string(reinterpret_cast<const char*>(s->data()) + kPageHeaderSize + 4, len);
  }
  // Points blob i at a new page holding `bytes` (none if empty) and frees the old page. The
  // directory is latched for writing first: one latch order for every operation.
  static absl::Status WriteBlob(MiniTransaction& mtr, std::size_t i, const std::string& bytes,
                                std::string* old_bytes) {
    absl::StatusOr<PageSpan> d = mtr.GetForWrite(kDirectory);
    if (!d.ok()) return d.status();
    PageId old;
    std::memcpy(&old, d->data() + kPageHeaderSize + (kSlotPages + i) * 8, 8);
    if (old != kInvalidPageId && old_bytes != nullptr) {
      absl::StatusOr<PageSpan> o = mtr.GetForWrite(old);
      if (!o.ok()) return o.status();
      std::uint32_t len;
      std::memcpy(&len, o->data() + kPageHeaderSize, 4);
      if (len > kPagePayloadSize - 4) return absl::DataLossError("bad blob length");
      old_bytes->assign(reinterpret_cast<const char*>(o->data()) + kPageHeaderSize + 4, len);
    }
    PageId fresh = kInvalidPageId;
    if (!bytes.empty()) {
      absl::StatusOr<PageId> p = mtr.AllocatePage(PageType::kOverflow);
      if (!p.ok()) return p.status();
      fresh = *p;
      absl::StatusOr<PageSpan> b = mtr.GetForWrite(fresh);
      if (!b.ok()) return b.status();
      const auto len = static_cast<std::uint32_t>(bytes.size());
      std::memcpy(b->data() + kPageHeaderSize, &len, 4);
      std::memcpy(b->data() + kPageHeaderSize + 4, bytes.data(), bytes.size());
    }
    std::memcpy(d->data() + kPageHeaderSize + (kSlotPages + i) * 8, &fresh, 8);
    if (old != kInvalidPageId) return mtr.FreePage(old);
    return absl::OkStatus();
  }
};

// A deterministic workload of transactions over a SlotTable: each has 1-4 operations and
// commits (about 80%) or aborts.
struct WorkloadTxn {
  struct Op {
    bool blob;
    std::uint64_t key;  // or blob index
    std::uint64_t value;
    std::string bytes;
  };
  std::vector<Op> ops;
  bool commit;

  void ApplyTo(SlotTable::Model& m) const {
    if (!commit) return;
    for (const Op& op : ops) {
      if (op.blob) {
        if (op.bytes.empty()) {
          m.blobs.erase(op.key);
        } else {
          m.blobs[op.key] = op.bytes;
        }
      } else if (op.value == 0) {
        m.values.erase(op.key);
      } else {
        m.values[op.key] = op.value;
      }
    }
  }
  [[nodiscard]] absl::Status Run(Transaction& txn) const {
    for (const Op& op : ops) {
      absl::Status s = op.blob ? SlotTable::SetBlob(txn, op.key, op.bytes)
                               : SlotTable::Put(txn, op.key, op.value);
      if (!s.ok()) return s;
    }
    return absl::OkStatus();
  }
};

inline std::vector<WorkloadTxn> MakeWorkload(std::uint64_t seed, std::size_t txns) {
  std::mt19937_64 rng(seed);
  auto uniform = [&](std::uint64_t lo, std::uint64_t hi) {
    return std::uniform_int_distribution<std::uint64_t>(lo, hi)(rng);
  };
  std::vector<WorkloadTxn> out(txns);
  for (std::size_t t = 0; t < txns; ++t) {
    WorkloadTxn& w = out[t];
    w.commit = uniform(0, 9) < 8;
    const std::size_t n = uniform(1, 4);
    for (std::size_t i = 0; i < n; ++i) {
      WorkloadTxn::Op op;
      op.blob = uniform(0, 3) == 0;
      if (op.blob) {
        op.key = uniform(0, SlotTable::kBlobs - 1);
        const std::size_t len = uniform(0, 5) == 0 ? 0 : uniform(1, 300);
        for (std::size_t b = 0; b < len; ++b)
          op.bytes.push_back(static_cast<char>('a' + uniform(0, 25)));
      } else {
        op.key = uniform(0, SlotTable::kKeys - 1);
        op.value = uniform(0, 7) == 0 ? 0 : uniform(1, 1'000'000);
      }
      op.value = op.blob ? 0 : op.value;
      w.ops.push_back(std::move(op));
    }
  }
  return out;
}

}  // namespace pagestore::testing
