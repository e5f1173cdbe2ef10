#include "index/value_pages.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <random>

#include "buffer/page_guard.h"

namespace pagestore::index_internal {
namespace {

constexpr std::size_t kOwner = 32, kHead = 40, kLength = 48, kNext = 56, kNumber = 64, kCount = 68,
                      kRole = 70, kNonce = 72, kAttached = 80;

template <typename T>
T Load(const std::byte* p, std::size_t off) {
  T v;
  std::memcpy(&v, p + off, sizeof v);
  return v;
}
template <typename T>
void Put(std::byte* p, std::size_t off, T v) {
  std::memcpy(p + off, &v, sizeof v);
}

PageType TypeOf(const std::byte* p) {
  return static_cast<PageType>(ReadPageHeader(ConstPageSpan(p, kPageSize)).type);
}

std::uint64_t DivCeil(std::uint64_t a, std::uint64_t b) { return (a + b - 1) / b; }

}  // namespace

std::string EncodeValueRef(const ValueRef& ref) {
  std::string out(kValueRefBytes, '\0');
  std::memcpy(out.data(), &ref.head, 8);
  std::memcpy(out.data() + 8, &ref.length, 8);
  return out;
}

absl::StatusOr<ValueRef> DecodeValueRef(std::string_view bytes) {
  if (bytes.size() != kValueRefBytes) {
    return absl::DataLossError(
        fmt::format("a large value's reference is {} bytes, not {}", bytes.size(), kValueRefBytes));
  }
  ValueRef ref;
  std::memcpy(&ref.head, bytes.data(), 8);
  std::memcpy(&ref.length, bytes.data() + 8, 8);
  if (ref.head < kFirstDataPage || ref.length > kMaxLargeValueBytes) {
    return absl::DataLossError(
        fmt::format("a large value's reference names page {} and {} bytes", ref.head, ref.length));
  }
  return ref;
}

std::string EncodeValueRefWithNonce(const ValueRef& ref) {
  std::string out = EncodeValueRef(ref);
  out.append(reinterpret_cast<const char*>(&ref.nonce), 8);
  return out;
}

absl::StatusOr<ValueRef> DecodeValueRefWithNonce(std::string_view bytes) {
  if (bytes.size() != kValueRefBytes + 8) {
    return absl::DataLossError(fmt::format("a large value's undo record is {} bytes, not {}",
                                           bytes.size(), kValueRefBytes + 8));
  }
  absl::StatusOr<ValueRef> ref = DecodeValueRef(bytes.substr(0, kValueRefBytes));
  if (!ref.ok()) return ref.status();
  std::memcpy(&ref->nonce, bytes.data() + kValueRefBytes, 8);
  return ref;
}

std::uint64_t ValueLimit(const Store& store) {
  // Every page of a value is freed in one record, 9 bytes of it per page, and in undo with the
  // structure changes of the change that drops it: a quarter of a record at most.
  const std::uint64_t pages = store.max_record_bytes() / 9 / 4;
  const std::uint64_t dirs = DivCeil(pages, kValueIdsPerDirectory + 1);
  return std::min<std::uint64_t>(kMaxLargeValueBytes, (pages - dirs) * kValueBytesPerPage);
}

bool ReadOptimistically(std::string_view reference, const BufferPool& pool) {
  absl::StatusOr<ValueRef> ref = DecodeValueRef(reference);
  return ref.ok() && ref->length / kValueBytesPerPage <= pool.frame_count() / 8;
}

absl::Status MarkAttached(MiniTransaction& mtr, PageId head) {
  absl::StatusOr<PageSpan> p = mtr.GetForWrite(head);
  if (!p.ok()) return p.status();
  Put<std::uint16_t>(p->data(), kAttached, 1);
  return absl::OkStatus();
}

absl::Status FreeIfUnattached(MiniTransaction& mtr, PageId owner, const ValueRef& ref) {
  Store& store = mtr.store();
  if (ref.head >= store.pool().page_count() || store.IsFree(ref.head)) return absl::OkStatus();
  {
    absl::StatusOr<ReadPageGuard> g = store.pool().ReadPage(ref.head);
    if (!g.ok()) return g.status();
    const std::byte* p = g->data().data();
    if (TypeOf(p) != PageType::kValue || Load<std::uint16_t>(p, kRole) != kValueRoleDirectory ||
        Load<std::uint64_t>(p, kOwner) != owner || Load<std::uint64_t>(p, kHead) != ref.head ||
        Load<std::uint64_t>(p, kNonce) != ref.nonce || Load<std::uint16_t>(p, kAttached) != 0) {
      return absl::OkStatus();  // named by a change (freed from there), or gone already
    }
  }
  std::vector<PageId> pages;
  if (absl::Status s = WrittenValuePages(store.pool(), owner, ref, &pages); !s.ok()) return s;
  return mtr.FreeUnreferenced(pages);
}

absl::StatusOr<ValueRef> WriteValue(
    Store& store, Transaction& txn, PageId owner, std::string_view value, std::uint16_t rm,
    const std::function<std::vector<std::byte>(const ValueRef&)>& undo, ValueRef* written) {
  // Pages per mini-transaction: each new page is logged as an image (about a page), and the
  // directory page changed may need one too.
  // Nor more than an eighth of the pool: a few writers at once must not pin all of it.
  if (value.size() > ValueLimit(store)) {
    return absl::InvalidArgumentError(fmt::format(
        "a value of {} bytes is more than this store takes ({} bytes: its pages must be freed in "
        "one log record of at most {} bytes; larger log segments take larger values)",
        value.size(), ValueLimit(store), store.max_record_bytes()));
  }
  constexpr std::size_t kLoggedPerPage = kPageSize + 64;
  const std::size_t budget = store.max_record_bytes() / kLoggedPerPage;
  const std::size_t per_mtr = std::clamp<std::size_t>(
      std::min<std::size_t>(budget > 2 ? budget - 2 : 1, store.pool().frame_count() / 8), 1, 64);
  thread_local std::mt19937_64 gen{(std::uint64_t{std::random_device{}()} << 32) ^
                                   std::random_device{}()};
  ValueRef ref{kInvalidPageId, value.size(), gen()};
  PageId dir = kInvalidPageId;
  std::uint32_t dir_number = 0;
  std::uint16_t dir_count = 0;
  std::size_t offset = 0;
  // A new directory page, `number` in the chain.
  auto new_directory = [&](MiniTransaction& mtr, std::uint32_t number) -> absl::StatusOr<PageId> {
    absl::StatusOr<PageId> id = mtr.AllocatePage(PageType::kValue);
    if (!id.ok()) return id.status();
    absl::StatusOr<PageSpan> p = mtr.GetForWrite(*id);
    if (!p.ok()) return p.status();
    std::byte* b = p->data();
    Put<std::uint64_t>(b, kOwner, owner);
    Put<std::uint64_t>(b, kHead, ref.head == kInvalidPageId ? *id : ref.head);
    Put<std::uint64_t>(b, kLength, ref.length);
    Put<std::uint32_t>(b, kNumber, number);
    Put<std::uint16_t>(b, kRole, kValueRoleDirectory);
    Put<std::uint64_t>(b, kNonce, ref.nonce);
    return id;
  };
  for (bool first = true; first || offset < value.size(); first = false) {
    MiniTransaction mtr = txn.BeginMtr();
    std::size_t pages = 0;
    if (first) {
      absl::StatusOr<PageId> head = new_directory(mtr, 0);
      if (!head.ok()) return head.status();
      ref.head = dir = *head;
      mtr.LogUndo(rm, undo(ref));
      ++pages;
    }
    while (offset < value.size() && pages < per_mtr) {
      if (dir_count == kValueIdsPerDirectory) {
        absl::StatusOr<PageId> next = new_directory(mtr, dir_number + 1);
        if (!next.ok()) return next.status();
        absl::StatusOr<PageSpan> prev = mtr.GetForWrite(dir);
        if (!prev.ok()) return prev.status();
        Put<std::uint64_t>(prev->data(), kNext, *next);
        dir = *next;
        ++dir_number;
        dir_count = 0;
        ++pages;
      }
      absl::StatusOr<PageId> id = mtr.AllocatePage(PageType::kValue);
      if (!id.ok()) return id.status();
      absl::StatusOr<PageSpan> p = mtr.GetForWrite(*id);
      if (!p.ok()) return p.status();
      const std::size_t n = std::min(kValueBytesPerPage, value.size() - offset);
      std::byte* b = p->data();
      Put<std::uint64_t>(b, kOwner, owner);
      Put<std::uint64_t>(b, kHead, ref.head);
      Put<std::uint64_t>(b, kLength, offset);
      Put<std::uint32_t>(b, kNext, static_cast<std::uint32_t>(n));
      Put<std::uint16_t>(b, kRole, kValueRoleData);
      Put<std::uint64_t>(b, kNonce, ref.nonce);
      std::memcpy(b + kValuePageHeaderEnd, value.data() + offset, n);
      absl::StatusOr<PageSpan> d = mtr.GetForWrite(dir);
      if (!d.ok()) return d.status();
      Put<std::uint64_t>(d->data(), kValuePageHeaderEnd + 8 * std::size_t{dir_count}, *id);
      ++dir_count;
      Put<std::uint16_t>(d->data(), kCount, dir_count);
      offset += n;
      ++pages;
    }
    if (absl::StatusOr<Lsn> lsn = mtr.Commit(); !lsn.ok()) return lsn.status();
    if (first) *written = ref;
  }
  return ref;
}

namespace {

// The data pages of ids[k, k + window) that are not in the pool, read in one batch (a window is
// an eighth of the pool, so its pages are still there when the copy reaches them). Errors, if
// any, come again from the reads that follow.
void LoadWindow(BufferPool& pool, const std::vector<PageId>& ids, std::size_t k,
                std::size_t window) {
  std::vector<PageId> cold;
  for (std::size_t j = k; j < ids.size() && j < k + window; ++j) {
    if (!pool.IsResident(ids[j])) cold.push_back(ids[j]);
  }
  if (!cold.empty()) (void)pool.LoadPages(cold);
}

// What a data page of a value must say: whose it is, and which bytes it holds.
struct DataPageOf {
  std::uint64_t owner, head, nonce, offset, bytes;
};

// Appends data page `id`'s bytes to *out without a latch when the page is resident and is the
// page `want` describes, and its frame validates after the copy; false (and *out as it was)
// otherwise: the latched read then decides.
bool AppendOptimistically(BufferPool& pool, PageId id, const DataPageOf& want, std::string* out) {
  OptimisticPageGuard og;
  if (!pool.TryReadOptimistic(id, &og)) return false;
  const std::size_t at = out->size();
  bool sound;
  {
    OptimisticReadScope scope;
    const std::byte* p = og.data().data();
    sound = TypeOf(p) == PageType::kValue && Load<std::uint16_t>(p, kRole) == kValueRoleData &&
            Load<std::uint64_t>(p, kOwner) == want.owner &&
            Load<std::uint64_t>(p, kHead) == want.head &&
            Load<std::uint64_t>(p, kNonce) == want.nonce &&
            Load<std::uint64_t>(p, kLength) == want.offset &&
            Load<std::uint32_t>(p, kNext) == want.bytes;
    if (sound) out->append(reinterpret_cast<const char*>(p + kValuePageHeaderEnd), want.bytes);
  }
  if (sound && og.Validate()) return true;
  out->resize(at);  // torn, or not what it should be
  return false;
}

}  // namespace

absl::Status WalkValue(BufferPool& pool, PageId owner, const ValueRef& ref, std::string* out,
                       std::vector<PageId>* pages, bool read_data) {
  auto bad = [&](PageId id, const std::string& what) {
    return absl::DataLossError(
        fmt::format("large value of {} bytes at page {} (index {}): page {} {}", ref.length,
                    ref.head, owner, id, what));
  };
  auto check_id = [&](PageId id) -> absl::Status {
    if (id < kFirstDataPage || id >= pool.page_count()) {
      return bad(id, fmt::format("is outside the file's data pages [{}, {})", kFirstDataPage,
                                 pool.page_count()));
    }
    return absl::OkStatus();
  };
  const std::uint64_t data_pages = DivCeil(ref.length, kValueBytesPerPage);
  const std::uint64_t dirs = std::max<std::uint64_t>(1, DivCeil(data_pages, kValueIdsPerDirectory));
  // A length no file of this size could hold is damage, not an allocation to attempt.
  if (data_pages + dirs > pool.page_count()) {
    return bad(ref.head, fmt::format("heads a value longer than the file ({} pages) can hold",
                                     pool.page_count()));
  }
  if (out != nullptr) {
    out->clear();
    out->reserve(ref.length);
  }
  std::uint64_t offset = 0, data_seen = 0;
  std::uint64_t nonce = 0;  // the head's: every page's must equal it
  std::vector<PageId> ids;
  PageId dir = ref.head;
  for (std::uint32_t number = 0; number < dirs; ++number) {
    if (dir == kInvalidPageId) return bad(ref.head, "ends its directory chain early");
    if (absl::Status s = check_id(dir); !s.ok()) return s;
    PageId next;
    {
      absl::StatusOr<ReadPageGuard> g = pool.ReadPage(dir);
      if (!g.ok()) return g.status();
      const std::byte* p = g->data().data();
      const std::uint64_t expect_count =
          std::min<std::uint64_t>(kValueIdsPerDirectory, data_pages - data_seen);
      if (TypeOf(p) != PageType::kValue || Load<std::uint16_t>(p, kRole) != kValueRoleDirectory) {
        return bad(dir, "is not a value directory page");
      }
      if (number == 0) nonce = Load<std::uint64_t>(p, kNonce);
      if (Load<std::uint64_t>(p, kOwner) != owner || Load<std::uint64_t>(p, kHead) != ref.head ||
          Load<std::uint64_t>(p, kLength) != ref.length ||
          Load<std::uint32_t>(p, kNumber) != number || Load<std::uint64_t>(p, kNonce) != nonce) {
        return bad(
            dir, fmt::format("is not directory page {} of this value (owner {}, head {}, "
                             "length {}, number {})",
                             number, Load<std::uint64_t>(p, kOwner), Load<std::uint64_t>(p, kHead),
                             Load<std::uint64_t>(p, kLength), Load<std::uint32_t>(p, kNumber)));
      }
      if (Load<std::uint16_t>(p, kCount) != expect_count) {
        return bad(dir, fmt::format("lists {} data pages where the value needs {}",
                                    Load<std::uint16_t>(p, kCount), expect_count));
      }
      ids.resize(expect_count);
      if (expect_count > 0) std::memcpy(ids.data(), p + kValuePageHeaderEnd, 8 * expect_count);
      next = Load<std::uint64_t>(p, kNext);
    }
    if (pages != nullptr) pages->push_back(dir);
    const std::size_t window = std::max<std::size_t>(1, pool.frame_count() / 8);
    for (std::size_t k = 0; k < ids.size(); ++k) {
      if ((read_data || out != nullptr) && k % window == 0) LoadWindow(pool, ids, k, window);
      const PageId id = ids[k];
      if (absl::Status s = check_id(id); !s.ok()) return s;
      if (pages != nullptr) pages->push_back(id);
      const std::uint64_t n = std::min<std::uint64_t>(kValueBytesPerPage, ref.length - offset);
      // The common case: a resident page copied without a latch, kept if its frame validates.
      if (out != nullptr &&
          AppendOptimistically(pool, id, {owner, ref.head, nonce, offset, n}, out)) {
        offset += n;
        continue;
      }
      if (read_data || out != nullptr) {
        absl::StatusOr<ReadPageGuard> g = pool.ReadPage(id);
        if (!g.ok()) return g.status();
        const std::byte* p = g->data().data();
        if (TypeOf(p) != PageType::kValue || Load<std::uint16_t>(p, kRole) != kValueRoleData ||
            Load<std::uint64_t>(p, kOwner) != owner || Load<std::uint64_t>(p, kHead) != ref.head ||
            Load<std::uint64_t>(p, kNonce) != nonce) {
          return bad(id, "is not a data page of this value");
        }
        if (Load<std::uint64_t>(p, kLength) != offset || Load<std::uint32_t>(p, kNext) != n) {
          return bad(id, fmt::format("holds {} bytes at offset {} where the value has {} at {}",
                                     Load<std::uint32_t>(p, kNext), Load<std::uint64_t>(p, kLength),
                                     n, offset));
        }
        if (out != nullptr) {
          out->append(reinterpret_cast<const char*>(p + kValuePageHeaderEnd), n);
        }
      }
      offset += n;
    }
    data_seen += ids.size();
    if (number + 1 == dirs && next != kInvalidPageId) {
      return bad(dir, fmt::format("continues the directory chain (to page {}) past the value's end",
                                  next));
    }
    dir = next;
  }
  return absl::OkStatus();
}

absl::Status WrittenValuePages(BufferPool& pool, PageId owner, const ValueRef& ref,
                               std::vector<PageId>* pages) {
  PageId dir = ref.head;
  for (std::uint32_t number = 0; dir != kInvalidPageId; ++number) {
    if (dir < kFirstDataPage || dir >= pool.page_count() || number > pool.page_count()) {
      return absl::DataLossError(fmt::format(
          "large value at page {} (index {}): its directory chain reaches page {}, outside the "
          "file's data pages",
          ref.head, owner, dir));
    }
    absl::StatusOr<ReadPageGuard> g = pool.ReadPage(dir);
    if (!g.ok()) return g.status();
    const std::byte* p = g->data().data();
    const std::uint16_t count = Load<std::uint16_t>(p, kCount);
    if (TypeOf(p) != PageType::kValue || Load<std::uint16_t>(p, kRole) != kValueRoleDirectory ||
        Load<std::uint64_t>(p, kOwner) != owner || Load<std::uint64_t>(p, kHead) != ref.head ||
        Load<std::uint32_t>(p, kNumber) != number || Load<std::uint64_t>(p, kNonce) != ref.nonce ||
        count > kValueIdsPerDirectory) {
      return absl::DataLossError(
          fmt::format("large value at page {} (index {}): page {} is not its directory page {}",
                      ref.head, owner, dir, number));
    }
    pages->push_back(dir);
    for (std::size_t i = 0; i < count; ++i) {
      const PageId id = Load<std::uint64_t>(p, kValuePageHeaderEnd + 8 * i);
      if (id < kFirstDataPage || id >= pool.page_count()) {
        return absl::DataLossError(
            fmt::format("large value at page {} (index {}): directory page {} lists page {}, "
                        "outside the file's data pages",
                        ref.head, owner, dir, id));
      }
      pages->push_back(id);
    }
    dir = Load<std::uint64_t>(p, kNext);
  }
  return absl::OkStatus();
}

namespace {

// Moves the head of `ref` (nonce set) below the limit, renaming it in every page of the value;
// the new head, or the old one when the value's pages would not fit one log record.
absl::StatusOr<PageId> MoveHead(
    Store& store, PageId owner, const ValueRef& ref,
    const std::function<absl::Status(MiniTransaction&, PageId)>& rename_head) {
  std::vector<PageId> pages;
  if (absl::Status s = WrittenValuePages(store.pool(), owner, ref, &pages); !s.ok()) return s;
  // Each page's first change since a checkpoint is a full image in the record, and every page is
  // latched until the commit (half the pool at most: the compaction runs alone): a value too
  // large for either keeps its head where it is.
  if ((pages.size() + 2) * (kPageSize + 64) > store.max_record_bytes() / 2 ||
      pages.size() + 3 > store.pool().frame_count() / 2) {
    return ref.head;
  }
  MiniTransaction mtr = store.BeginMtr();
  absl::StatusOr<PageId> head = mtr.Relocate(ref.head);
  if (!head.ok()) return head.status();
  pages.front() = *head;
  for (PageId id : pages) {
    absl::StatusOr<PageSpan> p = mtr.GetForWrite(id);
    if (!p.ok()) return p.status();
    Put<std::uint64_t>(p->data(), kHead, *head);
  }
  if (absl::Status s = rename_head(mtr, *head); !s.ok()) return s;
  if (absl::StatusOr<Lsn> lsn = mtr.Commit(); !lsn.ok()) return lsn.status();
  return *head;
}

}  // namespace

absl::Status MoveValueBelow(
    Store& store, PageId owner, ValueRef ref, PageId limit,
    const std::function<absl::Status(MiniTransaction&, PageId)>& rename_head) {
  constexpr std::size_t kPerMtr = 8;  // pages moved per mini-transaction (each latches two)
  if (ref.head >= limit) {
    {
      absl::StatusOr<ReadPageGuard> g = store.pool().ReadPage(ref.head);
      if (!g.ok()) return g.status();
      ref.nonce = Load<std::uint64_t>(g->data().data(), kNonce);
    }
    absl::StatusOr<PageId> head = MoveHead(store, owner, ref, rename_head);
    if (!head.ok()) return head.status();
    ref.head = *head;
  }
  PageId dir = ref.head;
  for (std::uint32_t number = 0; dir != kInvalidPageId; ++number) {
    std::vector<std::size_t> far;  // slots of this directory page naming pages to move
    PageId next;
    {
      std::vector<PageId> check;
      absl::StatusOr<ReadPageGuard> g = store.pool().ReadPage(dir);
      if (!g.ok()) return g.status();
      const std::byte* p = g->data().data();
      if (number == 0) ref.nonce = Load<std::uint64_t>(p, kNonce);  // the reference lacks it
      if (TypeOf(p) != PageType::kValue || Load<std::uint16_t>(p, kRole) != kValueRoleDirectory ||
          Load<std::uint64_t>(p, kOwner) != owner || Load<std::uint64_t>(p, kHead) != ref.head ||
          Load<std::uint32_t>(p, kNumber) != number ||
          Load<std::uint64_t>(p, kNonce) != ref.nonce ||
          Load<std::uint16_t>(p, kCount) > kValueIdsPerDirectory) {
        return absl::DataLossError(
            fmt::format("large value at page {} (index {}): page {} is not its directory page {}",
                        ref.head, owner, dir, number));
      }
      for (std::size_t i = 0; i < Load<std::uint16_t>(p, kCount); ++i) {
        if (Load<std::uint64_t>(p, kValuePageHeaderEnd + 8 * i) >= limit) far.push_back(i);
      }
      next = Load<std::uint64_t>(p, kNext);
    }
    for (std::size_t from = 0; from < far.size(); from += kPerMtr) {
      MiniTransaction mtr = store.BeginMtr();
      absl::StatusOr<PageSpan> d = mtr.GetForWrite(dir);
      if (!d.ok()) return d.status();
      for (std::size_t k = from; k < std::min(far.size(), from + kPerMtr); ++k) {
        const std::size_t off = kValuePageHeaderEnd + 8 * far[k];
        absl::StatusOr<PageId> moved = mtr.Relocate(Load<std::uint64_t>(d->data(), off));
        if (!moved.ok()) return moved.status();
        Put<std::uint64_t>(d->data(), off, *moved);
      }
      if (absl::StatusOr<Lsn> lsn = mtr.Commit(); !lsn.ok()) return lsn.status();
    }
    if (next != kInvalidPageId && next >= limit) {
      MiniTransaction mtr = store.BeginMtr();
      absl::StatusOr<PageSpan> d = mtr.GetForWrite(dir);
      if (!d.ok()) return d.status();
      absl::StatusOr<PageId> moved = mtr.Relocate(next);
      if (!moved.ok()) return moved.status();
      Put<std::uint64_t>(d->data(), kNext, *moved);
      if (absl::StatusOr<Lsn> lsn = mtr.Commit(); !lsn.ok()) return lsn.status();
      next = *moved;
    }
    dir = next;
  }
  return absl::OkStatus();
}

ValuePageView DecodeValuePage(ConstPageSpan page) {
  const std::byte* p = page.data();
  ValuePageView v;
  const std::uint16_t role = Load<std::uint16_t>(p, kRole);
  v.fields = {{"owner", Load<std::uint64_t>(p, kOwner)},
              {"head", Load<std::uint64_t>(p, kHead)},
              {"role", role},
              {"nonce", Load<std::uint64_t>(p, kNonce)}};
  if (role == kValueRoleDirectory) {
    const std::uint16_t count = Load<std::uint16_t>(p, kCount);
    v.fields.emplace_back("value_bytes", Load<std::uint64_t>(p, kLength));
    v.fields.emplace_back("number", Load<std::uint32_t>(p, kNumber));
    v.fields.emplace_back("next_directory", Load<std::uint64_t>(p, kNext));
    v.fields.emplace_back("data_pages", count);
    if (Load<std::uint64_t>(p, kHead) == ReadPageHeader(page).page_id) {
      v.fields.emplace_back("attached", Load<std::uint16_t>(p, kAttached));
    }
    if (count > kValueIdsPerDirectory) {
      v.problem = fmt::format("lists {} data pages; a directory page holds at most {}", count,
                              kValueIdsPerDirectory);
      return v;
    }
    v.ids.resize(count);
    if (count > 0) std::memcpy(v.ids.data(), p + kValuePageHeaderEnd, 8 * std::size_t{count});
  } else if (role == kValueRoleData) {
    const std::uint32_t n = Load<std::uint32_t>(p, kNext);
    v.fields.emplace_back("offset", Load<std::uint64_t>(p, kLength));
    v.fields.emplace_back("bytes", n);
    if (n > kValueBytesPerPage) {
      v.problem =
          fmt::format("holds {} bytes; a data page holds at most {}", n, kValueBytesPerPage);
      return v;
    }
    v.data = std::string_view(reinterpret_cast<const char*>(p + kValuePageHeaderEnd), n);
  } else {
    v.problem = fmt::format("role {} is neither directory (1) nor data (2)", role);
  }
  return v;
}

}  // namespace pagestore::index_internal
