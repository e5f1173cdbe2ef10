#!/usr/bin/env python3
"""Checks the edge of pagestore's public API.

The public headers are the list PAGESTORE_PUBLIC_HEADERS in CMakeLists.txt (the only ones
`cmake --install` installs). A public header may include public headers only: an include of an
internal header would not compile against an install. Also checks that the list names existing
headers, and that the entry points an engine starts from are on it.

Usage: scripts/check_public_headers.py [SOURCE_DIR]   (exit 1 and a list of faults on failure)
"""
import os
import re
import sys

ENTRY_POINTS = ["wal/store.h", "index/catalog.h", "index/btree.h", "index/hash_index.h",
                "storage/disk_manager.h", "storage/logging.h"]
LAYERS = ("storage/", "buffer/", "wal/", "index/")


def public_headers(root):
    text = open(os.path.join(root, "CMakeLists.txt"), encoding="utf-8").read()
    m = re.search(r"set\(PAGESTORE_PUBLIC_HEADERS\s+([^)]*)\)", text)
    if not m:
        sys.exit("CMakeLists.txt: no set(PAGESTORE_PUBLIC_HEADERS ...)")
    return [h for h in m.group(1).split() if not h.startswith("#")]


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))
    public = public_headers(root)
    faults = []
    for h in ENTRY_POINTS:
        if h not in public:
            faults.append(f"entry point {h} is not in PAGESTORE_PUBLIC_HEADERS")
    for h in public:
        path = os.path.join(root, h)
        if not os.path.exists(path):
            faults.append(f"{h}: listed as public but does not exist")
            continue
        for n, line in enumerate(open(path, encoding="utf-8"), 1):
            if not re.match(r"\s*#\s*include\b", line):
                continue
            m = re.match(r'\s*#\s*include\s+["<]([^">]+)[">]', line)
            if not m:
                faults.append(f"{h}:{n}: an include that is not a literal name: {line.strip()}")
            elif m.group(1).startswith(LAYERS) and m.group(1) not in public:
                faults.append(f"{h}:{n}: public header includes internal {m.group(1)}")
    for f in faults:
        print(f)
    if not faults:
        print(f"{len(public)} public headers; each includes public headers only")
    return 1 if faults else 0


if __name__ == "__main__":
    sys.exit(main())
