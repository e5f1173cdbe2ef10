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

}  // namespace pagestore
