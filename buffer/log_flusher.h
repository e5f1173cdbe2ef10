// LogFlusher: how the buffer pool keeps the WAL rule without knowing the log. Before it writes a
// dirty page, the pool calls FlushUntil(page LSN); the write happens only if that returns OK.
// The write-ahead log's LogManager implements this (wal/ sits above buffer/).
//
// Thread safety: implementations must be safe for concurrent use.
#pragma once

#include "absl/status/status.h"
#include "storage/page.h"

namespace pagestore {

class LogFlusher {
 public:
  virtual ~LogFlusher() = default;
  // Durable on return: every log record with LSN <= `lsn`. Fast when already durable.
  [[nodiscard]] virtual absl::Status FlushUntil(Lsn lsn) = 0;
};

}  // namespace pagestore
