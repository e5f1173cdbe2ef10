// HashIndex::Get's optimistic path: the bucket the directory cache names for the key's hash,
// read through an OptimisticPageGuard with no latch and nothing shared written, its entry found
// by a search that bounds-checks every slot and cell (the bytes may be torn), the value copied
// out, then validated. Anything else (no cached bucket, a miss, a writer in, a bucket that no
// longer holds the hash, an overflow chain, a malformed bucket) falls back on the latched path,
// which also names every error.
#include <cstring>

#include "index/hash_directory.h"
#include "index/hash_index.h"
#include "index/hash_page.h"

namespace pagestore {

using namespace hash_internal;  // NOLINT(build/namespaces): the layouts, in this file only

namespace {

// The value of `key` (hash `h`) in the bucket at `p`, reading each field once and only inside
// the page. kTorn when a field points outside it (torn bytes, or a malformed page).
enum class Found { kYes, kNo, kTorn, kLarge };
Found FindTornSafe(const std::byte* p, std::uint64_t h, std::string_view key, std::string* value) {
  const std::size_t count = Get16(p, kBktCount);
  const std::size_t start = Get16(p, kBktCellStart);
  if (kBktSlots + count * kSlotBytes > start || start > kPageSize) return Found::kTorn;
  for (std::size_t i = 0; i < count; ++i) {
    const std::size_t slot = kBktSlots + i * kSlotBytes;
    std::uint64_t stored_hash;
    std::memcpy(&stored_hash, p + slot, 8);
    if (stored_hash != h) continue;
    const std::size_t off = Get16(p, slot + 8);
    if (off < start || off + kCellHeader > kPageSize) return Found::kTorn;
    const std::size_t klen = Get16(p, off);
    const std::uint16_t vfield = Get16(p, off + 2);
    const std::size_t vlen = vfield & 0x7fff;
    if (off + kCellHeader + klen + vlen > kPageSize) return Found::kTorn;
    if (klen == key.size() &&
        (klen == 0 || std::memcmp(p + off + kCellHeader, key.data(), klen) == 0)) {
      // A large value is read by the latched path, with its bucket latched.
      if ((vfield & 0x8000) != 0) return Found::kLarge;
      value->assign(reinterpret_cast<const char*>(p + off + kCellHeader + klen), vlen);
      return Found::kYes;
    }
  }
  return Found::kNo;
}

}  // namespace

HashIndex::Optimistic HashIndex::GetOptimistic(std::uint64_t h, std::string_view key,
                                               std::string* value) const {
  const int depth = cache_->depth();
  if (depth < 0) return Optimistic::kFallBack;
  const PageId cached = cache_->BucketAt(h & Mask(static_cast<unsigned>(depth)));
  if (cached < kFirstDataPage) return Optimistic::kFallBack;
  OptimisticReadScope scope;
  OptimisticPageGuard g;
  if (!store_.pool().TryReadOptimistic(cached, &g)) return Optimistic::kFallBack;
  const std::byte* p = g.data().data();
  // The bucket still holds this hash's keys (a split since may have moved them), and they are
  // all here: no overflow chain.
  if (!HoldsHash(p, anchor_, h) || Bucket(p).next() != kInvalidPageId) {
    return g.Validate() ? Optimistic::kFallBack : Optimistic::kRestart;
  }
  const Found found = FindTornSafe(p, h, key, value);
  if (!g.Validate()) return Optimistic::kRestart;
  switch (found) {
    case Found::kYes:
      return Optimistic::kFound;
    case Found::kNo:
      return Optimistic::kNotFound;
    case Found::kTorn:
      break;  // validated, so malformed: the latched path says how
    case Found::kLarge:
      break;
  }
  return Optimistic::kFallBack;
}

}  // namespace pagestore
