// Page guards: the only way to touch a page in the buffer pool. ReadPageGuard and WritePageGuard
// hold the frame's latch (buffer/frame_latch.h), shared or exclusive, which also keeps the frame
// from eviction. They are move-only, made only by BufferPool, and unlatch on destruction or on
// Release(), which is idempotent. A guard must not outlive its pool.
//
// OptimisticPageGuard holds nothing and writes nothing: it is a frame, a page id and the version
// seen when it was made. Its bytes may change (or the frame may be given to another page) at any
// moment; they never become unreadable, since frames are never unmapped. So its user reads what
// it needs (bounds-checking everything it reads, as the bytes may be torn), then calls
// Validate(): only if that is true were the bytes read a consistent image of this page, and only
// then may the result be acted on or returned. Otherwise it restarts. Reads between the guard's
// making and Validate() belong inside an OptimisticReadScope (see there).
//
// Thread safety: a guard belongs to one thread at a time (it may be moved to another).
#pragma once

#include <cstddef>
#include <utility>

#include "buffer/frame_latch.h"
#include "buffer/replacer.h"
#include "storage/page.h"

#ifdef PAGESTORE_TSAN
extern "C" void AnnotateIgnoreReadsBegin(const char* file, int line);
extern "C" void AnnotateIgnoreReadsEnd(const char* file, int line);
#endif

namespace pagestore {

class BufferPool;

// What both guards are: a pinned, latched frame. `kExclusive` says which latch it holds.
template <bool kExclusive>
class BasicPageGuard {
 public:
  BasicPageGuard() = default;
  BasicPageGuard(BasicPageGuard&& o) noexcept { *this = std::move(o); }
  BasicPageGuard& operator=(BasicPageGuard&& o) noexcept {
    if (this != &o) {
      Release();
      pool_ = std::exchange(o.pool_, nullptr);
      frame_ = o.frame_;
      page_id_ = o.page_id_;
      data_ = std::exchange(o.data_, nullptr);
    }
    return *this;
  }
  BasicPageGuard(const BasicPageGuard&) = delete;
  BasicPageGuard& operator=(const BasicPageGuard&) = delete;
  ~BasicPageGuard() { Release(); }

  PageId page_id() const { return page_id_; }
  Lsn lsn() const { return ReadPageHeader(data()).lsn; }
  ConstPageSpan data() const { return ConstPageSpan(data_, kPageSize); }
  template <typename T>
  const T* As() const {
    return reinterpret_cast<const T*>(data_);
  }
  bool valid() const { return pool_ != nullptr; }
  void Release();  // defined in buffer_pool.cc for both instantiations

 protected:
  friend class BufferPool;
  BasicPageGuard(BufferPool* pool, FrameId frame, PageId id, std::byte* data)
      : pool_(pool), frame_(frame), page_id_(id), data_(data) {}

  BufferPool* pool_ = nullptr;
  FrameId frame_ = 0;
  PageId page_id_ = kInvalidPageId;
  std::byte* data_ = nullptr;
};

extern template class BasicPageGuard<false>;
extern template class BasicPageGuard<true>;

class ReadPageGuard final : public BasicPageGuard<false> {
 public:
  ReadPageGuard() = default;

 private:
  friend class BufferPool;
  using BasicPageGuard::BasicPageGuard;
};

class WritePageGuard final : public BasicPageGuard<true> {
 public:
  WritePageGuard() = default;

  // Stamps the page LSN (the WAL layer does this when it logs a change to the page).
  void set_lsn(Lsn lsn) {
    PageHeader h = ReadPageHeader(data());
    h.lsn = lsn;
    WritePageHeader(mutable_data(), h);
  }
  PageSpan mutable_data() { return PageSpan(data_, kPageSize); }
  template <typename T>
  T* AsMut() {
    return reinterpret_cast<T*>(data_);
  }

 private:
  friend class BufferPool;
  using BasicPageGuard::BasicPageGuard;
};

// An optimistic read of page bytes races with writers by design: the reader throws away what it
// read unless Validate() proves no writer was in. In a ThreadSanitizer build this scope tells
// the tool to ignore the plain memory accesses the calling thread makes while it lives (atomic
// operations still synchronize; other threads are checked as ever); elsewhere it is nothing.
// Keep it around the optimistic section only, from the guard's making to its last Validate(),
// and write nothing shared inside it.
class OptimisticReadScope {
 public:
#ifdef PAGESTORE_TSAN
  OptimisticReadScope() { AnnotateIgnoreReadsBegin(__FILE__, __LINE__); }
  ~OptimisticReadScope() { AnnotateIgnoreReadsEnd(__FILE__, __LINE__); }
#else
  OptimisticReadScope() {}   // user-provided (not defaulted), so that a scope variable is not
  ~OptimisticReadScope() {}  // reported unused; both compile to nothing
#endif
  OptimisticReadScope(const OptimisticReadScope&) = delete;
  OptimisticReadScope& operator=(const OptimisticReadScope&) = delete;
};

class OptimisticPageGuard {
 public:
  OptimisticPageGuard() = default;

  PageId page_id() const { return page_id_; }
  ConstPageSpan data() const { return ConstPageSpan(data_, kPageSize); }
  bool valid() const { return latch_ != nullptr; }
  // True when no writer, eviction or load touched the frame since the guard was made: what was
  // read from data() in between is this page as some writer left it.
  [[nodiscard]] bool Validate() const { return latch_->Validate(snapshot_); }
  // What Validate compares: the frame's latch and the state word seen. A cache may keep them to
  // validate later without the guard (the latch lives as long as the pool): while
  // latch()->Validate(snapshot()) holds, the page is what it was when the guard was made.
  const FrameLatch* latch() const { return latch_; }
  std::uint64_t snapshot() const { return snapshot_; }

 private:
  friend class BufferPool;
  OptimisticPageGuard(const FrameLatch* latch, std::uint64_t snapshot, PageId id,
                      const std::byte* data)
      : latch_(latch), snapshot_(snapshot), page_id_(id), data_(data) {}

  const FrameLatch* latch_ = nullptr;
  std::uint64_t snapshot_ = 0;
  PageId page_id_ = kInvalidPageId;
  const std::byte* data_ = nullptr;
};

}  // namespace pagestore
