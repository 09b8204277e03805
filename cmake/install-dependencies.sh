#!/usr/bin/env bash
# Installs everything the playground needs to build and run its tests, from the system's packages.
#
#   Debian 12 / Ubuntu 22.04+:  bash cmake/install-dependencies.sh   (uses sudo when not root)
#
# Other systems (install the same things, then run `cmake --workflow --preset default`):
#   Fedora:   sudo dnf install gcc-c++ cmake ninja-build ccache asio-devel fmt-devel catch2-devel python3
#   Homebrew: brew install cmake ninja ccache asio fmt catch2 python
#             (macOS has no gettid and no MAP_ANONYMOUS shared-atomic guarantees; the lessons target Linux.)
set -euo pipefail

packages=(
  g++            # C++20 compiler with coroutines (g++ 12 or newer: the version tested)
  cmake          # 3.25 or newer, for `cmake --workflow`
  ninja-build    # the build tool the presets use
  ccache         # makes rebuilds near-instant
  libasio-dev    # standalone Asio (headers only), 1.22 or newer
  libfmt-dev     # {fmt}, for printing
  catch2         # Catch2 2.13 (Debian 12) or 3.x: the test framework
  python3        # the networking interoperability tests talk to Python's asyncio
)

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-dependencies: this script uses apt-get (Debian/Ubuntu)." >&2
  echo "Elsewhere install: a C++20 compiler, cmake >= 3.25, ninja, ccache, asio, fmt, catch2, python3" >&2
  echo "(see the top of this script for Fedora and Homebrew commands)." >&2
  exit 1
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi

export DEBIAN_FRONTEND=noninteractive
echo "install-dependencies: apt-get install ${packages[*]}"
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null

# cmake --workflow appeared in CMake 3.25: say so plainly on an older system.
cmake_version=$(cmake --version | head -n1 | awk '{print $3}')
if [ "$(printf '%s\n3.25\n' "$cmake_version" | sort -V | head -n1)" != "3.25" ]; then
  echo "install-dependencies: CMake $cmake_version is too old; 3.25 or newer is needed (pip install cmake works)." >&2
  exit 1
fi
echo "install-dependencies: done (g++ $(g++ -dumpversion), cmake $cmake_version)"
