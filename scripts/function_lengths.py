#!/usr/bin/env python3
"""Lists the longest functions in C++ sources (a brace-counting reading, no compiler).

Usage: scripts/function_lengths.py [--max N] [--max-file-lines M] FILE...
Prints every function longer than N lines (default: the 10 longest) as
`lines  file:line  signature`, and every file longer than M lines; exits 1 if a limit given is
exceeded. scripts/test.sh holds the library (storage/ buffer/ wal/ index/) to 120 and 800.
A function is a brace block opened outside any function at namespace level, or directly inside
a class or struct; lambdas and nested blocks count toward the function that holds them.
"""
import argparse
import re
import sys

CONTROL = re.compile(r"^\s*(if|for|while|switch|catch|do|else|try)\b")
RECORD = re.compile(r"\b(class|struct|union|enum)\b[^;()]*$")
NAMESPACE = re.compile(r"\b(namespace|extern\s+\"C\")\b[^;()]*$")


def strip(text):
    """Comments and string/char literals blanked, line structure kept."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append("\n" * text.count("\n", i, j))
            i = j
        elif text.startswith('R"', i):
            m = re.match(r'R"([^(]*)\(', text[i:])
            end = text.find(")" + m.group(1) + '"', i) if m else -1
            j = n if end < 0 else end + len(m.group(1)) + 2
            out.append('""' + "\n" * text.count("\n", i, j))
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(c + c)
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def functions(path):
    text = strip(open(path, encoding="utf-8", errors="replace").read())
    # stack of (kind, start_line, header) for open braces; kind: ns, record, func, block
    stack, header, line, found = [], "", 1, []
    for c in text:
        if c == "\n":
            line += 1
            header += " "
            continue
        if c == "{":
            kind = "block"
            h = header.strip()
            inside_func = any(k == "func" for k, _, _ in stack)
            if not inside_func:
                if NAMESPACE.search(h):
                    kind = "ns"
                elif RECORD.search(h) and "(" not in h.split("{")[-1]:
                    kind = "record"
                elif ")" in h and not CONTROL.match(h) and "=" not in h.rsplit(")", 1)[-1]:
                    kind = "func"
            stack.append((kind, line, " ".join(h.split())[-100:]))
            header = ""
        elif c == "}":
            if stack:
                kind, start, h = stack.pop()
                if kind == "func":
                    found.append((line - start + 1, path, start, h))
            header = ""
        elif c == ";":
            header = ""
        else:
            header += c
    return found


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--max", type=int)
    ap.add_argument("--max-file-lines", type=int)
    ap.add_argument("files", nargs="+")
    args = ap.parse_args()
    found = sorted((f for p in args.files for f in functions(p)), reverse=True)
    shown = [f for f in found if f[0] > args.max] if args.max else found[:10]
    for n, path, start, h in shown:
        print(f"{n:5d}  {path}:{start}  {h}")
    long_files = []
    if args.max_file_lines:
        for p in args.files:
            n = sum(1 for _ in open(p, encoding="utf-8", errors="replace"))
            if n > args.max_file_lines:
                long_files.append(p)
                print(f"{n:5d}  {p}  (file longer than {args.max_file_lines} lines)")
    return 1 if (args.max and shown) or long_files else 0


if __name__ == "__main__":
    sys.exit(main())
