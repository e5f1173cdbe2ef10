#include <gtest/gtest.h>

#include "tests/wal/wal_test_util.h"

namespace pagestore::testing {
namespace {

TEST(StoreTest, CommittedChangesSurvivePowerLossAndAbortsAreUndone) {
  SimulatedStore sim;
  PS_ASSIGN_OR_FAIL(store, sim.Open());
  EXPECT_TRUE(store->recovery_report().new_store);
  PS_ASSERT_OK(SlotTable::Create(*store));
  {
    PS_ASSIGN_OR_FAIL(txn, store->Begin());
    PS_ASSERT_OK(SlotTable::Put(*txn, 5, 50));
    PS_ASSERT_OK(SlotTable::SetBlob(*txn, 1, "hello"));
    PS_ASSERT_OK(txn->Commit());
  }
  {
    PS_ASSIGN_OR_FAIL(txn, store->Begin());
    PS_ASSERT_OK(SlotTable::Put(*txn, 5, 51));
    PS_ASSERT_OK(SlotTable::Put(*txn, 6, 60));
    PS_ASSERT_OK(SlotTable::SetBlob(*txn, 1, "bye"));
    PS_ASSERT_OK(txn->Abort());
  }
  SlotTable::Model expected;
  expected.values[5] = 50;
  expected.blobs[1] = "hello";
  PS_ASSIGN_OR_FAIL(now, SlotTable::Read(*store));
  EXPECT_EQ(now, expected);
  PS_EXPECT_OK(SlotTable::CheckPages(*store));
  // An uncommitted transaction in flight at the crash.
  PS_ASSIGN_OR_FAIL(loser, store->Begin());
  PS_ASSERT_OK(SlotTable::Put(*loser, 7, 70));
  PS_ASSERT_OK(SlotTable::SetBlob(*loser, 2, "never"));
  PS_ASSERT_OK(store->log().FlushAll());  // its records are durable, its commit is not
  sim.Cut();
  loser.reset();
  sim.Reboot();

  PS_ASSIGN_OR_FAIL(again, sim.Open());
  const RecoveryReport& r = again->recovery_report();
  EXPECT_FALSE(r.new_store);
  EXPECT_EQ(r.transactions_undone, 1u) << r.ToString();
  EXPECT_EQ(r.operations_undone, 2u) << r.ToString();
  EXPECT_GT(r.records_scanned, 0u);
  PS_ASSIGN_OR_FAIL(after, SlotTable::Read(*again));
  EXPECT_EQ(after, expected);
  PS_EXPECT_OK(SlotTable::CheckPages(*again));
}

}  // namespace
}  // namespace pagestore::testing
