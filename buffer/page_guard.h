// Page guards: the only way to touch a page in the buffer pool. A guard pins its frame (so it is
// not evicted) and holds the frame's latch: shared for ReadPageGuard, exclusive for
// WritePageGuard. Guards are move-only, made only by BufferPool, and release (unlatch, unpin) on
// destruction or on Release(), which is idempotent. A guard must not outlive its pool.
//
// Thread safety: a guard belongs to one thread at a time (it may be moved to another).
#pragma once

#include <cstddef>
#include <utility>

#include "buffer/replacer.h"
#include "storage/page.h"

namespace pagestore {

class BufferPool;

class ReadPageGuard {
 public:
  ReadPageGuard() = default;
  ReadPageGuard(ReadPageGuard&& o) noexcept { *this = std::move(o); }
  ReadPageGuard& operator=(ReadPageGuard&& o) noexcept;
  ReadPageGuard(const ReadPageGuard&) = delete;
  ReadPageGuard& operator=(const ReadPageGuard&) = delete;
  ~ReadPageGuard() { Release(); }

  PageId page_id() const { return page_id_; }
  Lsn lsn() const { return ReadPageHeader(data()).lsn; }
  ConstPageSpan data() const { return ConstPageSpan(data_, kPageSize); }
  template <typename T>
  const T* As() const {
    return reinterpret_cast<const T*>(data_);
  }
  bool valid() const { return pool_ != nullptr; }
  void Release();

 private:
  friend class BufferPool;
  ReadPageGuard(BufferPool* pool, FrameId frame, PageId id, std::byte* data)
      : pool_(pool), frame_(frame), page_id_(id), data_(data) {}

  BufferPool* pool_ = nullptr;
  FrameId frame_ = 0;
  PageId page_id_ = kInvalidPageId;
  std::byte* data_ = nullptr;
};

class WritePageGuard {
 public:
  WritePageGuard() = default;
  WritePageGuard(WritePageGuard&& o) noexcept { *this = std::move(o); }
  WritePageGuard& operator=(WritePageGuard&& o) noexcept;
  WritePageGuard(const WritePageGuard&) = delete;
  WritePageGuard& operator=(const WritePageGuard&) = delete;
  ~WritePageGuard() { Release(); }

  PageId page_id() const { return page_id_; }
  Lsn lsn() const { return ReadPageHeader(data()).lsn; }
  // Stamps the page LSN (the WAL layer does this when it logs a change to the page).
  void set_lsn(Lsn lsn);
  ConstPageSpan data() const { return ConstPageSpan(data_, kPageSize); }
  PageSpan mutable_data() { return PageSpan(data_, kPageSize); }
  template <typename T>
  const T* As() const {
    return reinterpret_cast<const T*>(data_);
  }
  template <typename T>
  T* AsMut() {
    return reinterpret_cast<T*>(data_);
  }
  bool valid() const { return pool_ != nullptr; }
  void Release();

 private:
  friend class BufferPool;
  WritePageGuard(BufferPool* pool, FrameId frame, PageId id, std::byte* data)
      : pool_(pool), frame_(frame), page_id_(id), data_(data) {}

  BufferPool* pool_ = nullptr;
  FrameId frame_ = 0;
  PageId page_id_ = kInvalidPageId;
  std::byte* data_ = nullptr;
};

}  // namespace pagestore
