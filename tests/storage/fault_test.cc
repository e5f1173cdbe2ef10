// Storage under failure: every system call of a workload failed in turn (EIO, then ENOSPC), a
// full disk when the file grows (injected, and for real under RLIMIT_FSIZE), a failed fsync,
// and the FaultInjectionDiskManager's power loss and torn writes. The property each time: the
// error surfaces from the call that hit it, nothing crashes, and everything synced before is
// intact on reopen.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <atomic>
#include <map>

#include "storage/fault_injection_disk_manager.h"
#include "tests/storage/test_util.h"

namespace pagestore::testing {
namespace {

using ::testing::HasSubstr;

// What a workload has made durable and what it wrote since.
struct Model {
  std::map<PageId, std::uint64_t> synced;   // page -> version at the last successful Sync
  std::map<PageId, std::uint64_t> written;  // page -> latest version written
  PageId synced_count = kSuperblockPageCount;

  // A page reopened after a failure may hold its synced version or any later one written.
  void ExpectIntact(DiskManager& dm) const {
    ASSERT_GE(dm.page_count(), synced_count);
    for (const auto& [id, v] : synced) {
      alignas(kPageSize) Page page;
      absl::Status s = dm.ReadPage(id, page);
      ASSERT_TRUE(s.ok()) << "synced page " << id << ": " << s;
      bool ok = false;
      for (std::uint64_t w = v; w <= written.at(id) && !ok; ++w) ok = PageHolds(page, id, w);
      ASSERT_TRUE(ok) << "synced page " << id << " lost its contents (synced v" << v << ")";
    }
  }
};

// A small workload of every kind of call; stops at the first error and returns it.
absl::Status RunWorkload(DiskManager& dm, Model& m) {
  std::uint64_t version = 1;
  auto write = [&](PageId id) -> absl::Status {
    alignas(kPageSize) Page page;
    FillPage(page, id, version);
    if (absl::Status s = dm.WritePage(id, page); !s.ok()) return s;
    m.written[id] = version++;
    return absl::OkStatus();
  };
  auto allocate_and_write = [&](int n) -> absl::Status {
    for (int i = 0; i < n; ++i) {
      absl::StatusOr<PageId> id = dm.AllocatePage();
      if (!id.ok()) return id.status();
      if (absl::Status s = write(*id); !s.ok()) return s;
    }
    return absl::OkStatus();
  };
  auto sync = [&]() -> absl::Status {
    if (absl::Status s = dm.Sync(); !s.ok()) return s;
    m.synced = m.written;
    m.synced_count = dm.page_count();
    return absl::OkStatus();
  };
  auto read_all = [&]() -> absl::Status {
    for (const auto& [id, v] : m.written) {
      alignas(kPageSize) Page page;
      if (absl::Status s = dm.ReadPage(id, page); !s.ok()) return s;
      if (!PageHolds(page, id, v)) return absl::InternalError(fmt::format("page {} wrong", id));
    }
    return absl::OkStatus();
  };
  for (auto step : std::vector<std::function<absl::Status()>>{
           [&] { return allocate_and_write(5); }, sync, [&] { return write(kFirstDataPage + 1); },
           [&] { return write(kFirstDataPage + 3); },
           [&] { return allocate_and_write(20); },  // crosses 64 KiB growth steps
           read_all, sync, [&] { return dm.Advise(AccessPattern::kRandom); },
           [&] { return dm.WillNeed(kFirstDataPage, kFirstDataPage + 10); },
           [&] { return write(kFirstDataPage + 20); }, sync, read_all}) {
    if (absl::Status s = step(); !s.ok()) return s;
  }
  return absl::OkStatus();
}

struct WalkParam {
  ManagerKind kind;
  int err;
};

class CallWalkTest : public ::testing::TestWithParam<WalkParam> {};

TEST_P(CallWalkTest, FailEachSystemCallInTurn) {
  const auto& [kind, err_code] = GetParam();
  const int err = err_code;  // a lambda may capture it (clang 14 cannot capture a binding)
  PS_SKIP_IF_NO_DIRECT_IO(kind);
  const absl::StatusCode expected_code =
      err == ENOSPC ? absl::StatusCode::kResourceExhausted : absl::StatusCode::kUnavailable;
  int walked = 0;
  for (int n = 1;; ++n) {
    ManagerFactory factory(kind);
    { PS_ASSERT_OK(factory.Open(OpenMode::kCreate).status()); }
    std::atomic<int> calls{0};
    std::atomic<IoCall> failed_call{IoCall::kRead};
    auto hook = [&](IoCall c) {
      // A failed io_uring setup is no error (the manager falls back): not a call of the walk.
      if (c == IoCall::kRingSetup || calls.fetch_add(1) + 1 != n) return 0;
      failed_call = c;
      return err;
    };
    Model model;
    absl::Status result;
    {
      absl::StatusOr<std::unique_ptr<DiskManager>> dm = factory.Open(OpenMode::kOpenExisting, hook);
      result = dm.ok() ? RunWorkload(**dm, model) : dm.status();
      if (calls.load() < n) {
        PS_ASSERT_OK(result);  // the workload finished before call n: the walk is complete
        break;
      }
      ++walked;
      SCOPED_TRACE(fmt::format("call {} failed", n));
      ASSERT_EQ(result.code(), expected_code) << result;
      EXPECT_THAT(std::string(result.message()), HasSubstr(std::strerror(err)));
      if (dm.ok() && failed_call.load() == IoCall::kSync) {
        // A failed sync is final: no more writes reach the file.
        alignas(kPageSize) Page page;
        FillPage(page, kFirstDataPage, 99);
        absl::Status after = (*dm)->WritePage(kFirstDataPage, page);
        EXPECT_TRUE(absl::IsFailedPrecondition(after)) << after;
        EXPECT_THAT(std::string(after.message()), HasSubstr(std::strerror(err)));
        EXPECT_TRUE(absl::IsFailedPrecondition((*dm)->Sync()));
        EXPECT_TRUE(absl::IsFailedPrecondition((*dm)->AllocatePage().status()));
      }
    }
    PS_ASSIGN_OR_FAIL(reopened, factory.Open(OpenMode::kOpenExisting));
    model.ExpectIntact(*reopened);
    if (HasFatalFailure()) return;
  }
  EXPECT_GT(walked, 3) << "the workload made too few system calls to walk";
  std::cout << kind.name << ": walked " << walked << " failure points\n";
}

// Creating a file is a sequence of calls too: fail each in turn. A failed create leaves nothing
// at the path (the file appears only once complete), so the next create succeeds.
TEST_P(CallWalkTest, FailEachCallOfCreate) {
  const auto& [kind, err_code] = GetParam();
  const int err = err_code;  // a lambda may capture it (clang 14 cannot capture a binding)
  PS_SKIP_IF_NO_DIRECT_IO(kind);
  ManagerFactory factory(kind);
  int walked = 0;
  for (int n = 1;; ++n) {
    std::atomic<int> calls{0};
    auto hook = [&](IoCall c) {
      return c != IoCall::kRingSetup && calls.fetch_add(1) + 1 == n ? err : 0;
    };
    absl::StatusOr<std::unique_ptr<DiskManager>> dm = factory.Open(OpenMode::kCreate, hook);
    if (calls.load() < n) {
      PS_ASSERT_OK(dm.status());
      break;
    }
    ++walked;
    ASSERT_FALSE(dm.ok()) << "call " << n << " failed but create succeeded";
    if (!kind.in_memory) {
      EXPECT_FALSE(std::filesystem::exists(factory.path())) << "half-made file after call " << n;
      for (const auto& e : std::filesystem::directory_iterator(factory.path().parent_path())) {
        ADD_FAILURE() << "left behind: " << e.path();
      }
    }
    PS_ASSIGN_OR_FAIL(again, factory.Open(OpenMode::kCreate));
    EXPECT_EQ(again->page_count(), kSuperblockPageCount);
    again.reset();
    if (kind.in_memory) {
      factory.memory().Truncate(0);
    } else {
      std::filesystem::remove(factory.path());
    }
  }
  EXPECT_GE(walked, 2);
}

std::vector<WalkParam> WalkParams() {
  std::vector<WalkParam> out;
  for (int err : {EIO, ENOSPC}) {
    for (const ManagerKind& k : AllManagerKinds()) out.push_back({k, err});
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(AllManagers, CallWalkTest, ::testing::ValuesIn(WalkParams()),
                         [](const auto& info) {
                           return info.param.kind.name +
                                  (info.param.err == EIO ? "_EIO" : "_ENOSPC");
                         });

class FaultTest : public ::testing::TestWithParam<ManagerKind> {
 protected:
  void SetUp() override { PS_SKIP_IF_NO_DIRECT_IO(GetParam()); }
  ManagerFactory factory_{GetParam()};
};

TEST_P(FaultTest, GrowthOnAFullDiskIsAnErrorAndNotFinal) {
  std::atomic<bool> disk_full{false};
  PS_ASSIGN_OR_FAIL(dm, factory_.Open(OpenMode::kOpenOrCreate, [&](IoCall c) {
    return c == IoCall::kGrow && disk_full.load() ? ENOSPC : 0;
  }));
  Model m;
  PS_ASSERT_OK(RunWorkload(*dm, m));
  disk_full = true;
  absl::Status s;
  for (int i = 0; i < 100 && s.ok(); ++i) s = dm->AllocatePage().status();
  EXPECT_TRUE(absl::IsResourceExhausted(s)) << s;
  const PageId count = dm->page_count();
  EXPECT_TRUE(absl::IsResourceExhausted(dm->AllocatePage().status()));
  EXPECT_EQ(dm->page_count(), count);
  m.ExpectIntact(*dm);
  PS_EXPECT_OK(dm->Sync());
  disk_full = false;  // space freed: growth works again
  PS_EXPECT_OK(dm->AllocatePage().status());
}

TEST_P(FaultTest, FailedSyncIsFinalAndReopenRecoversTheSyncedState) {
  std::atomic<bool> fail_sync{false};
  Model m;
  {
    PS_ASSIGN_OR_FAIL(dm, factory_.Open(OpenMode::kOpenOrCreate, [&](IoCall c) {
      return c == IoCall::kSync && fail_sync.exchange(false) ? EIO : 0;
    }));
    PS_ASSERT_OK(RunWorkload(*dm, m));
    alignas(kPageSize) Page page;
    FillPage(page, kFirstDataPage, 500);
    PS_ASSERT_OK(dm->WritePage(kFirstDataPage, page));
    m.written[kFirstDataPage] = 500;
    fail_sync = true;
    absl::Status first = dm->Sync();
    ASSERT_TRUE(absl::IsUnavailable(first)) << first;
    // Every later write, allocation and sync fails, carrying the first error; reads still work.
    for (absl::Status s :
         {dm->WritePage(kFirstDataPage, page), dm->AllocatePage().status(), dm->Sync()}) {
      EXPECT_TRUE(absl::IsFailedPrecondition(s)) << s;
      EXPECT_THAT(std::string(s.message()), HasSubstr(std::strerror(EIO)));
    }
    PS_EXPECT_OK(dm->ReadPage(kFirstDataPage + 1, page));
  }
  PS_ASSIGN_OR_FAIL(dm, factory_.Open(OpenMode::kOpenExisting));
  m.ExpectIntact(*dm);
}

INSTANTIATE_TEST_SUITE_P(AllManagers, FaultTest, ::testing::ValuesIn(AllManagerKinds()),
                         [](const auto& info) { return info.param.name; });

// A real full "disk": the process's file-size limit. Runs in a child so the limit stays there.
class RealFileSizeLimitTest : public ::testing::TestWithParam<ManagerKind> {};

TEST_P(RealFileSizeLimitTest, GrowthPastTheLimitFailsAndLeavesTheFileReadable) {
  ManagerFactory factory(GetParam());
  constexpr rlim_t kLimit = 1 << 20;  // 1 MiB: 16 growth steps of 64 KiB
  PageId synced_count = 0;
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // Child: no gtest assertions; exit codes say what went wrong.
    ::signal(SIGXFSZ, SIG_IGN);  // get EFBIG instead of being killed
    rlimit lim{kLimit, kLimit};
    if (::setrlimit(RLIMIT_FSIZE, &lim) != 0) ::_exit(10);
    auto dm = factory.Open(OpenMode::kCreate);
    if (!dm.ok()) ::_exit(11);
    absl::Status s;
    PageId written = 0;
    while (s.ok()) {
      absl::StatusOr<PageId> id = (*dm)->AllocatePage();
      s = id.status();
      if (!s.ok()) break;
      alignas(kPageSize) Page page;
      FillPage(page, *id, 1);
      if (!(*dm)->WritePage(*id, page).ok()) ::_exit(12);
      written = *id;
    }
    if (!absl::IsResourceExhausted(s)) {
      std::fprintf(stderr, "expected ResourceExhausted, got %s\n", s.ToString().c_str());
      ::_exit(13);
    }
    if (written < 100) ::_exit(14);
    if (!(*dm)->Sync().ok()) ::_exit(15);  // the pages that fit are made durable
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "child killed by signal " << WTERMSIG(status);
  ASSERT_EQ(WEXITSTATUS(status), 0) << "child failed at check " << WEXITSTATUS(status);
  PS_ASSIGN_OR_FAIL(dm, factory.Open(OpenMode::kOpenExisting));
  synced_count = dm->page_count();
  EXPECT_GT(synced_count, 100u);
  EXPECT_LE(synced_count * kPageSize, kLimit);
  for (PageId id = kFirstDataPage; id < synced_count; ++id) {
    alignas(kPageSize) Page page;
    PS_ASSERT_OK(dm->ReadPage(id, page));
    ASSERT_TRUE(PageHolds(page, id, 1));
  }
}

INSTANTIATE_TEST_SUITE_P(FileManagers, RealFileSizeLimitTest,
                         ::testing::ValuesIn(FileManagerKinds()),
                         [](const auto& info) { return info.param.name; });

// The FaultInjectionDiskManager over every real manager.
class FaultInjectionTest : public ::testing::TestWithParam<ManagerKind> {
 protected:
  void SetUp() override { PS_SKIP_IF_NO_DIRECT_IO(GetParam()); }
  std::unique_ptr<FaultInjectionDiskManager> Open(OpenMode mode = OpenMode::kOpenOrCreate) {
    auto inner = factory_.Open(mode);
    EXPECT_TRUE(inner.ok()) << inner.status();
    return inner.ok() ? std::make_unique<FaultInjectionDiskManager>(std::move(*inner)) : nullptr;
  }
  absl::StatusOr<PageId> AllocateAndWrite(DiskManager& dm, std::uint64_t version) {
    absl::StatusOr<PageId> id = dm.AllocatePage();
    if (!id.ok()) return id;
    alignas(kPageSize) Page page;
    FillPage(page, *id, version);
    if (absl::Status s = dm.WritePage(*id, page); !s.ok()) return s;
    return id;
  }
  ManagerFactory factory_{GetParam()};
};

TEST_P(FaultInjectionTest, FailsTheNthCallOnceOrForever) {
  auto dm = Open();
  ASSERT_NE(dm, nullptr);
  PS_ASSIGN_OR_FAIL(id, AllocateAndWrite(*dm, 1));
  alignas(kPageSize) Page page;
  dm->FailCall(2, EIO);
  PS_EXPECT_OK(dm->ReadPage(id, page));
  absl::Status s = dm->ReadPage(id, page);
  EXPECT_TRUE(absl::IsUnavailable(s)) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("injected"));
  PS_EXPECT_OK(dm->ReadPage(id, page));  // transient
  dm->FailCall(1, ENOSPC, /*persistent=*/true);
  EXPECT_TRUE(absl::IsResourceExhausted(dm->AllocatePage().status()));
  EXPECT_TRUE(absl::IsResourceExhausted(dm->ReadPage(id, page)));
  dm->ClearFaults();
  PS_EXPECT_OK(dm->ReadPage(id, page));
  EXPECT_TRUE(PageHolds(page, id, 1));
}

TEST_P(FaultInjectionTest, PowerLossDropsExactlyTheUnsyncedWrites) {
  PageId a, b;
  {
    auto dm = Open();
    ASSERT_NE(dm, nullptr);
    PS_ASSIGN_OR_FAIL(a_id, AllocateAndWrite(*dm, 1));
    a = a_id;
    PS_ASSERT_OK(dm->Sync());
    alignas(kPageSize) Page page;
    FillPage(page, a, 2);
    PS_ASSERT_OK(dm->WritePage(a, page));
    PS_ASSIGN_OR_FAIL(b_id, AllocateAndWrite(*dm, 1));
    b = b_id;
    PS_ASSERT_OK(dm->ReadPage(a, page));  // the wrapper serves its unsynced writes
    EXPECT_TRUE(PageHolds(page, a, 2));
    EXPECT_EQ(dm->unsynced_pages(), 2u);
    PS_ASSERT_OK(dm->SimulatePowerLoss());
    EXPECT_TRUE(absl::IsFailedPrecondition(dm->ReadPage(a, page)));
  }
  auto dm = Open(OpenMode::kOpenExisting);
  ASSERT_NE(dm, nullptr);
  alignas(kPageSize) Page page;
  PS_ASSERT_OK(dm->ReadPage(a, page));
  EXPECT_TRUE(PageHolds(page, a, 1));
  EXPECT_TRUE(absl::IsOutOfRange(dm->ReadPage(b, page)));  // allocated after the last sync
}

TEST_P(FaultInjectionTest, TornWriteReachesDiskHalfNewHalfOld) {
  PageId a;
  {
    auto dm = Open();
    ASSERT_NE(dm, nullptr);
    PS_ASSIGN_OR_FAIL(a_id, AllocateAndWrite(*dm, 1));
    a = a_id;
    PS_ASSERT_OK(dm->Sync());
    dm->TearNextWrite(3);
    alignas(kPageSize) Page page;
    FillPage(page, a, 2);
    PS_ASSERT_OK(dm->WritePage(a, page));
    PS_ASSERT_OK(dm->SimulatePowerLoss());
  }
  auto dm = Open(OpenMode::kOpenExisting);
  ASSERT_NE(dm, nullptr);
  alignas(kPageSize) Page page;
  absl::Status s = dm->ReadPage(a, page);
  ASSERT_TRUE(absl::IsDataLoss(s)) << s;
  Page v1, v2;
  FillPage(v1, a, 1);
  FillPage(v2, a, 2);
  // First three sectors from the new write, the rest from the old one.
  EXPECT_EQ(std::memcmp(page.data() + kPageHeaderSize, v2.data() + kPageHeaderSize,
                        3 * 512 - kPageHeaderSize),
            0);
  EXPECT_EQ(std::memcmp(page.data() + 3 * 512, v1.data() + 3 * 512, kPageSize - 3 * 512), 0);
}

TEST_P(FaultInjectionTest, InjectedSyncFailureIsFinalForWritesNotReads) {
  auto dm = Open();
  ASSERT_NE(dm, nullptr);
  PS_ASSIGN_OR_FAIL(id, AllocateAndWrite(*dm, 1));
  PS_ASSERT_OK(dm->Sync());
  dm->FailCall(1, EIO);
  EXPECT_TRUE(absl::IsUnavailable(dm->Sync()));
  alignas(kPageSize) Page page;
  FillPage(page, id, 2);
  EXPECT_TRUE(absl::IsFailedPrecondition(dm->WritePage(id, page)));
  EXPECT_TRUE(absl::IsFailedPrecondition(dm->AllocatePage().status()));
  EXPECT_TRUE(absl::IsFailedPrecondition(dm->Sync()));
  PS_ASSERT_OK(dm->ReadPage(id, page));  // as for the real managers
  EXPECT_TRUE(PageHolds(page, id, 1));
}

TEST_P(FaultInjectionTest, WritesThroughAReadOnlyManagerAreRefusedAtOnce) {
  { ASSERT_NE(Open(), nullptr); }
  auto dm = Open(OpenMode::kReadOnly);
  ASSERT_NE(dm, nullptr);
  EXPECT_TRUE(dm->read_only());
  alignas(kPageSize) Page page;
  FillPage(page, kFirstDataPage, 1);
  EXPECT_TRUE(absl::IsFailedPrecondition(dm->WritePage(kFirstDataPage, page)));
  EXPECT_TRUE(absl::IsFailedPrecondition(dm->AllocatePage().status()));
}

TEST_P(FaultInjectionTest, PowerLossMayKeepUnsyncedWritesButNeverUnsyncedRoots) {
  std::vector<PageId> ids;
  {
    auto dm = Open();
    ASSERT_NE(dm, nullptr);
    for (int i = 0; i < 20; ++i) {
      PS_ASSIGN_OR_FAIL(id, AllocateAndWrite(*dm, 1));
      ids.push_back(id);
    }
    dm->SetRoots({.catalog_root = 4});
    PS_ASSERT_OK(dm->Sync());
    for (PageId id : ids) {
      alignas(kPageSize) Page page;
      FillPage(page, id, 2);
      PS_ASSERT_OK(dm->WritePage(id, page));
    }
    dm->SetRoots({.catalog_root = 5});
    PS_ASSERT_OK(dm->SimulatePowerLoss(/*keep_probability=*/0.5, /*seed=*/7));
  }
  auto dm = Open(OpenMode::kOpenExisting);
  ASSERT_NE(dm, nullptr);
  EXPECT_EQ(dm->roots().catalog_root, 4u);
  int kept = 0;
  for (PageId id : ids) {
    alignas(kPageSize) Page page;
    PS_ASSERT_OK(dm->ReadPage(id, page));  // each page whole: old or new, never torn
    ASSERT_TRUE(PageHolds(page, id, 1) || PageHolds(page, id, 2));
    kept += PageHolds(page, id, 2);
  }
  EXPECT_GT(kept, 0);
  EXPECT_LT(kept, 20);
}

TEST_P(FaultInjectionTest, TornWriteOfANeverSyncedPageIsDetected) {
  PageId id;
  {
    auto dm = Open();
    ASSERT_NE(dm, nullptr);
    PS_ASSIGN_OR_FAIL(allocated, dm->AllocatePage());
    id = allocated;
    PS_ASSERT_OK(dm->Sync());
    dm->TearNextWrite(1);
    alignas(kPageSize) Page page;
    FillPage(page, id, 1);
    PS_ASSERT_OK(dm->WritePage(id, page));
    PS_ASSERT_OK(dm->SimulatePowerLoss());
  }
  auto dm = Open(OpenMode::kOpenExisting);
  ASSERT_NE(dm, nullptr);
  alignas(kPageSize) Page page;
  EXPECT_TRUE(absl::IsDataLoss(dm->ReadPage(id, page)));
}

INSTANTIATE_TEST_SUITE_P(AllManagers, FaultInjectionTest, ::testing::ValuesIn(AllManagerKinds()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace pagestore::testing
