// The logging hook: an engine's sink receives pagestore's messages (here, the summary recovery
// logs after redoing work), and without one they go to stderr, one line each.
#include "storage/logging.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/wal/wal_test_util.h"

namespace pagestore::testing {
namespace {

// A store whose recovery has work to do: a committed transaction's page change, never
// checkpointed, then a power cut.
void CrashWithCommittedWork(SimulatedStore& sim) {
  absl::StatusOr<Store*> store = sim.Open();
  ASSERT_TRUE(store.ok()) << store.status();
  absl::StatusOr<std::unique_ptr<Transaction>> txn = (*store)->Begin();
  ASSERT_TRUE(txn.ok());
  {
    MiniTransaction mtr = (*txn)->BeginMtr();
    absl::StatusOr<PageId> id = mtr.AllocatePage(PageType::kRaw);
    ASSERT_TRUE(id.ok());
    absl::StatusOr<PageSpan> page = mtr.GetForWrite(*id);
    ASSERT_TRUE(page.ok());
    (*page)[100] = std::byte{42};
    ASSERT_TRUE(mtr.Commit().ok());
  }
  ASSERT_TRUE((*txn)->Commit(Durability::kSync).ok());
  sim.PowerLoss();
}

TEST(LoggingTest, AnInstalledSinkReceivesTheRecoverySummary) {
  std::vector<std::pair<LogLevel, std::string>> got;
  LogSink previous = SetLogSink([&](LogLevel level, std::string_view message) {
    got.emplace_back(level, std::string(message));
  });
  SimulatedStore sim;
  CrashWithCommittedWork(sim);
  absl::StatusOr<Store*> store = sim.Open();
  ASSERT_TRUE(store.ok()) << store.status();
  SetLogSink(std::move(previous));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].first, LogLevel::kInfo);
  EXPECT_NE(got[0].second.find("sim.pages: recovered"), std::string::npos) << got[0].second;
  EXPECT_NE(got[0].second.find(fmt::format("{}", (*store)->recovery_report().pages_redone)),
            std::string::npos);
}

TEST(LoggingTest, WithoutASinkMessagesGoToStderr) {
  ::testing::internal::CaptureStderr();
  Log(LogLevel::kWarning, "the log's damaged tail at LSN 8 was dropped");
  Logf(LogLevel::kError, "page {} is bad", 17);
  EXPECT_EQ(::testing::internal::GetCapturedStderr(),
            "pagestore: warning: the log's damaged tail at LSN 8 was dropped\n"
            "pagestore: error: page 17 is bad\n");
}

TEST(LoggingTest, ANewStoreLogsNothing) {
  std::vector<std::string> got;
  LogSink previous =
      SetLogSink([&](LogLevel, std::string_view message) { got.emplace_back(message); });
  SimulatedStore sim;
  absl::StatusOr<Store*> store = sim.Open();
  ASSERT_TRUE(store.ok());
  SetLogSink(std::move(previous));
  EXPECT_TRUE(got.empty()) << got.front();
}

}  // namespace
}  // namespace pagestore::testing
