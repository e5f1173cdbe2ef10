// AtomicBitmap: one atomic bit per page, for many pages, costing memory only where bits are set.
// The words live in an anonymous MAP_NORESERVE mapping, so the kernel backs a 4 KiB run of words
// (32768 pages) only once one of its bits is written: a bitmap sized for a 64 GiB reservation
// costs nothing until the file grows into it.
//
// Thread safety: Test/Set/Clear are atomic per bit; the orders are the caller's to choose.
#pragma once

#include <sys/mman.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <utility>

namespace pagestore {

class AtomicBitmap {
 public:
  AtomicBitmap() = default;
  // `bits` bits, all clear. valid() is false if the address space could not be reserved.
  explicit AtomicBitmap(std::uint64_t bits) : bytes_((bits + 63) / 64 * 8) {
    void* p = ::mmap(nullptr, bytes_, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    words_ = p == MAP_FAILED ? nullptr : static_cast<std::atomic<std::uint64_t>*>(p);
  }
  AtomicBitmap(AtomicBitmap&& o) noexcept
      : words_(std::exchange(o.words_, nullptr)), bytes_(o.bytes_) {}
  AtomicBitmap& operator=(AtomicBitmap&& o) noexcept {
    std::swap(words_, o.words_);
    std::swap(bytes_, o.bytes_);
    return *this;
  }
  ~AtomicBitmap() {
    if (words_ != nullptr) ::munmap(words_, bytes_);
  }

  bool valid() const { return words_ != nullptr; }
  bool Test(std::uint64_t i, std::memory_order order = std::memory_order_acquire) const {
    return words_[i / 64].load(order) & Bit(i);
  }
  // Returns whether the bit was already set.
  bool Set(std::uint64_t i, std::memory_order order) {
    return words_[i / 64].fetch_or(Bit(i), order) & Bit(i);
  }
  void Clear(std::uint64_t i, std::memory_order order) { words_[i / 64].fetch_and(~Bit(i), order); }

 private:
  static std::uint64_t Bit(std::uint64_t i) { return std::uint64_t{1} << (i % 64); }
  std::atomic<std::uint64_t>* words_ = nullptr;  // zero pages from the kernel: all clear
  std::size_t bytes_ = 0;
};

}  // namespace pagestore
