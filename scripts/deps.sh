#!/usr/bin/env bash
# Installs the Debian packages pagestore builds and tests with; a no-op when all are present.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  clang libclang-rt-14-dev
  libabsl-dev libfmt-dev libgtest-dev libgmock-dev libbenchmark-dev libxxhash-dev liburing-dev
  liblmdb-dev libcli11-dev librocksdb-dev libsqlite3-dev
  python3 python3-matplotlib
  fio
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

echo "deps: installing ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
