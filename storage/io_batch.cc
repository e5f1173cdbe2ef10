#include "storage/io_batch.h"

#include <fmt/format.h>
#include <liburing.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <utility>

namespace pagestore::storage_internal {
namespace {

// Rings alive at once: one per concurrent batch. Past this a batch runs sequentially rather
// than wait for a ring.
constexpr std::size_t kMaxRings = 32;
// A run that keeps coming back with EINTR / EAGAIN this often is failed with that errno rather
// than retried for ever.
constexpr int kMaxRetries = 1000;

int IovCount(const IoRun& run) { return static_cast<int>(run.iov_end - run.iov_begin); }

}  // namespace

void Advance(IoRun& run, std::span<iovec> iov, std::size_t n) {
  run.offset += static_cast<off_t>(n);
  run.remaining -= n;
  while (n > 0 && run.iov_begin < run.iov_end) {
    iovec& v = iov[run.iov_begin];
    if (n >= v.iov_len) {
      n -= v.iov_len;
      ++run.iov_begin;
    } else {
      v.iov_base = static_cast<char*>(v.iov_base) + n;
      v.iov_len -= n;
      n = 0;
    }
  }
}

void RunSequentially(int fd, bool write, std::span<IoRun> runs, std::span<iovec> iov) {
  for (IoRun& run : runs) {
    int retries = 0;
    while (!run.done()) {
      const int count = std::min(IovCount(run), IOV_MAX);
      const ssize_t r = write ? ::pwritev(fd, &iov[run.iov_begin], count, run.offset)
                              : ::preadv(fd, &iov[run.iov_begin], count, run.offset);
      if (r > 0) {
        Advance(run, iov, static_cast<std::size_t>(r));
      } else if (r == 0) {
        if (write) {
          run.err = EIO;  // a write that moves nothing and reports no error
        } else {
          run.eof = true;
        }
      } else if ((errno != EINTR && errno != EAGAIN) || ++retries > kMaxRetries) {
        run.err = errno;
      }
    }
  }
}

absl::StatusOr<std::unique_ptr<IoRings>> IoRings::Create(unsigned depth,
                                                         const std::function<int()>& setup_fault) {
  if (depth == 0 || depth > 4096) {
    return absl::InvalidArgumentError("io_uring depth must be between 1 and 4096");
  }
  std::unique_ptr<IoRings> rings(new IoRings(depth));
  if (const int err = setup_fault ? setup_fault() : 0; err != 0) {
    return absl::UnavailableError(fmt::format("io_uring setup failed: {}", ::strerror(err)));
  }
  auto first = std::make_unique<Ring>();
  if (const int r = io_uring_queue_init(depth, &first->ring, 0); r != 0) {
    return absl::UnavailableError(fmt::format("io_uring setup failed: {}", ::strerror(-r)));
  }
  {
    MutexLock lock(&rings->mu_);
    rings->made_ = 1;
  }
  rings->Release(std::move(first));
  return rings;
}

IoRings::~IoRings() {
  MutexLock lock(&mu_);
  for (std::unique_ptr<Ring>& r : free_) io_uring_queue_exit(&r->ring);
}

std::unique_ptr<IoRings::Ring> IoRings::Acquire() {
  {
    MutexLock lock(&mu_);
    if (!free_.empty()) {
      std::unique_ptr<Ring> r = std::move(free_.back());
      free_.pop_back();
      return r;
    }
    if (made_ >= kMaxRings) return nullptr;
    ++made_;
  }
  auto r = std::make_unique<Ring>();
  if (io_uring_queue_init(depth_, &r->ring, 0) != 0) {
    MutexLock lock(&mu_);
    --made_;
    return nullptr;
  }
  return r;
}

void IoRings::Release(std::unique_ptr<Ring> ring) {
  MutexLock lock(&mu_);
  free_.push_back(std::move(ring));
}

void IoRings::Run(int fd, bool write, std::span<IoRun> runs, std::span<iovec> iov,
                  std::size_t* submissions) {
  std::unique_ptr<Ring> ring = Acquire();
  if (ring != nullptr) {
    if (RunOn(*ring, fd, write, runs, iov, submissions)) {
      Release(std::move(ring));
      return;
    }
    // The ring failed: it is given up, and whatever it left undone runs below.
    io_uring_queue_exit(&ring->ring);
    MutexLock lock(&mu_);
    --made_;
  }
  RunSequentially(fd, write, runs, iov);
}

bool IoRings::RunOn(Ring& r, int fd, bool write, std::span<IoRun> runs, std::span<iovec> iov,
                    std::size_t* submissions) {
  io_uring* ring = &r.ring;
  std::vector<std::size_t> ready;  // runs to (re)submit, in order
  ready.reserve(runs.size());
  for (std::size_t i = runs.size(); i > 0; --i) {
    if (!runs[i - 1].done()) ready.push_back(i - 1);
  }
  std::vector<int> retries(runs.size(), 0);
  std::size_t queued = 0;     // prepared, not yet handed to the kernel
  std::size_t in_flight = 0;  // handed to the kernel, not yet reaped
  int busy = 0;               // submissions refused for now (EINTR, EAGAIN, EBUSY) in a row
  bool broken = false;
  while (!ready.empty() || queued > 0 || in_flight > 0) {
    while (!broken && !ready.empty() && queued + in_flight < depth_) {
      io_uring_sqe* sqe = io_uring_get_sqe(ring);
      if (sqe == nullptr) break;
      const std::size_t i = ready.back();
      ready.pop_back();
      IoRun& run = runs[i];
      const unsigned count = static_cast<unsigned>(std::min(IovCount(run), IOV_MAX));
      if (write) {
        io_uring_prep_writev(sqe, fd, &iov[run.iov_begin], count, run.offset);
      } else {
        io_uring_prep_readv(sqe, fd, &iov[run.iov_begin], count, run.offset);
      }
      io_uring_sqe_set_data64(sqe, i);
      ++queued;
    }
    if (!broken && queued > 0) {
      const int submitted = io_uring_submit_and_wait(ring, 1);
      if (submissions != nullptr) ++*submissions;
      if (submitted > 0) {
        busy = 0;
        queued -= std::min<std::size_t>(queued, static_cast<std::size_t>(submitted));
        in_flight += static_cast<std::size_t>(submitted);
      } else if ((submitted != -EINTR && submitted != -EAGAIN && submitted != -EBUSY &&
                  submitted != 0) ||
                 ++busy > kMaxRetries) {
        // The kernel took none of the queued entries and will not: stop submitting, reap what
        // is in flight, and leave the rest to the caller.
        broken = true;
      }
    } else if (in_flight > 0) {
      io_uring_cqe* cqe = nullptr;
      (void)io_uring_wait_cqe(ring, &cqe);  // EINTR: reaped below, or waited for again
    }
    io_uring_cqe* cqe;
    unsigned head;
    unsigned seen = 0;
    io_uring_for_each_cqe(ring, head, cqe) {
      ++seen;
      const std::size_t i = static_cast<std::size_t>(io_uring_cqe_get_data64(cqe));
      const int res = cqe->res;
      IoRun& run = runs[i];
      if (res > 0) {
        Advance(run, iov, static_cast<std::size_t>(res));
      } else if (res == 0) {
        if (write) {
          run.err = EIO;
        } else {
          run.eof = true;
        }
      } else if ((res != -EINTR && res != -EAGAIN) || ++retries[i] > kMaxRetries) {
        run.err = -res;
      }
      if (!run.done()) ready.push_back(i);
    }
    io_uring_cq_advance(ring, seen);
    in_flight -= seen;
    if (broken && in_flight == 0) break;
  }
  return !broken;
}

}  // namespace pagestore::storage_internal
