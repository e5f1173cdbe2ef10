// The dump-page and dump-wal decoders (tools/dump.h): what `pagestore dump-page` and
// `pagestore dump-wal` print, given the page's bytes or the log directory. Every offset, length
// and count read from a page or a record is checked against it before it is used.
#include "tools/dump.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "index/btree.h"
#include "index/btree_node.h"
#include "index/hash_index.h"
#include "index/value_pages.h"
#include "tools/command.h"
#include "tools/json.h"
#include "wal/free_list_format.h"
#include "wal/log_format.h"
#include "wal/log_reader.h"

namespace pagestore::tools {
namespace {

// Decoded contents: named fields, then rows (one per entry).
struct Decoded {
  std::vector<std::pair<std::string, std::string>> fields;
  std::vector<std::vector<std::pair<std::string, std::string>>> rows;
  std::string problem;
};

// A row for an entry that does not fit in the page: printed as "(malformed: <why>)".
constexpr std::string_view kMalformed = "malformed";

// Appends a named field to `d`.
template <typename T>
void AddField(Decoded& d, std::string name, const T& v) {
  d.fields.emplace_back(std::move(name), fmt::format("{}", v));
}

Decoded DecodeSuperblockPage(PageId id, const RawFile& f) {
  Decoded d;
  const absl::StatusOr<Superblock>& sb = f.copies[id];
  if (!sb.ok()) {
    d.problem = Msg(sb.status());
    return d;
  }
  AddField(d, "format_version", sb->format_version);
  AddField(d, "page_size", sb->page_size);
  AddField(d, "sequence", sb->sequence);
  AddField(d, "page_count", sb->page_count);
  AddField(d, "free_list_head", sb->roots.free_list_head);
  AddField(d, "catalog_root", sb->roots.catalog_root);
  AddField(d, "checkpoint_lsn", sb->roots.checkpoint_lsn);
  AddField(d, "current", static_cast<int>(id) == f.current ? "yes" : "no");
  return d;
}

Decoded DecodeNodePage(PageId id, const std::byte* p) {
  Decoded d;
  // Only the header's fixed fields are read through Node directly; every entry goes through
  // ReadNodeEntry, which checks its slot, cell offset and lengths against the page.
  const Node n(const_cast<std::byte*>(p));
  const std::size_t count = n.count();
  if (count > kMaxNodeSlots) {
    AddField(d, "count",
             fmt::format("{} (malformed: a page holds at most {} slots)", count, kMaxNodeSlots));
  } else {
    AddField(d, "count", count);
  }
  AddField(d, "level", n.level());
  AddField(d, "right_sibling", n.right());
  if (!n.is_leaf()) AddField(d, "leftmost_child", n.leftmost_child());
  const std::uint16_t slots_end = n.slots_end(), cells = n.cells_start();
  if (slots_end > cells || cells > kPageSize) {
    AddField(d, "free_bytes",
             fmt::format("(malformed: the slot array ends at {}, the cells start at {})", slots_end,
                         cells));
  } else {
    AddField(d, "free_bytes", n.FreeBytes());
  }
  if (count > kMaxNodeSlots) {
    d.problem = fmt::format("slot count {} is larger than a page holds ({})", count, kMaxNodeSlots);
    return d;
  }
  std::size_t malformed = 0;
  for (std::size_t i = 0; i < count; ++i) {
    const absl::StatusOr<NodeEntry> e = ReadNodeEntry(ConstPageSpan(p, kPageSize), i);
    if (!e.ok()) {
      d.rows.push_back({{std::string(kMalformed), Msg(e.status())}});
      if (malformed++ == 0) d.problem = Msg(e.status());
      continue;
    }
    std::vector<std::pair<std::string, std::string>> row{{"key", Escape(e->key)}};
    if (n.is_leaf() && e->out_of_line) {
      absl::StatusOr<index_internal::ValueRef> ref = index_internal::DecodeValueRef(e->value);
      if (ref.ok()) {
        row.emplace_back("value_page", std::to_string(ref->head));
        row.emplace_back("value_bytes", std::to_string(ref->length));
      } else {
        row.emplace_back("value", Escape(e->value, 32));
        row.emplace_back(std::string(kMalformed), Msg(ref.status()));
        if (malformed++ == 0) d.problem = Msg(ref.status());
      }
    } else if (n.is_leaf()) {
      row.emplace_back("value", Escape(e->value, 32));
      row.emplace_back("value_bytes", std::to_string(e->value.size()));
    } else {
      row.emplace_back("child", std::to_string(e->child));
    }
    d.rows.push_back(std::move(row));
  }
  if (malformed > 1) {
    d.problem =
        fmt::format("{} of {} entries malformed, the first: {}", malformed, count, d.problem);
  }
  // Every entry readable: what the tree itself would refuse (order, overlap, fill, children),
  // by the same check (bytewise order: the tool does not know a custom comparator).
  if (d.problem.empty()) {
    const absl::Status s = CheckNode(id, ConstPageSpan(p, kPageSize), {});
    if (!s.ok()) d.problem = Msg(s);
  }
  return d;
}

Decoded DecodeTrunkPage(const std::byte* p) {
  Decoded d;
  const FreeListTrunkFields trunk = ReadFreeListTrunkFields(ConstPageSpan(p, kPageSize));
  AddField(d, "next_trunk", trunk.next);
  if (trunk.count > kIdsPerTrunk) {
    AddField(d, "count",
             fmt::format("{} (malformed: a trunk page holds at most {} entries)", trunk.count,
                         kIdsPerTrunk));
    d.problem =
        fmt::format("count {} is larger than a trunk page holds ({})", trunk.count, kIdsPerTrunk);
    return d;
  }
  AddField(d, "count", trunk.count);
  for (PageId free : trunk.ids) d.rows.push_back({{"free_page", std::to_string(free)}});
  return d;
}

Decoded DecodeHashIndexPage(PageType type, const std::byte* p) {
  Decoded d;
  std::optional<HashPageView> v = DecodeHashPage(ConstPageSpan(p, kPageSize));
  if (!v) return d;
  for (auto& [name, value] : v->fields) AddField(d, name, value);
  for (const auto& e : v->entries) {
    absl::StatusOr<index_internal::ValueRef> ref =
        e.out_of_line ? index_internal::DecodeValueRef(e.value)
                      : absl::StatusOr<index_internal::ValueRef>(absl::UnknownError("inline"));
    if (ref.ok()) {
      d.rows.push_back({{"hash", fmt::format("{:016x}", e.hash)},
                        {"key", Escape(e.key)},
                        {"value_page", std::to_string(ref->head)},
                        {"value_bytes", std::to_string(ref->length)}});
      continue;
    }
    d.rows.push_back({{"hash", fmt::format("{:016x}", e.hash)},
                      {"key", Escape(e.key)},
                      {"value", Escape(e.value, 32)},
                      {"value_bytes", std::to_string(e.value.size())}});
  }
  const bool directory = type == PageType::kHashDirectory;
  for (const auto& [at, page] : v->ids) {
    d.rows.push_back({{directory ? "at" : "index_page_slot", std::to_string(at)},
                      {"page", std::to_string(page)}});
  }
  d.problem = v->problem;
  return d;
}

Decoded DecodePage(PageId id, const std::byte* p, const RawFile& f) {
  if (id < kFirstDataPage) return DecodeSuperblockPage(id, f);
  const auto type = static_cast<PageType>(ReadPageHeader(ConstPageSpan(p, kPageSize)).type);
  switch (type) {
    case PageType::kBTreeMeta: {
      Decoded d;
      const BTreeAnchorView a = ReadBTreeAnchor(ConstPageSpan(p, kPageSize));
      AddField(d, "root", a.root);
      AddField(d, "height", a.height);
      return d;
    }
    case PageType::kBTreeLeaf:
    case PageType::kBTreeInternal:
      return DecodeNodePage(id, p);
    case PageType::kFreeList:
      return DecodeTrunkPage(p);
    case PageType::kValue: {
      Decoded d;
      const index_internal::ValuePageView v =
          index_internal::DecodeValuePage(ConstPageSpan(p, kPageSize));
      for (auto& [name, value] : v.fields) AddField(d, name, value);
      for (std::size_t i = 0; i < v.ids.size(); ++i) {
        d.rows.push_back({{"data_page", std::to_string(i)}, {"page", std::to_string(v.ids[i])}});
      }
      if (!v.data.empty()) d.rows.push_back({{"bytes", Escape(v.data, 64)}});
      d.problem = v.problem;
      return d;
    }
    default:
      return DecodeHashIndexPage(type, p);
  }
}

// A mini-transaction record's entries, summarized: the pages it changes and what else it holds.
struct MtrSummary {
  std::vector<PageId> pages;  // in order, each once
  std::vector<std::pair<std::string, PageId>> allocations;
  std::optional<std::uint16_t> undo_rm;
  std::optional<Lsn> compensation;
  std::map<std::string, std::pair<std::uint64_t, std::uint64_t>> kinds;  // count, bytes
  std::string problem;
};

MtrSummary SummarizeMtr(std::span<const std::byte> payload) {
  MtrSummary s;
  std::size_t at = 0;  // payload offset of the entry being decoded
  const bool ok = DecodeMtrPayload(payload, [&](const MtrEntryView& e) {
    std::size_t size = 0;
    std::string name;
    switch (e.kind) {
      case MtrEntry::kPageBytes:
      case MtrEntry::kPageImage:
        size = 13 + e.bytes.size();
        name = e.kind == MtrEntry::kPageBytes ? "page-bytes" : "page-image";
        if (s.pages.empty() || s.pages.back() != e.page) s.pages.push_back(e.page);
        break;
      case MtrEntry::kAlloc:
      case MtrEntry::kExtend:
      case MtrEntry::kFree:
        size = 9;
        name = e.kind == MtrEntry::kAlloc    ? "alloc"
               : e.kind == MtrEntry::kExtend ? "extend"
                                             : "free";
        s.allocations.emplace_back(name, e.page);
        break;
      case MtrEntry::kUndo:
        size = 7 + e.bytes.size();
        name = "undo";
        s.undo_rm = e.resource_manager;
        break;
      case MtrEntry::kCompensation:
        size = 9;
        name = "compensation";
        s.compensation = e.undo_next;
        break;
    }
    auto& k = s.kinds[name];
    ++k.first;
    k.second += size;
    at += size;
    return true;
  });
  if (!ok) s.problem = fmt::format("malformed entry at payload offset {}", at);
  return s;
}

// The first valid record after the invalid one at `bad`, if any: scanning at record alignment
// from just past `bad` to the end of its segment, then each later segment from its first record,
// for what LogReader accepts as a record (a header naming its own position, a checksum that holds
// under the segment's salt, a known type). A valid record after a bad one means the bad bytes are
// damage, not a write torn by a crash.
absl::StatusOr<std::optional<Lsn>> NextValidRecord(
    LogEnv& env, const std::vector<LogManager::SegmentInfo>& segments, Lsn bad) {
  std::vector<std::byte> data;
  for (std::size_t i = 0; i < segments.size(); ++i) {
    const LogManager::SegmentInfo& seg = segments[i];
    if (i + 1 < segments.size() && segments[i + 1].first_lsn <= bad) continue;  // before it
    absl::StatusOr<std::unique_ptr<LogFile>> file =
        env.OpenFile(SegmentFileName(seg.number), /*create=*/false);
    if (!file.ok()) return file.status();
    absl::StatusOr<std::uint64_t> size = (*file)->Size();
    if (!size.ok()) return size.status();
    data.resize(*size);
    absl::StatusOr<std::size_t> n = (*file)->Read(0, data);
    if (!n.ok()) return n.status();
    data.resize(*n);
    std::uint64_t off = kSegmentHeaderSize;
    if (seg.first_lsn <= bad) off += bad - seg.first_lsn + kRecordAlignment;
    for (; off + kRecordHeaderSize <= data.size(); off += kRecordAlignment) {
      const Lsn at = seg.first_lsn + (off - kSegmentHeaderSize);
      const RecordHeader h = ReadRecordHeader(data.data() + off);
      if (h.lsn != at || h.length < kRecordHeaderSize || h.length > data.size() - off ||
          h.type < RecordType::kMtr || h.type > RecordType::kCheckpoint) {
        continue;
      }
      if (RecordChecksum(data.data() + off, h.length, seg.salt) == h.checksum) return at;
    }
  }
  return std::nullopt;
}

}  // namespace

void PrintDumpPage(std::FILE* out, const RawFile& f, PageId id, ConstPageSpan page,
                   const absl::Status& read, bool hex, bool json) {
  const PageHeader h = ReadPageHeader(ConstPageSpan(page.data(), kPageSize));
  const std::string type_name =
      id < kFirstDataPage ? "superblock" : std::string(PageTypeName(static_cast<PageType>(h.type)));
  const Decoded d = DecodePage(id, page.data(), f);
  if (json) {
    Json j;
    j.BeginObject().Field("file", f.path).Field("page", id).Field("valid", read.ok());
    if (!read.ok()) j.Field("error", Msg(read));
    j.Key("header")
        .BeginObject()
        .Field("checksum", fmt::format("{:016x}", h.checksum))
        .Field("page_id", h.page_id)
        .Field("lsn", h.lsn)
        .Field("type", type_name)
        .Field("version", static_cast<std::uint32_t>(h.version))
        .EndObject();
    j.Key("fields").BeginObject();
    for (const auto& [name, value] : d.fields) j.Field(name, value);
    j.EndObject();
    j.Key("entries").BeginArray();
    for (const auto& row : d.rows) {
      j.BeginObject();
      for (const auto& [name, value] : row) j.Field(name, value);
      j.EndObject();
    }
    j.EndArray();
    if (!d.problem.empty()) j.Field("problem", d.problem);
    if (hex) {
      std::string hex;
      for (std::byte b : page) hex += fmt::format("{:02x}", static_cast<unsigned>(b));
      j.Field("hex", hex);
    }
    j.EndObject();
    fmt::print(out, "{}", j.str());
    return;
  }
  fmt::print(out, "page {} of {}{}\n", id, f.path,
             read.ok() ? "" : fmt::format(" (INVALID: {})", Msg(read)));
  fmt::print(out, "header: checksum {:016x}, page id {}, lsn {}, type {}, version {}\n", h.checksum,
             h.page_id, h.lsn, type_name, h.version);
  for (const auto& [name, value] : d.fields) fmt::print(out, "{}: {}\n", name, value);
  for (std::size_t i = 0; i < d.rows.size(); ++i) {
    fmt::print(out, "  [{}]", i);
    for (const auto& [name, value] : d.rows[i]) {
      if (name == kMalformed) {
        fmt::print(out, " ({}: {})", name, value);
      } else {
        fmt::print(out, " {}={}", name, value);
      }
    }
    fmt::print(out, "\n");
  }
  if (!d.problem.empty()) fmt::print(out, "problem: {}\n", d.problem);
  if (hex) {
    bool skipped = false;
    for (std::size_t off = 0; off < kPageSize; off += 16) {
      const bool zero = std::all_of(page.begin() + static_cast<std::ptrdiff_t>(off),
                                    page.begin() + static_cast<std::ptrdiff_t>(off + 16),
                                    [](std::byte b) { return b == std::byte{0}; });
      if (zero && off > 0 && off + 16 < kPageSize) {
        if (!skipped) fmt::print(out, "*\n");
        skipped = true;
        continue;
      }
      skipped = false;
      std::string line = fmt::format("{:04x}:", off);
      std::string text;
      for (std::size_t i = off; i < off + 16; ++i) {
        const auto c = static_cast<unsigned char>(page[i]);
        line += fmt::format(" {:02x}", c);
        text += (c >= 0x20 && c < 0x7f) ? static_cast<char>(c) : '.';
      }
      fmt::print(out, "{}  {}\n", line, text);
    }
  }
}

namespace {

// Where dumping starts: the first record, or --from. An LSN before the oldest segment starts at
// its first record (checkpoints recycled the older ones). Any other --from must be where a
// record starts, or the log's end (nothing to show).
absl::StatusOr<Lsn> DumpStart(LogReader& reader, const std::optional<Lsn>& from) {
  const Lsn start = std::max(from.value_or(reader.first_lsn()), reader.first_lsn());
  if (start != reader.first_lsn()) {
    if (absl::StatusOr<LogRecord> at = reader.ReadAt(start); !at.ok()) {
      absl::Status s = reader.Seek(reader.first_lsn());
      LogRecord rec;
      absl::StatusOr<bool> more = true;
      while (s.ok() && more.ok() && *more) more = reader.Next(&rec);
      if (!s.ok() || !more.ok()) return s.ok() ? more.status() : s;
      const Lsn end = reader.end_lsn();
      if (start > end) {
        return absl::OutOfRangeError(fmt::format(
            "--from {}: past the end of the log (LSN {}{})", start, end,
            reader.damaged_tail_lsn() != kInvalidLsn ? ", where an invalid record stops it" : ""));
      }
      if (start != end) {
        return absl::InvalidArgumentError(
            fmt::format("--from {}: not the start of a record ({})", start, Msg(at.status())));
      }
    }
  }
  if (absl::Status s = reader.Seek(start); !s.ok()) {
    return absl::InvalidArgumentError(
        fmt::format("--from {}: not the start of a record in the log: {}", start, Msg(s)));
  }
  return start;
}

// Counts and bytes by record type and by mini-transaction entry kind.
struct WalTally {
  std::map<std::string, std::pair<std::uint64_t, std::uint64_t>> by_type, by_entry;
  std::uint64_t records = 0;
};

void RecordJson(Json& j, const LogRecord& rec, const std::string& type,
                const std::optional<MtrSummary>& mtr) {
  j.BeginObject()
      .Field("lsn", rec.header.lsn)
      .Field("txn", rec.header.txn_id)
      .Field("type", type)
      .Field("length", rec.header.length)
      .Field("prev_lsn", rec.header.prev_lsn);
  if (mtr) {
    j.Key("pages").BeginArray();
    for (PageId p : mtr->pages) j.Uint(p);
    j.EndArray();
    j.Key("allocations").BeginArray();
    for (const auto& [kind, p] : mtr->allocations) {
      j.BeginObject().Field("kind", kind).Field("page", p).EndObject();
    }
    j.EndArray();
    if (mtr->undo_rm) j.Field("undo_resource_manager", static_cast<std::uint32_t>(*mtr->undo_rm));
    if (mtr->compensation) j.Field("undo_next_lsn", *mtr->compensation);
    if (!mtr->problem.empty()) j.Field("problem", mtr->problem);
  }
  j.EndObject();
}

std::string RecordLine(const LogRecord& rec, const std::string& type,
                       const std::optional<MtrSummary>& mtr) {
  std::string line =
      fmt::format("lsn {:>10} txn {:>6} {:<10} len {:>6} prev {:>10}", rec.header.lsn,
                  rec.header.txn_id, type, rec.header.length, rec.header.prev_lsn);
  if (mtr) {
    if (!mtr->pages.empty()) line += " pages " + fmt::format("{}", fmt::join(mtr->pages, ","));
    for (const auto& [kind, p] : mtr->allocations) line += fmt::format(" {} {}", kind, p);
    if (mtr->undo_rm) line += fmt::format(" undo rm {}", *mtr->undo_rm);
    if (mtr->compensation) line += fmt::format(" compensation next {}", *mtr->compensation);
    if (!mtr->problem.empty()) line += " (" + mtr->problem + ")";
  }
  return line;
}

// Why the dump stopped before the log's end, if it did.
struct WalStop {
  std::string text;  // empty: it did not
  bool damaged = false;
  std::optional<Lsn> next_valid;
};

// An invalid record at the tail: damage when a valid record, or a later segment (begun only
// once the one before was synced), follows it; else a write torn by a crash.
absl::Status DescribeInvalidTail(LogEnv& env, LogReader& reader, WalStop& stop) {
  const Lsn bad = reader.damaged_tail_lsn();
  stop.text = fmt::format("invalid record at LSN {}: {}", bad, reader.damage());
  const std::vector<LogManager::SegmentInfo> segments = reader.segments();
  absl::StatusOr<std::optional<Lsn>> next = NextValidRecord(env, segments, bad);
  if (!next.ok()) return next.status();
  stop.next_valid = *next;
  const auto later = std::find_if(segments.begin(), segments.end(),
                                  [&](const auto& seg) { return seg.first_lsn > bad; });
  const bool later_segment = later != segments.end();
  stop.damaged = stop.next_valid.has_value() || later_segment;
  if (stop.next_valid) {
    stop.text +=
        fmt::format("; DAMAGED: a valid record follows at LSN {} (not shown)", *stop.next_valid);
  } else if (later_segment) {
    stop.text += fmt::format("; DAMAGED: log segment {} follows, so these bytes had been synced",
                             SegmentFileName(later->number));
  } else {
    stop.text += "; no valid record follows: the log ends there (a write torn by a crash)";
  }
  return absl::OkStatus();
}

void SummaryJson(Json& j, const WalTally& tally, Lsn end, const WalStop& stop) {
  j.EndArray();
  j.Field("record_count", tally.records).Field("end_lsn", end);
  for (const auto* table : {&tally.by_type, &tally.by_entry}) {
    j.Key(table == &tally.by_type ? "by_type" : "by_entry").BeginObject();
    for (const auto& [name, v] : *table) {
      j.Key(name).BeginObject().Field("count", v.first).Field("bytes", v.second).EndObject();
    }
    j.EndObject();
  }
  if (!stop.text.empty()) {
    j.Field("stopped", stop.text).Field("damaged", stop.damaged);
    if (stop.next_valid) j.Field("next_valid_lsn", *stop.next_valid);
  }
  j.EndObject();
}

void SummaryText(std::FILE* out, const WalTally& tally, Lsn end, const WalStop& stop, bool stats) {
  if (stats) {
    fmt::print(out, "records by type:\n");
    for (const auto& [type, v] : tally.by_type) {
      fmt::print(out, "  {:<12} {:>10} records {:>14} bytes\n", type, v.first, v.second);
    }
    fmt::print(out, "mini-transaction entries by kind:\n");
    for (const auto& [kind, v] : tally.by_entry) {
      fmt::print(out, "  {:<12} {:>10} entries {:>14} bytes\n", kind, v.first, v.second);
    }
  }
  fmt::print(out, "{} records, log end at LSN {}\n", tally.records, end);
  if (!stop.text.empty()) fmt::print(out, "stopped: {}\n", stop.text);
}

}  // namespace

absl::StatusOr<int> DumpWal(std::FILE* out, LogEnv& env, const DumpWalOptions& options) {
  const std::optional<Lsn>& to = options.to;
  absl::StatusOr<std::unique_ptr<LogReader>> reader_or =
      LogReader::Open(&env, RecoveryMode::kPointInTime);
  if (!reader_or.ok()) return reader_or.status();
  LogReader& reader = **reader_or;
  if (reader.empty()) {
    return absl::NotFoundError(
        fmt::format("{}: no log segments (not a pagestore log directory?)", options.dir));
  }
  if (absl::StatusOr<Lsn> start = DumpStart(reader, options.from); !start.ok()) {
    return start.status();
  }
  WalTally tally;
  WalStop stop;
  Json j;
  if (options.json) j.BeginObject().Field("dir", options.dir).Key("records").BeginArray();
  for (;;) {
    LogRecord rec;
    absl::StatusOr<bool> more = reader.Next(&rec);
    if (!more.ok()) {
      stop.text = Msg(more.status());
      break;
    }
    if (!*more || (to && rec.header.lsn > *to)) break;
    ++tally.records;
    const std::string type(RecordTypeName(rec.header.type));
    auto& t = tally.by_type[type];
    ++t.first;
    t.second += rec.header.length;
    std::optional<MtrSummary> mtr;
    // A commit's payload (the pages it frees) is in the same entry format.
    if (rec.header.type == RecordType::kMtr ||
        (rec.header.type == RecordType::kCommit && !rec.payload.empty())) {
      mtr = SummarizeMtr(rec.payload);
      for (const auto& [kind, v] : mtr->kinds) {
        tally.by_entry[kind].first += v.first;
        tally.by_entry[kind].second += v.second;
      }
    }
    if (options.stats) continue;
    if (options.json) {
      RecordJson(j, rec, type, mtr);
    } else {
      fmt::print(out, "{}\n", RecordLine(rec, type, mtr));
    }
  }
  const Lsn bad = reader.damaged_tail_lsn();
  if (stop.text.empty() && bad != kInvalidLsn && (!to || bad <= *to)) {
    if (absl::Status s = DescribeInvalidTail(env, reader, stop); !s.ok()) return s;
  }
  const int status = stop.damaged ? kExitCorrupt : kExitOk;
  if (options.json) {
    SummaryJson(j, tally, reader.end_lsn(), stop);
    fmt::print(out, "{}", j.str());
  } else {
    SummaryText(out, tally, reader.end_lsn(), stop, options.stats);
  }
  return status;
}

}  // namespace pagestore::tools
