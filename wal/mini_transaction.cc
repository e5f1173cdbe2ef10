// MiniTransaction (wal/store.h): latched page changes logged as one record.
#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "wal/store.h"
#include "wal/store_core.h"

namespace pagestore {

// ---------------------------------------------------------------------------------------------
// MiniTransaction

MiniTransaction::MiniTransaction(StoreKey, StoreCore* core, TxnState* txn,
                                 std::optional<Lsn> compensation_undo_next)
    : core_(core), txn_(txn), compensation_undo_next_(compensation_undo_next) {}

MiniTransaction::MiniTransaction(MiniTransaction&& o) noexcept
    : core_(o.core_),
      txn_(o.txn_),
      held_(std::move(o.held_)),
      allocs_(std::move(o.allocs_)),
      undo_(std::move(o.undo_)),
      free_at_commit_(std::move(o.free_at_commit_)),
      compensation_undo_next_(o.compensation_undo_next_),
      done_(std::exchange(o.done_, true)) {}

Store& MiniTransaction::store() const { return *core_->store; }

MiniTransaction::~MiniTransaction() {
  if (!done_) Rollback();
}

MiniTransaction::Held* MiniTransaction::Find(PageId id) {
  for (Held& h : held_) {
    if (h.id == id) return &h;
  }
  return nullptr;
}

absl::StatusOr<PageSpan> MiniTransaction::GetForWrite(PageId id) {
  if (done_) return absl::FailedPreconditionError("mini-transaction already committed");
  if (Held* h = Find(id)) {
    if (!h->write) {
      return absl::FailedPreconditionError(fmt::format(
          "page {} is latched for reading in this mini-transaction; latch it for writing first",
          id));
    }
    return h->guard.mutable_data();
  }
  absl::StatusOr<WritePageGuard> g = core_->pool->WritePage(id);
  if (!g.ok()) return g.status();
  Held h{id, true, false, {}, std::move(*g), std::make_unique<PageCopy>()};
  std::memcpy(h.before->data(), h.guard.data().data(), kPageSize);
  held_.push_back(std::move(h));
  return held_.back().guard.mutable_data();
}

absl::StatusOr<ConstPageSpan> MiniTransaction::GetForRead(PageId id) {
  if (done_) return absl::FailedPreconditionError("mini-transaction already committed");
  if (Held* h = Find(id)) return h->write ? h->guard.data() : h->read.data();
  absl::StatusOr<ReadPageGuard> g = core_->pool->ReadPage(id);
  if (!g.ok()) return g.status();
  held_.push_back(Held{id, false, false, std::move(*g), {}, nullptr});
  return held_.back().read.data();
}

absl::StatusOr<PageId> MiniTransaction::AllocatePage(PageType type) {
  if (done_) return absl::FailedPreconditionError("mini-transaction already committed");
  if (absl::Status s = core_->Usable(); !s.ok()) return s;
  absl::StatusOr<PageAllocator::Taken> t = core_->alloc.Take(type);
  if (!t.ok()) return t.status();
  const PageId id = t->guard.page_id();
  allocs_.push_back({t->extended ? MtrEntry::kExtend : MtrEntry::kAlloc, id});
  held_.push_back(Held{id, true, true, {}, std::move(t->guard), nullptr});
  return id;
}

absl::Status MiniTransaction::FreePage(PageId id) {
  if (id < kFirstDataPage) {
    return absl::InvalidArgumentError(fmt::format("page {} is a superblock page", id));
  }
  if (absl::Status s = core_->alloc.CheckNotFree(id); !s.ok()) return s;
  for (const AllocationOp& op : allocs_) {
    if (op.kind == MtrEntry::kFree && op.id == id) {
      return absl::InvalidArgumentError(fmt::format("page {} is already freed", id));
    }
  }
  if (absl::StatusOr<PageSpan> p = GetForWrite(id); !p.ok()) return p.status();
  allocs_.push_back({MtrEntry::kFree, id});
  return absl::OkStatus();
}

absl::StatusOr<PageId> MiniTransaction::Relocate(PageId from) {
  absl::StatusOr<PageSpan> src = GetForWrite(from);
  if (!src.ok()) return src.status();
  const auto type = static_cast<PageType>(ReadPageHeader(*src).type);
  absl::StatusOr<PageId> to = AllocatePage(type);
  if (!to.ok()) return to.status();
  absl::StatusOr<PageSpan> dst = GetForWrite(*to);
  if (!dst.ok()) return dst.status();
  std::memcpy(dst->data(), src->data(), kPageSize);
  PageHeader h = ReadPageHeader(*dst);
  h.page_id = *to;
  WritePageHeader(*dst, h);
  if (absl::Status s = FreePage(from); !s.ok()) return s;
  return *to;
}

absl::Status MiniTransaction::FreeUnreferenced(std::span<const PageId> ids) {
  if (done_) return absl::FailedPreconditionError("mini-transaction already committed");
  for (PageId id : ids) {
    if (id < kFirstDataPage) {
      return absl::InvalidArgumentError(fmt::format("page {} is a superblock page", id));
    }
    if (absl::Status s = core_->alloc.CheckNotFree(id); !s.ok()) return s;
  }
  for (PageId id : ids) allocs_.push_back({MtrEntry::kFree, id});
  return absl::OkStatus();
}

absl::Status MiniTransaction::FreeAtCommit(std::span<const PageId> ids) {
  if (txn_ == nullptr) return FreeUnreferenced(ids);
  if (done_) return absl::FailedPreconditionError("mini-transaction already committed");
  for (PageId id : ids) {
    if (id < kFirstDataPage) {
      return absl::InvalidArgumentError(fmt::format("page {} is a superblock page", id));
    }
    if (absl::Status s = core_->alloc.CheckNotFree(id); !s.ok()) return s;
  }
  free_at_commit_.insert(free_at_commit_.end(), ids.begin(), ids.end());
  return absl::OkStatus();
}

absl::Status MiniTransaction::ReleasePage(PageId id) {
  for (auto it = held_.begin(); it != held_.end(); ++it) {
    if (it->id != id) continue;
    if (it->write &&
        (it->fresh || std::memcmp(it->before->data(), it->guard.data().data(), kPageSize) != 0)) {
      return absl::FailedPreconditionError(fmt::format(
          "page {} was changed in this mini-transaction; it is released at Commit", id));
    }
    for (const AllocationOp& op : allocs_) {
      if (op.id == id) {
        return absl::FailedPreconditionError(
            fmt::format("page {} was allocated or freed in this mini-transaction", id));
      }
    }
    held_.erase(it);
    return absl::OkStatus();
  }
  return absl::NotFoundError(fmt::format("page {} is not held by this mini-transaction", id));
}

void MiniTransaction::LogUndo(std::uint16_t resource_manager, std::span<const std::byte> payload) {
  undo_.emplace(resource_manager, std::vector<std::byte>(payload.begin(), payload.end()));
}

namespace {

// Appends kPageBytes entries for the ranges where `now` differs from `before`, merging ranges
// separated by fewer bytes than an entry costs.
void EncodeDiff(PageId id, const std::byte* before, const std::byte* now, MtrPayloadWriter& enc) {
  constexpr std::size_t kMergeGap = 16;
  std::size_t i = 0;
  while (i < kPageSize) {
    // Skip equal words.
    while (i < kPageSize) {
      std::uint64_t a, b;
      std::memcpy(&a, before + i, 8);
      std::memcpy(&b, now + i, 8);
      if (a != b) break;
      i += 8;
    }
    if (i >= kPageSize) break;
    const std::size_t start = i;
    std::size_t end = i + 8;  // exclusive, word aligned
    std::size_t probe = end;
    while (probe < kPageSize && probe < end + kMergeGap) {
      std::uint64_t a, b;
      std::memcpy(&a, before + probe, 8);
      std::memcpy(&b, now + probe, 8);
      probe += 8;
      if (a != b) end = probe;
    }
    enc.PageBytes(id, static_cast<std::uint16_t>(start),
                  std::span<const std::byte>(now + start, end - start));
    i = end;
  }
}

// A full page image without its longest run of zero words (the free gap of a slotted page, or
// the empty tail of a fresh one): offset and length of the hole, then the bytes around it.
void EncodeImage(PageId id, const std::byte* now, MtrPayloadWriter& enc) {
  std::size_t best = 0, best_len = 0, run = 0;
  for (std::size_t off = kPageHeaderSize; off < kPageSize; off += 8) {
    std::uint64_t w;
    std::memcpy(&w, now + off, 8);
    if (w != 0) {
      run = 0;
      continue;
    }
    run += 8;
    if (run > best_len) {
      best_len = run;
      best = off + 8 - run;
    }
  }
  enc.PageImage(id, static_cast<std::uint16_t>(best), static_cast<std::uint16_t>(best_len),
                ConstPageSpan(now, kPageSize));
}

}  // namespace

void MiniTransaction::EncodePayload(Lsn redo, std::vector<std::byte>& payload,
                                    std::vector<Held*>& changed) {
  payload.clear();
  changed.clear();
  MtrPayloadWriter enc(&payload);
  for (Held& h : held_) {
    if (!h.write) continue;
    const std::byte* now = h.guard.data().data();
    if (h.fresh || ReadPageHeader(ConstPageSpan(h.before->data(), kPageSize)).lsn < redo) {
      // A torn write of this page is repaired from this image at recovery.
      if (!h.fresh && std::memcmp(h.before->data(), now, kPageSize) == 0) continue;
      EncodeImage(h.id, now, enc);
    } else {
      const std::size_t at = payload.size();
      EncodeDiff(h.id, h.before->data(), now, enc);
      if (payload.size() == at) continue;
    }
    changed.push_back(&h);
  }
  for (const AllocationOp& op : allocs_) enc.Allocation(op.kind, op.id);
  if (undo_ && txn_ != nullptr && !compensation_undo_next_) enc.Undo(undo_->first, undo_->second);
  if (compensation_undo_next_) enc.Compensation(*compensation_undo_next_);
}

absl::StatusOr<Lsn> MiniTransaction::Commit() {
  if (done_) return absl::FailedPreconditionError("mini-transaction already committed");
  LogManager& log = *core_->log;
  std::vector<std::byte> payload;
  std::vector<Held*> changed;
  absl::StatusOr<Lsn> lsn;
  for (;;) {
    // A checkpoint that moves the redo LSN between here and the append makes the append fail
    // with Aborted: the payload is encoded again against the new redo LSN.
    const Lsn redo = log.redo_lsn();
    EncodePayload(redo, payload, changed);
    if (payload.empty()) {
      if (txn_ != nullptr && !free_at_commit_.empty()) {
        txn_->free_at_commit.insert(txn_->free_at_commit.end(), free_at_commit_.begin(),
                                    free_at_commit_.end());
      }
      ReleaseAll();
      return kInvalidLsn;
    }
    LogManager::Record rec{RecordType::kMtr, txn_ ? txn_->id : 0,
                           txn_ ? txn_->own_position().last : kInvalidLsn, payload};
    auto logged = [&](Lsn at) ABSL_EXCLUSIVE_LOCKS_REQUIRED(log.mutex()) {
      if (txn_ != nullptr) {
        txn_->log->AssertHeld();  // the store's log: `log`
        TxnState::LogPosition& pos = txn_->pos;
        if (pos.first == kInvalidLsn) pos.first = at;
        pos.last = at;
        pos.undo_next = compensation_undo_next_.value_or(at);
        if (undo_ && !compensation_undo_next_) {
          txn_->undo.push_back({at, rec.prev_lsn, undo_->first, std::move(undo_->second)});
        }
      }
      core_->alloc.Apply(allocs_);
    };
    lsn = log.Append(rec, redo == kInvalidLsn ? kInvalidLsn : redo, logged);
    if (lsn.ok() || !absl::IsAborted(lsn.status())) break;
  }
  if (!lsn.ok()) {
    Rollback();
    return lsn.status();
  }
  for (Held* h : changed) h->guard.set_lsn(*lsn);
  if (txn_ != nullptr && !free_at_commit_.empty()) {
    txn_->free_at_commit.insert(txn_->free_at_commit.end(), free_at_commit_.begin(),
                                free_at_commit_.end());
  }
  std::uint64_t freed = 0;
  for (const AllocationOp& op : allocs_) freed += op.kind == MtrEntry::kFree;
  if (freed > 0) core_->alloc.CountFreed(freed);
  core_->mtrs.fetch_add(1, std::memory_order_relaxed);
  ReleaseAll();
  return *lsn;
}

void MiniTransaction::ReleaseAll() {
  // Newest first, so a page latched after another is released before it.
  while (!held_.empty()) held_.pop_back();
  allocs_.clear();
  free_at_commit_.clear();
  done_ = true;
}

void MiniTransaction::Rollback() {
  for (Held& h : held_) {
    if (h.write && !h.fresh)
      std::memcpy(h.guard.mutable_data().data(), h.before->data(), kPageSize);
  }
  // A page taken from the free list was initialized in its frame: its freeing record may not be
  // durable yet, so the frame must not reach the disk before the log does (were the free lost,
  // the page would be in use again, with these bytes over its contents). Stamping the log's end
  // as its LSN makes the WAL rule see to that. A page the file grew by is already logged free.
  // Its payload is wiped too: what was built in it never happened, and nothing may find it
  // looking like a live page (the hash index validates cached page ids by their contents).
  const Lsn end = core_->log->next_lsn();
  for (Held& h : held_) {
    if (!h.fresh) continue;
    std::memset(h.guard.mutable_data().data() + kPageHeaderSize, 0, kPageSize - kPageHeaderSize);
    for (const AllocationOp& op : allocs_) {
      if (op.id == h.id && op.kind == MtrEntry::kAlloc && end > kFirstLsn) h.guard.set_lsn(end - 1);
    }
  }
  for (const AllocationOp& op : allocs_) {
    if (op.kind != MtrEntry::kFree) core_->alloc.Return(op.id);
  }
  ReleaseAll();
}

}  // namespace pagestore
