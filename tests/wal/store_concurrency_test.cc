// Many threads running transactions (commits and aborts) against one store while another takes
// checkpoints; then a power cut. Every acknowledged commit must be there, nothing else.
#include <gtest/gtest.h>

#include <thread>

#include "tests/wal/wal_test_util.h"

namespace pagestore::testing {
namespace {

constexpr int kThreads = 4;

void Worker(Store& store, int t, std::uint64_t seed, SlotTable::Model* acked,
            std::atomic<bool>* stop) {
  std::mt19937_64 rng(seed);
  for (int i = 0; i < 150 && !stop->load(); ++i) {
    absl::StatusOr<std::unique_ptr<Transaction>> txn = store.Begin();
    ASSERT_TRUE(txn.ok()) << txn.status();
    // Thread t owns the keys k with k % kThreads == t, and blob t.
    std::vector<std::pair<std::uint64_t, std::uint64_t>> puts;
    for (int n = 0; n < 3; ++n) {
      const std::uint64_t key =
          std::uniform_int_distribution<std::uint64_t>(0, SlotTable::kKeys / kThreads - 1)(rng) *
              kThreads +
          t;
      const std::uint64_t value = rng() % 1000000 + 1;
      ASSERT_TRUE(SlotTable::Put(**txn, key, value).ok());
      puts.emplace_back(key, value);
    }
    const std::string blob(rng() % 200 + 1, static_cast<char>('a' + t));
    ASSERT_TRUE(SlotTable::SetBlob(**txn, t, blob).ok());
    if (rng() % 4 == 0) {
      ASSERT_TRUE((*txn)->Abort().ok());
      continue;
    }
    const Durability d =
        std::array{Durability::kSync, Durability::kGroup, Durability::kNone}[rng() % 3];
    absl::Status s = (*txn)->Commit(d);
    ASSERT_TRUE(s.ok()) << s;
    for (auto [k, v] : puts) acked->values[k] = v;
    acked->blobs[t] = blob;
  }
}

TEST(StoreConcurrencyTest, ConcurrentTransactionsAndCheckpointsThenPowerLoss) {
  StoreOptions options = SmallStoreOptions();
  options.pool_frames = 32;
  options.background_checkpoints = true;
  SimulatedStore sim(options);
  absl::StatusOr<Store*> opened = sim.Open();
  ASSERT_TRUE(opened.ok()) << opened.status();
  Store& store = **opened;
  ASSERT_TRUE(SlotTable::Create(store).ok());
  std::vector<SlotTable::Model> acked(kThreads);
  std::atomic<bool> stop{false};
  std::atomic<int> checkpoints{0};
  std::thread checkpointer([&] {
    while (!stop.load()) {
      absl::Status s = store.Checkpoint();
      ASSERT_TRUE(s.ok()) << s;
      ++checkpoints;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });
  std::vector<std::thread> workers;
  const std::uint64_t seed = TestSeed();
  for (int t = 0; t < kThreads; ++t) {
    workers.emplace_back(Worker, std::ref(store), t, seed + t, &acked[t], &stop);
  }
  for (auto& w : workers) w.join();
  stop = true;
  checkpointer.join();
  EXPECT_GT(checkpoints.load(), 0);
  // Everything acknowledged with kSync or kGroup is durable; kNone commits are durable once a
  // later synced commit or checkpoint flushed the log, which the final flush here ensures.
  ASSERT_TRUE(store.FlushLog().ok());
  SlotTable::Model expected;
  for (const auto& m : acked) {
    expected.values.insert(m.values.begin(), m.values.end());
    expected.blobs.insert(m.blobs.begin(), m.blobs.end());
  }
  absl::StatusOr<SlotTable::Model> live = SlotTable::Read(store);
  ASSERT_TRUE(live.ok());
  EXPECT_EQ(*live, expected);
  EXPECT_TRUE(SlotTable::CheckPages(store).ok());
  sim.PowerLoss(seed, 0.5);
  absl::StatusOr<Store*> again = sim.Open();
  ASSERT_TRUE(again.ok()) << again.status();
  absl::StatusOr<SlotTable::Model> now = SlotTable::Read(**again);
  ASSERT_TRUE(now.ok());
  EXPECT_EQ(*now, expected);
  absl::Status pages = SlotTable::CheckPages(**again);
  EXPECT_TRUE(pages.ok()) << pages;
}

}  // namespace
}  // namespace pagestore::testing
