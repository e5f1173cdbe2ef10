// The buffer pool's batches (buffer_pool.h, buffer/README.md "Batches"): loading a set of pages
// with one DiskManager::ReadBatch (LoadPages, ReadPages, Prefetch), and writing dirty frames
// back with one WriteBatch (eviction of a dirty victim, FlushAll's first pass).
#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "buffer/buffer_pool.h"

namespace pagestore {

absl::StatusOr<std::optional<FrameId>> BufferPool::EvictBatch(
    FrameId first, const absl::flat_hash_set<FrameId>& skipped) {
  // The victim and the next dirty victims the replacer offers, written back together; only the
  // victim is evicted, the others stay resident (now clean, so the next evictions are cheap).
  const std::size_t limit = std::min(kWriteBackBatch, std::max<std::size_t>(1, frames_.size() / 8));
  std::vector<FrameId> group = {first};
  while (group.size() < limit) {
    std::optional<FrameId> next = replacer_->PickVictim([&](FrameId f) {
      return !frames_[f].latch.is_locked() && frames_[f].dirty.load(std::memory_order_relaxed) &&
             frames_[f].page_id.load(std::memory_order_relaxed) != kInvalidPageId &&
             !skipped.contains(f) && std::find(group.begin(), group.end(), f) == group.end();
    });
    if (!next) break;
    group.push_back(*next);
  }
  // A failure here leaves the pages dirty; claiming `first` below then writes it alone and
  // reports that write's error, as an eviction of one page would.
  (void)WriteBackBatch(group);
  absl::StatusOr<bool> claimed = TryClaim(first);
  if (!claimed.ok()) return claimed.status();
  if (!*claimed) return std::nullopt;
  return first;
}

absl::Status BufferPool::WriteBackBatch(std::span<const FrameId> frames) {
  struct Item {
    FrameId frame;
    PageId id;
  };
  std::vector<Item> items;
  items.reserve(frames.size());
  auto* copies = static_cast<std::byte*>(std::aligned_alloc(kPageSize, frames.size() * kPageSize));
  if (copies == nullptr) return absl::ResourceExhaustedError("no memory for a write-back batch");
  const std::unique_ptr<std::byte, decltype(&std::free)> copies_owner(copies, &std::free);
  Lsn max_lsn = 0;
  for (FrameId f : frames) {
    Frame& fr = frames_[f];
    // Invariant 9: only tries. The shared latch gives a consistent copy; the write-back lock
    // (invariant 7) is held from the copy to the completed write.
    if (!fr.dirty.load(std::memory_order_acquire) || !fr.latch.TryLockShared()) continue;
    const PageId id = fr.page_id.load(std::memory_order_relaxed);
    if (id == kInvalidPageId || !fr.writeback_mu.TryLock()) {
      fr.latch.UnlockShared();
      continue;
    }
    if (!fr.dirty.exchange(false, std::memory_order_acq_rel)) {
      fr.writeback_mu.Unlock();
      fr.latch.UnlockShared();
      continue;
    }
    std::byte* copy = copies + items.size() * kPageSize;
    std::memcpy(copy, FrameData(f), kPageSize);
    fr.latch.UnlockShared();
    max_lsn = std::max(max_lsn, ReadPageHeader(ConstPageSpan(copy, kPageSize)).lsn);
    items.push_back({f, id});
  }
  if (items.empty()) return absl::OkStatus();
  std::vector<PageRequest> batch;
  batch.reserve(items.size());
  for (std::size_t i = 0; i < items.size(); ++i) {
    batch.emplace_back(items[i].id, copies + i * kPageSize);
  }
  absl::Status result;
  if (log_flusher_ != nullptr) result = log_flusher_->FlushUntil(max_lsn);  // invariant 8
  if (result.ok()) {
    IoLock::Shared io(io_mu_);
    result = disk_->WriteBatch(batch);
    write_batches_.fetch_add(1, std::memory_order_relaxed);
  } else {
    for (PageRequest& r : batch) r.status = result;
  }
  std::uint64_t written = 0;
  for (std::size_t i = 0; i < items.size(); ++i) {
    Frame& fr = frames_[items[i].frame];
    if (batch[i].status.ok()) {
      ++written;
    } else {
      fr.dirty.store(true, std::memory_order_release);  // still resident, still its page
    }
    fr.writeback_mu.Unlock();
  }
  disk_writes_.fetch_add(written, std::memory_order_relaxed);
  dirty_writebacks_.fetch_add(written, std::memory_order_relaxed);
  return result;
}

absl::Status BufferPool::Prefetch(PageId first, PageId last) {
  if (first < kFirstDataPage) [[unlikely]]
    return SuperblockPageError(first, "prefetch");
  {
    IoLock::Shared io(io_mu_);
    if (absl::Status s = disk_->WillNeed(first, last); !s.ok()) return s;
  }
  constexpr PageId kChunk = 256;
  std::vector<PageId> ids;
  std::vector<absl::Status> statuses;
  for (PageId start = first; start <= last; start += kChunk) {
    ids.clear();
    for (PageId id = start; id <= last && id < start + kChunk; ++id) ids.push_back(id);
    if (absl::Status s = LoadPages(ids, &statuses); s.ok()) continue;
    bool full = false;
    for (const absl::Status& s : statuses) {
      if (IsPoolFull(s)) {
        full = true;
      } else if (!s.ok()) {
        return s;
      }
    }
    if (full) return absl::OkStatus();  // every frame pinned: stop quietly
  }
  return absl::OkStatus();
}

absl::Status BufferPool::LoadPages(std::span<const PageId> ids,
                                   std::vector<absl::Status>* statuses) {
  std::vector<absl::Status> local;
  if (statuses == nullptr) statuses = &local;
  statuses->assign(ids.size(), absl::OkStatus());
  struct Miss {
    std::size_t index;
    FrameId frame;
  };
  std::vector<Miss> misses;
  // Claimed frames stay latched until their batch is read. All batches together hold at most an
  // eighth of the pool (load_claims_), so other threads keep frames to work with: a batch that
  // finds the budget spent reads what it has claimed and goes on, or, holding none, leaves the
  // page unloaded (pool full: its reader will fetch it).
  const std::int64_t budget =
      static_cast<std::int64_t>(std::max<std::size_t>(1, frames_.size() / 8));
  auto reserve = [&] {
    if (load_claims_.fetch_add(1, std::memory_order_acq_rel) < budget) return true;
    load_claims_.fetch_sub(1, std::memory_order_acq_rel);
    return false;
  };
  std::vector<PageRequest> batch;
  auto read_misses = [&] {
    if (misses.empty()) return;
    misses_.Add(static_cast<std::int64_t>(misses.size()));
    batch.clear();
    for (const Miss& m : misses) batch.emplace_back(ids[m.index], FrameData(m.frame));
    {
      IoLock::Shared io(io_mu_);
      (void)disk_->ReadBatch(batch);  // each request's status is looked at below
      read_batches_.fetch_add(1, std::memory_order_relaxed);
    }
    std::uint64_t read = 0;
    for (std::size_t k = 0; k < misses.size(); ++k) {
      const FrameId f = misses[k].frame;
      Frame& fr = frames_[f];
      if (!batch[k].status.ok()) {
        // Invariant 4: no frame keeps bad bytes.
        (*statuses)[misses[k].index] = batch[k].status;
        table_.Erase(ids[misses[k].index], f);
        Abandon(f);
        continue;
      }
      ++read;
      fr.dirty.store(false, std::memory_order_relaxed);
      fr.checked.store(false, std::memory_order_relaxed);
      replacer_->RecordAccess(f);
      fr.latch.UnlockExclusive();
    }
    disk_reads_.fetch_add(read, std::memory_order_relaxed);
    load_claims_.fetch_sub(static_cast<std::int64_t>(misses.size()), std::memory_order_acq_rel);
    misses.clear();
  };
  absl::flat_hash_map<PageId, std::size_t> first_index;  // a repeated id shares its outcome
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const PageId id = ids[i];
    absl::Status& status = (*statuses)[i];
    if (id < kFirstDataPage) {
      status = SuperblockPageError(id, "load");
      continue;
    }
    if (id >= PageTable::kLimit) {
      status = absl::OutOfRangeError(
          fmt::format("{}: page {} is beyond the {} pages a buffer pool addresses", path_, id,
                      PageTable::kLimit));
      continue;
    }
    if (!first_index.emplace(id, i).second || table_.Find(id)) continue;  // a repeat, resident
    if (!table_.Reserve(id)) {
      status = absl::ResourceExhaustedError(
          fmt::format("{}: cannot allocate the page table for page {}", path_, id));
      continue;
    }
    if (!reserve()) {
      read_misses();  // ours go back to the budget
      if (!reserve()) {
        status = Exhausted();  // other batches hold the budget: not loaded now
        continue;
      }
    }
    // A thread that wants a page claimed here waits for its read (invariant 12); GetFrame never
    // waits on the frames claimed.
    absl::StatusOr<FrameId> got = GetFrame();
    if (!got.ok()) {
      load_claims_.fetch_sub(1, std::memory_order_acq_rel);
      status = got.status();
      continue;
    }
    Frame& fr = frames_[*got];
    fr.page_id.store(id, std::memory_order_relaxed);
    if (table_.TryInsert(id, *got)) {
      load_claims_.fetch_sub(1, std::memory_order_acq_rel);
      Abandon(*got);  // another thread mapped it meanwhile: resident now
      continue;
    }
    misses.push_back({i, *got});
  }
  read_misses();
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const auto it = first_index.find(ids[i]);
    if (it != first_index.end() && it->second != i) (*statuses)[i] = (*statuses)[it->second];
  }
  for (const absl::Status& s : *statuses) {
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

void BufferPool::ReadPages(
    std::span<const PageId> ids,
    absl::FunctionRef<void(std::size_t, absl::StatusOr<ReadPageGuard>&)> visit) {
  std::vector<absl::Status> statuses;
  (void)LoadPages(ids, &statuses);
  for (std::size_t i = 0; i < ids.size(); ++i) {
    // Every page through ReadPage: a hit after the load, a page evicted since read again, and
    // a page whose load failed tried again singly (its error then is ReadPage's own: a load's
    // status can also be another page's failed write-back, met while claiming a frame).
    absl::StatusOr<ReadPageGuard> page = ReadPage(ids[i]);
    visit(i, page);
  }
}

}  // namespace pagestore
