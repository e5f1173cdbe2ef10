// A store over in-memory files that can lose power: the page file behind a
// FaultInjectionDiskManager, the log in a MemoryLogEnv.
#pragma once

#include <memory>

#include "storage/fault_injection_disk_manager.h"
#include "storage/memory_disk_manager.h"
#include "tests/storage/test_util.h"
#include "tests/wal/slot_table.h"
#include "wal/store.h"

namespace pagestore::testing {

inline StoreOptions SmallStoreOptions() {
  StoreOptions o;
  o.pool_frames = 64;
  o.log.segment_size = kSegmentHeaderSize + (64 << 10);
  o.log.buffer_size = 32 << 10;
  o.checkpoint_interval_bytes = 48 << 10;
  o.background_checkpoints = false;  // deterministic crash points
  o.undo_handlers[SlotTable::kRm] = SlotTable::Handler();
  return o;
}

class SimulatedStore {
 public:
  explicit SimulatedStore(StoreOptions options = SmallStoreOptions())
      : options_(std::move(options)),
        file_(std::make_shared<MemoryFile>("sim.pages")),
        env_(std::make_shared<MemoryLogEnv>("sim.pages-wal")) {}

  [[nodiscard]] absl::StatusOr<Store*> Open() {
    store_.reset();
    fault_ = nullptr;
    absl::StatusOr<std::unique_ptr<MemoryDiskManager>> disk = MemoryDiskManager::Open(file_);
    if (!disk.ok()) return disk.status();
    auto fault = std::make_unique<FaultInjectionDiskManager>(std::move(*disk));
    fault_ = fault.get();
    absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(std::move(fault), env_, options_);
    if (!store.ok()) {
      fault_ = nullptr;
      return store.status();
    }
    store_ = std::move(*store);
    return store_.get();
  }

  // Power cut: unsynced log bytes and page writes are lost (a random subset of page writes and
  // a random prefix of unsynced log bytes may survive, as on a real disk), then the machine
  // reboots: ready to Open again.
  void PowerLoss(std::uint64_t seed = 0, double keep = 0.0) {
    Cut(seed, keep);
    Reboot();
  }
  // The two halves, for a test that must drop objects (a transaction in flight) in between:
  // after Cut every I/O fails, so nothing they do reaches the disk.
  void Cut(std::uint64_t seed = 0, double keep = 0.0) {
    env_->SimulatePowerLoss(keep, seed);
    if (fault_ != nullptr) (void)fault_->SimulatePowerLoss(keep, seed + 1);
  }
  void Reboot() {
    store_.reset();
    fault_ = nullptr;
    env_->Reboot();
  }

  Store* store() { return store_.get(); }
  FaultInjectionDiskManager* fault() { return fault_; }
  // The options the next Open uses (a test reopening in another recovery mode).
  void SetOptions(StoreOptions options) { options_ = std::move(options); }
  MemoryLogEnv& env() { return *env_; }
  MemoryFile& file() { return *file_; }
  StoreOptions& options() { return options_; }

 private:
  StoreOptions options_;
  std::shared_ptr<MemoryFile> file_;
  std::shared_ptr<MemoryLogEnv> env_;
  FaultInjectionDiskManager* fault_ = nullptr;
  std::unique_ptr<Store> store_;
};

}  // namespace pagestore::testing
