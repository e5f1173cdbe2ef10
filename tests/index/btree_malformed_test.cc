// Malformed B+tree pages whose checksum is right (a bug in an engine, a crafted file): every
// operation that reaches one answers DataLossError naming the page, and none hangs, crashes,
// reads or writes outside the page, or damages another page. Built on the memory disk manager
// (the checks sit above the disk manager; tests/index/btree_test.cc runs the trees on files).
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <string>

#include "index/btree.h"
#include "index/catalog.h"
#include "tests/wal/wal_test_util.h"

namespace pagestore::testing {
namespace {

StoreOptions Options() {
  StoreOptions o = SmallStoreOptions();
  o.pool_frames = 512;
  o.undo_handlers[kBTreeResourceManager] = BTreeUndoHandler();
  return o;
}

std::string Key(int i) { return fmt::format("key{:06d}", i); }
std::string Value(int i) { return std::string(150, static_cast<char>('a' + i % 26)); }

struct Built {
  PageId anchor = kInvalidPageId;
  std::map<std::string, std::string> model;
  std::vector<PageId> leaves;     // in key order
  std::vector<PageId> internals;  // root first, then level by level
  std::uint32_t height = 0;
};

// A tree of `n` keys (height 2 from ~15,000 keys of 100-byte values), closed cleanly.
void Build(SimulatedStore& sim, int n, Built* out) {
  PS_ASSIGN_OR_FAIL(store, sim.Open());
  PS_ASSIGN_OR_FAIL(tree, BTree::Create(*store));
  for (int i = 0; i < n; ++i) {
    std::string v(100, static_cast<char>('a' + i % 26));
    PS_ASSERT_OK(tree->Put(nullptr, Key(i), v));
    out->model[Key(i)] = v;
  }
  PS_ASSERT_OK(tree->Verify());
  out->anchor = tree->anchor();
  {
    PS_ASSIGN_OR_FAIL(a, store->pool().ReadPage(out->anchor));
    const BTreeAnchorView view = ReadBTreeAnchor(a.data());
    out->height = view.height;
    std::vector<PageId> level{view.root};
    while (!level.empty()) {
      std::vector<PageId> next;
      for (PageId id : level) {
        PS_ASSIGN_OR_FAIL(g, store->pool().ReadPage(id));
        const Node node(const_cast<std::byte*>(g.data().data()));
        if (node.is_leaf()) {
          out->leaves.push_back(id);
          continue;
        }
        out->internals.push_back(id);
        next.push_back(node.leftmost_child());
        for (std::size_t i = 0; i < node.count(); ++i) next.push_back(node.child(i));
      }
      level = std::move(next);
    }
  }
  PS_ASSERT_OK(store->Close());
  sim.Reboot();
}

// Changes page `id` of the closed store's file and reseals it: the checksum is right.
template <typename F>
void Damage(SimulatedStore& sim, PageId id, F&& change) {
  std::byte* p = sim.file().MutablePage(id);
  change(p);
  SealPage(id, PageSpan(p, kPageSize));
}

void Put16(std::byte* p, std::size_t off, std::uint16_t v) { std::memcpy(p + off, &v, 2); }

#define EXPECT_DATA_LOSS_NAMING(expr, page)                                                   \
  do {                                                                                        \
    const absl::Status _s = (expr);                                                           \
    EXPECT_TRUE(absl::IsDataLoss(_s)) << _s;                                                  \
    EXPECT_NE(std::string(_s.message()).find(std::to_string(page)), std::string::npos) << _s; \
  } while (0)

// Every key read back: right value, or DataLoss; `damaged` keys may fail, others must not.
void ExpectOthersIntact(const BTree& tree, const std::map<std::string, std::string>& model,
                        const std::string& lo, const std::string& hi) {
  for (const auto& [k, v] : model) {
    absl::StatusOr<std::string> got = tree.Get(k);
    if (k >= lo && k <= hi) {
      if (got.ok()) {
        EXPECT_EQ(*got, v) << k;
      }
      continue;
    }
    ASSERT_TRUE(got.ok()) << k << ": " << got.status();
    EXPECT_EQ(*got, v) << k;
  }
}

// Defect: an internal node whose child is itself made Get loop forever.
TEST(BTreeMalformedTest, AnInternalNodeWhoseChildIsItselfIsDataLoss) {
  SimulatedStore sim(Options());
  Built b;
  ASSERT_NO_FATAL_FAILURE(Build(sim, 15000, &b));
  ASSERT_GE(b.height, 2u);
  const PageId root = b.internals.front();
  Damage(sim, root, [&](std::byte* p) { Node(p).set_child(0, root); });
  PS_ASSIGN_OR_FAIL(store, sim.Open());
  PS_ASSIGN_OR_FAIL(tree, BTree::Open(*store, b.anchor));
  // A key under child 0 of the root.
  std::string key;
  {
    PS_ASSIGN_OR_FAIL(g, store->pool().ReadPage(root));
    key = std::string(Node(const_cast<std::byte*>(g.data().data())).key(0));
  }
  EXPECT_DATA_LOSS_NAMING(tree->Get(key).status(), root);
  EXPECT_DATA_LOSS_NAMING(tree->Put(nullptr, key, "x"), root);
  EXPECT_DATA_LOSS_NAMING(tree->Verify(), root);
}

// The same loop one level down: a level-1 node pointing back at the root (levels must fall by
// one at each step, which the node's own check cannot see).
TEST(BTreeMalformedTest, AChildPointingAtAnAncestorIsDataLoss) {
  SimulatedStore sim(Options());
  Built b;
  ASSERT_NO_FATAL_FAILURE(Build(sim, 15000, &b));
  ASSERT_GE(b.height, 2u);
  const PageId root = b.internals.front();
  const PageId inner = b.internals[1];
  Damage(sim, inner, [&](std::byte* p) { Node(p).set_leftmost_child(root); });
  PS_ASSIGN_OR_FAIL(store, sim.Open());
  PS_ASSIGN_OR_FAIL(tree, BTree::Open(*store, b.anchor));
  EXPECT_DATA_LOSS_NAMING(tree->Get(b.model.begin()->first).status(), root);
  auto it = tree->Begin();
  for (int n = 0; it.Valid() && n < 1'000'000; ++n) it.Next();
  EXPECT_FALSE(it.Valid());
  EXPECT_TRUE(absl::IsDataLoss(it.status())) << it.status();
  EXPECT_TRUE(absl::IsDataLoss(tree->Verify()));
}

// Defect: a leaf whose right sibling is itself made a forward scan endless.
TEST(BTreeMalformedTest, ALeafWhoseRightSiblingIsItselfEndsTheScanWithDataLoss) {
  SimulatedStore sim(Options());
  Built b;
  ASSERT_NO_FATAL_FAILURE(Build(sim, 3000, &b));
  ASSERT_GE(b.leaves.size(), 3u);
  const PageId leaf = b.leaves[1];
  Damage(sim, leaf, [&](std::byte* p) { Node(p).set_right(leaf); });
  PS_ASSIGN_OR_FAIL(store, sim.Open());
  PS_ASSIGN_OR_FAIL(tree, BTree::Open(*store, b.anchor));
  std::size_t seen = 0;
  auto it = tree->Begin();
  for (; it.Valid() && seen <= b.model.size(); it.Next()) ++seen;
  EXPECT_LE(seen, b.model.size());
  EXPECT_DATA_LOSS_NAMING(it.status(), leaf);
  EXPECT_DATA_LOSS_NAMING(tree->Verify(), leaf);
}

// A leaf chain that jumps back to an earlier leaf (a cycle through several pages).
TEST(BTreeMalformedTest, ALeafChainThatJumpsBackEndsTheScanWithDataLoss) {
  SimulatedStore sim(Options());
  Built b;
  ASSERT_NO_FATAL_FAILURE(Build(sim, 3000, &b));
  ASSERT_GE(b.leaves.size(), 4u);
  const PageId back_to = b.leaves[0];
  const PageId leaf = b.leaves[2];
  Damage(sim, leaf, [&](std::byte* p) { Node(p).set_right(back_to); });
  PS_ASSIGN_OR_FAIL(store, sim.Open());
  PS_ASSIGN_OR_FAIL(tree, BTree::Open(*store, b.anchor));
  std::size_t seen = 0;
  auto it = tree->Begin();
  std::string last;
  for (; it.Valid() && seen <= b.model.size(); it.Next(), ++seen) {
    ASSERT_TRUE(seen == 0 || std::string(it.key()) > last) << "the scan went back";
    last = std::string(it.key());
  }
  EXPECT_TRUE(absl::IsDataLoss(it.status())) << it.status();
  EXPECT_DATA_LOSS_NAMING(tree->Verify(), leaf);
}

// Defect: a leaf with count 0xffff returned garbage from outside the page, and the next write
// wrote outside the page into other frames.
TEST(BTreeMalformedTest, ALeafWithAHugeCountIsRefusedAndDamagesNothingElse) {
  SimulatedStore sim(Options());
  Built b;
  ASSERT_NO_FATAL_FAILURE(Build(sim, 3000, &b));
  const PageId leaf = b.leaves[1];
  std::string lo, hi;
  {
    const Node n(sim.file().MutablePage(leaf));
    lo = std::string(n.key(0));
    hi = std::string(n.key(n.count() - 1));
  }
  Damage(sim, leaf, [&](std::byte* p) { Put16(p, 32, 0xffff); });
  PS_ASSIGN_OR_FAIL(store, sim.Open());
  PS_ASSIGN_OR_FAIL(tree, BTree::Open(*store, b.anchor));
  EXPECT_DATA_LOSS_NAMING(tree->Get(lo).status(), leaf);
  EXPECT_DATA_LOSS_NAMING(tree->Put(nullptr, lo, std::string(200, 'z')), leaf);
  EXPECT_DATA_LOSS_NAMING(tree->Insert(nullptr, lo + "0", "new"), leaf);
  EXPECT_DATA_LOSS_NAMING(tree->Delete(nullptr, hi), leaf);
  auto it = tree->Scan(lo);
  EXPECT_FALSE(it.Valid());
  EXPECT_DATA_LOSS_NAMING(it.status(), leaf);
  // Nothing else changed: every other key reads back, the store closes and reopens, and Verify
  // names the one damaged page.
  ASSERT_NO_FATAL_FAILURE(ExpectOthersIntact(*tree, b.model, lo, hi));
  PS_ASSERT_OK(tree->Put(nullptr, "zzz-after", "still writable"));
  tree.reset();
  PS_ASSERT_OK(store->Close());
  sim.Reboot();
  PS_ASSIGN_OR_FAIL(again, sim.Open());
  PS_ASSIGN_OR_FAIL(tree2, BTree::Open(*again, b.anchor));
  EXPECT_DATA_LOSS_NAMING(tree2->Verify(), leaf);
  ASSERT_NO_FATAL_FAILURE(ExpectOthersIntact(*tree2, b.model, lo, hi));
  EXPECT_EQ(*tree2->Get("zzz-after"), "still writable");
}

// Defect: a slot offset past the page, or a key length of 0xffff, read outside the page in
// LowerBound, and Verify passed the page.
TEST(BTreeMalformedTest, BadSlotOffsetsAndLengthsAreRefusedByEveryReaderAndByVerify) {
  struct Case {
    const char* name;
    std::function<void(std::byte*)> damage;
  };
  const std::vector<Case> cases = {
      {"slot past the page", [](std::byte* p) { Put16(p, kNodeHeaderEnd + 2, 4094); }},
      {"slot into the slot array", [](std::byte* p) { Put16(p, kNodeHeaderEnd + 2, 40); }},
      {"key length 0xffff",
       [](std::byte* p) {
         std::uint16_t off;
         std::memcpy(&off, p + kNodeHeaderEnd + 4, 2);
         Put16(p, off, 0xffff);
       }},
      {"value length 0xffff",
       [](std::byte* p) {
         std::uint16_t off;
         std::memcpy(&off, p + kNodeHeaderEnd + 4, 2);
         Put16(p, off + 2, 0xffff);
       }},
      {"two slots naming one cell",
       [](std::byte* p) {
         std::uint16_t off;
         std::memcpy(&off, p + kNodeHeaderEnd, 2);
         Put16(p, kNodeHeaderEnd + 2, off);
       }},
      {"cell area start past the page", [](std::byte* p) { Put16(p, 36, 0xfff0); }},
      {"keys out of order",
       [](std::byte* p) {
         std::uint16_t a, c;
         std::memcpy(&a, p + kNodeHeaderEnd, 2);
         std::memcpy(&c, p + kNodeHeaderEnd + 2, 2);
         Put16(p, kNodeHeaderEnd, c);
         Put16(p, kNodeHeaderEnd + 2, a);
       }},
      {"a leaf typed as an internal node",
       [](std::byte* p) {
         PageHeader h = ReadPageHeader(ConstPageSpan(p, kPageSize));
         h.type = static_cast<std::uint16_t>(PageType::kBTreeInternal);
         WritePageHeader(PageSpan(p, kPageSize), h);
       }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    SimulatedStore sim(Options());
    Built b;
    ASSERT_NO_FATAL_FAILURE(Build(sim, 3000, &b));
    const PageId leaf = b.leaves[1];
    std::string lo, hi;
    {
      const Node n(sim.file().MutablePage(leaf));
      lo = std::string(n.key(0));
      hi = std::string(n.key(n.count() - 1));
    }
    Damage(sim, leaf, c.damage);
    PS_ASSIGN_OR_FAIL(store, sim.Open());
    PS_ASSIGN_OR_FAIL(tree, BTree::Open(*store, b.anchor));
    EXPECT_DATA_LOSS_NAMING(tree->Verify(), leaf);
    EXPECT_DATA_LOSS_NAMING(tree->Get(hi).status(), leaf);
    EXPECT_DATA_LOSS_NAMING(tree->Put(nullptr, hi, "v"), leaf);
    ASSERT_NO_FATAL_FAILURE(ExpectOthersIntact(*tree, b.model, lo, hi));
  }
}

// Defect: an internal root with level 0 was taken for a leaf by a transactional Put, whose
// abort then failed, and every later open failed in recovery. Now the Put fails, the abort
// succeeds, and the store reopens.
TEST(BTreeMalformedTest, AnInternalRootWithLevelZeroFailsThePutAndTheStoreStaysUsable) {
  SimulatedStore sim(Options());
  Built b;
  ASSERT_NO_FATAL_FAILURE(Build(sim, 15000, &b));
  const PageId root = b.internals.front();
  Damage(sim, root, [&](std::byte* p) { Put16(p, 38, 0); });
  {
    PS_ASSIGN_OR_FAIL(store, sim.Open());
    PS_ASSIGN_OR_FAIL(tree, BTree::Open(*store, b.anchor));
    PS_ASSIGN_OR_FAIL(txn, store->Begin());
    EXPECT_DATA_LOSS_NAMING(tree->Put(txn.get(), "newkey", "v"), root);
    PS_ASSERT_OK(txn->Abort());
    PS_ASSERT_OK(store->Close());
  }
  sim.Reboot();
  PS_ASSIGN_OR_FAIL(store, sim.Open());
  PS_ASSIGN_OR_FAIL(tree, BTree::Open(*store, b.anchor));
  EXPECT_DATA_LOSS_NAMING(tree->Get(b.model.begin()->first).status(), root);
}

// The anchor's height disagreeing with the root's level.
TEST(BTreeMalformedTest, AnAnchorWhoseHeightDisagreesWithTheRootIsDataLoss) {
  SimulatedStore sim(Options());
  Built b;
  ASSERT_NO_FATAL_FAILURE(Build(sim, 15000, &b));
  Damage(sim, b.anchor, [&](std::byte* p) {
    const std::uint32_t h = 7;
    std::memcpy(p + kPageHeaderSize + 8, &h, 4);
  });
  PS_ASSIGN_OR_FAIL(store, sim.Open());
  PS_ASSIGN_OR_FAIL(tree, BTree::Open(*store, b.anchor));
  EXPECT_TRUE(absl::IsDataLoss(tree->Get(b.model.begin()->first).status()));
  EXPECT_TRUE(absl::IsDataLoss(tree->Put(nullptr, "k", "v")));
  EXPECT_TRUE(absl::IsDataLoss(tree->Verify()));
}

// Defect: a damaged catalog leaf made OpenBTree answer NotFound, and CreateBTree wrote into the
// damaged page.
TEST(BTreeMalformedTest, ADamagedCatalogLeafIsDataLossAndIsNotWritten) {
  SimulatedStore sim(Options());
  PageId catalog_leaf = kInvalidPageId;
  {
    PS_ASSIGN_OR_FAIL(store, sim.Open());
    PS_ASSIGN_OR_FAIL(catalog, Catalog::Open(*store));
    PS_ASSIGN_OR_FAIL(users, catalog->CreateBTree("users"));
    PS_ASSERT_OK(users->Put(nullptr, "a", "1"));
    PS_ASSIGN_OR_FAIL(a, store->pool().ReadPage(catalog->tree().anchor()));
    catalog_leaf = ReadBTreeAnchor(a.data()).root;
    a.Release();
    PS_ASSERT_OK(store->Close());
  }
  sim.Reboot();
  Damage(sim, catalog_leaf, [](std::byte* p) {
    std::memset(p + kPageHeaderSize, 0, kPageSize - kPageHeaderSize);  // a zeroed body
  });
  std::vector<std::byte> before(sim.file().MutablePage(catalog_leaf),
                                sim.file().MutablePage(catalog_leaf) + kPageSize);
  {
    PS_ASSIGN_OR_FAIL(store, sim.Open());
    PS_ASSIGN_OR_FAIL(catalog, Catalog::Open(*store));
    EXPECT_DATA_LOSS_NAMING(catalog->OpenBTree("users").status(), catalog_leaf);
    EXPECT_DATA_LOSS_NAMING(catalog->OpenHash("users").status(), catalog_leaf);
    EXPECT_DATA_LOSS_NAMING(catalog->CreateBTree("other").status(), catalog_leaf);
    PS_ASSERT_OK(store->Close());
  }
  EXPECT_EQ(std::memcmp(before.data(), sim.file().MutablePage(catalog_leaf), kPageSize), 0)
      << "the damaged catalog page was written";
}

// An internal node naming one child twice: a delete must not merge that child with itself and
// free it while the parent still names it.

TEST(BTreeMalformedTest, AnInternalNodeNamingOneChildTwiceIsDataLossNotASelfMerge) {
  SimulatedStore sim(Options());
  PageId anchor, root, dup;
  std::string lo, hi;  // the keys of the duplicated child
  std::map<std::string, std::string> model;
  {
    PS_ASSIGN_OR_FAIL(store, sim.Open());
    PS_ASSIGN_OR_FAIL(tree, BTree::Create(*store));
    for (int i = 0; i < 600; ++i) {
      PS_ASSERT_OK(tree->Put(nullptr, Key(i), Value(i)));
      model[Key(i)] = Value(i);
    }
    anchor = tree->anchor();
    PS_ASSIGN_OR_FAIL(a, store->pool().ReadPage(anchor));
    const BTreeAnchorView v = ReadBTreeAnchor(a.data());
    ASSERT_EQ(v.height, 1u) << "premise: a root over leaves";
    root = v.root;
    PS_ASSIGN_OR_FAIL(g, store->pool().ReadPage(root));
    const Node n(const_cast<std::byte*>(g.data().data()));
    ASSERT_GE(n.count(), 3u);
    dup = n.child(0);
    lo = std::string(n.key(0));
    hi = std::string(n.key(1));
    g.Release();
    a.Release();
    PS_ASSERT_OK(store->Close());
  }
  sim.Reboot();
  // Child 1 becomes child 0's page as well: both separators 0 and 1 lead to page `dup`.
  {
    std::byte* p = sim.file().MutablePage(root);
    Node n(p);
    n.set_child(1, dup);
    SealPage(root, PageSpan(p, kPageSize));
  }
  PS_ASSIGN_OR_FAIL(store, sim.Open());
  PS_ASSIGN_OR_FAIL(tree, BTree::Open(*store, anchor));
  // Delete the keys of page `dup` (those in [lo, hi)) until it underflows and merges.
  absl::Status last;
  int deleted = 0;
  for (const auto& [k, v] : model) {
    if (k < lo || k >= hi) continue;
    last = tree->Delete(nullptr, k);
    if (!last.ok()) break;
    ++deleted;
  }
  EXPECT_TRUE(absl::IsDataLoss(last)) << "after " << deleted << " deletes: " << last;
  std::vector<PageId> free = store->FreePages();
  EXPECT_FALSE(std::binary_search(free.begin(), free.end(), dup))
      << "page " << dup << " is on the free list while the root still names it";
  EXPECT_TRUE(absl::IsDataLoss(tree->Verify()));
}

}  // namespace
}  // namespace pagestore::testing
