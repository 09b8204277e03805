#!/usr/bin/env bash
# Installs everything the playground needs to build and run its tests, from the system's packages.
#
#   Debian 12 / Ubuntu 24.04:  bash cmake/install-dependencies.sh           (uses sudo when not root)
#   ... and clang 16 too:      bash cmake/install-dependencies.sh --clang   (for the `clang` and
#                              `asio-1.38-clang` presets; Debian 12's clang-16 package)
#   ... and a headless browser: bash cmake/install-dependencies.sh --browser (Chromium, for the test that
#                              checks the `--html` timeline page; without it that test prints SKIPPED)
#   ... and debugging tools:   bash cmake/install-dependencies.sh --debug-tools (gdb, strace, perf:
#                              docs/debugging.md)
#   ... and the watcher's:     bash cmake/install-dependencies.sh --watch (inotifywait, so that
#                              exercises/tools/watch.sh sees saves at once; tmux for its test)
# Options can be combined: bash cmake/install-dependencies.sh --clang --browser
#
# Other systems: docs/where-it-runs.md lists the same packages for Fedora, Arch and Homebrew.
# Linux only (fork, robust process-shared mutexes, /proc); on macOS or Windows use a Linux VM or WSL2.
set -euo pipefail

packages=(
  g++            # C++20 compiler with coroutines (g++ 12 is the oldest tested)
  cmake          # 3.25 or newer, for `cmake --workflow`
  ninja-build    # the build tool the presets use
  ccache         # makes rebuilds near-instant
  libasio-dev    # standalone Asio (headers only), 1.22 or newer (Ubuntu 22.04's 1.18 is too old)
  libfmt-dev     # {fmt}, for printing
  catch2         # Catch2 2.13 (Debian 12) or 3.x: the test framework
  python3        # the networking interoperability tests talk to Python's asyncio
)

for option in "$@"; do
  case "$option" in
    --clang) packages+=(clang-16) ;;                   # clang 16 with the system's libstdc++
    --browser) packages+=(chromium-headless-shell) ;;  # Chromium without a window, for tests/browser_check.py
    --debug-tools) packages+=(gdb strace linux-perf) ;;  # docs/debugging.md (perf: Debian's name)
    --watch) packages+=(inotify-tools tmux) ;;           # exercises/tools/watch.sh: file events; its test
    *) echo "usage: bash cmake/install-dependencies.sh [--clang] [--browser] [--debug-tools] [--watch]" >&2; exit 2 ;;
  esac
done

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-dependencies: this script uses apt-get (Debian/Ubuntu)." >&2
  echo "Elsewhere install: a C++20 compiler, cmake >= 3.25, ninja, ccache, asio, fmt, catch2, python3" >&2
  echo "(docs/where-it-runs.md has the commands for Fedora, Arch and Homebrew)." >&2
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
