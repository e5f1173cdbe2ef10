// Batched file I/O for PreadDiskManager's ReadBatch and WriteBatch (internal, not installed).
//
// A batch is a list of runs; a run is consecutive bytes of the file (consecutive pages) scattered
// over an iovec range, so it goes out as one readv or writev. IoRings submits all of a batch's
// runs at once through io_uring (liburing), keeping up to `depth` of them in flight, and reaps
// them all; without io_uring, RunSequentially does the same with one preadv/pwritev after
// another. Either way every run ends with its bytes moved, or with the errno that stopped it
// (EINTR and EAGAIN are retried, a short transfer continues where it stopped, end of file is
// `eof`), and nothing of a batch is in flight when the call returns.
//
// Ownership: IoRings owns its rings (each an io_uring instance and its kernel memory); the
// caller owns the runs, the iovecs and the memory they point at, which must stay valid for the
// call. Thread safety: IoRings::Run is safe to call concurrently (each call takes a ring of its
// own, or runs sequentially when none is free); a batch's runs and iovecs are its caller's alone.
#pragma once

#include <liburing.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <cstddef>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "storage/mutex.h"

namespace pagestore::storage_internal {

struct IoRun {
  off_t offset = 0;           // where the run starts in the file (advanced as bytes move)
  std::size_t iov_begin = 0;  // the run's iovecs: [iov_begin, iov_end) of the batch's array
  std::size_t iov_end = 0;    //   (advanced in place as bytes move)
  std::size_t remaining = 0;  // bytes not yet moved
  int err = 0;                // the errno that ended the run, or 0
  bool eof = false;           // a read met the end of the file with bytes left
  bool done() const { return remaining == 0 || err != 0 || eof; }
};

// Moves every run in turn with preadv / pwritev.
void RunSequentially(int fd, bool write, std::span<IoRun> runs, std::span<iovec> iov);

class IoRings {
 public:
  // A first ring of `depth` entries, to learn whether io_uring works here (more are made as
  // concurrent batches need them). The error says why not: io_uring_queue_init's errno (ENOSYS
  // on an old kernel, EPERM under seccomp), or the errno `setup_fault` returns (tests: non-zero
  // fails the setup with it).
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<IoRings>> Create(
      unsigned depth, const std::function<int()>& setup_fault);
  ~IoRings();

  IoRings(const IoRings&) = delete;
  IoRings& operator=(const IoRings&) = delete;

  // Submits every run, keeping up to depth in flight, and reaps them all. `submissions` counts
  // the io_uring_enter calls made.
  void Run(int fd, bool write, std::span<IoRun> runs, std::span<iovec> iov,
           std::size_t* submissions);

  unsigned depth() const { return depth_; }

 private:
  struct Ring {
    io_uring ring;
  };
  explicit IoRings(unsigned depth) : depth_(depth) {}
  std::unique_ptr<Ring> Acquire() ABSL_LOCKS_EXCLUDED(mu_);
  void Release(std::unique_ptr<Ring> ring) ABSL_LOCKS_EXCLUDED(mu_);
  // Runs on `ring`; false when the ring failed in a way that leaves it unusable (it has reaped
  // everything it submitted; the runs it did not finish are left for the caller).
  bool RunOn(Ring& ring, int fd, bool write, std::span<IoRun> runs, std::span<iovec> iov,
             std::size_t* submissions);

  const unsigned depth_;
  ExclusiveMutex mu_;
  std::vector<std::unique_ptr<Ring>> free_ ABSL_GUARDED_BY(mu_);
  std::size_t made_ ABSL_GUARDED_BY(mu_) = 0;  // rings alive, free or in use
};

// Advances a run past `n` bytes just moved: its offset, its iovecs (in place) and what remains.
void Advance(IoRun& run, std::span<iovec> iov, std::size_t n);

}  // namespace pagestore::storage_internal
