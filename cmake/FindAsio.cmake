# FindAsio.cmake: standalone Asio (Debian/Ubuntu: libasio-dev) ships headers only and no CMake
# package, so this module finds the headers, reads their version, and makes the imported target
# Asio::Asio that lessons link to. Standalone means no Boost: ASIO_STANDALONE is defined, and Asio
# needs the platform's threads library.
#
# Sets Asio_FOUND, Asio_VERSION, Asio_INCLUDE_DIR; defines Asio::Asio.

find_path(Asio_INCLUDE_DIR NAMES asio.hpp asio/version.hpp)

if(Asio_INCLUDE_DIR AND EXISTS "${Asio_INCLUDE_DIR}/asio/version.hpp")
  # asio/version.hpp says e.g. `#define ASIO_VERSION 102201 // 1.22.1`
  file(STRINGS "${Asio_INCLUDE_DIR}/asio/version.hpp" _asio_version_line REGEX "^#define ASIO_VERSION [0-9]+")
  string(REGEX REPLACE "^#define ASIO_VERSION ([0-9]+).*" "\\1" _asio_version_number "${_asio_version_line}")
  math(EXPR _asio_major "${_asio_version_number} / 100000")
  math(EXPR _asio_minor "${_asio_version_number} / 100 % 1000")
  math(EXPR _asio_patch "${_asio_version_number} % 100")
  set(Asio_VERSION "${_asio_major}.${_asio_minor}.${_asio_patch}")
endif()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(Asio REQUIRED_VARS Asio_INCLUDE_DIR VERSION_VAR Asio_VERSION)

if(Asio_FOUND AND NOT TARGET Asio::Asio)
  find_package(Threads REQUIRED)
  add_library(Asio::Asio INTERFACE IMPORTED)
  set_target_properties(Asio::Asio PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${Asio_INCLUDE_DIR}"
    INTERFACE_COMPILE_DEFINITIONS "ASIO_STANDALONE"
    INTERFACE_LINK_LIBRARIES Threads::Threads)
  # Asio turns on co_await support only for compilers it recognises. Asio 1.22 looks for clang's old
  # <experimental/coroutine> header, which libstdc++ does not have, so with clang every coroutine lesson
  # fails ("no template named 'awaitable'"). Clang 14 and newer support C++20 coroutines, and newer Asio
  # releases (1.28 and later, as tested here) detect that; for older ones we say so ourselves.
  # (By hand: add -DASIO_HAS_CO_AWAIT=1 to the clang++ command.)
  if(CMAKE_CXX_COMPILER_ID MATCHES "Clang" AND Asio_VERSION VERSION_LESS 1.28)
    set_property(TARGET Asio::Asio APPEND PROPERTY INTERFACE_COMPILE_DEFINITIONS "ASIO_HAS_CO_AWAIT=1")
  endif()
  # Clang 16 and older miscompile a coroutine that reads a thread_local variable, suspends, and resumes
  # on another thread: the optimiser keeps the first thread's address of the variable across the
  # co_await (LLVM issue 63022, fixed in clang 17). Asio keeps its per-thread cache of recycled memory
  # (coroutine frames, operation state) in such a variable, so on an io_context run by several threads
  # one thread frees memory into another thread's cache: tcp_server_in_production --threads 2 under 250
  # clients crashed (segfault, double free) or hung in 10 runs out of 10 (clang 16 with Asio 1.30 or 1.38, -O2;
  # never at -O0, with g++ or with clang 19; ThreadSanitizer names the race).
  # ASIO_DISABLE_THREAD_KEYWORD_EXTENSION makes Asio reach that cache through pthread_getspecific(), a
  # call the optimiser cannot keep across a co_await, and the crash is gone.
  # (By hand: add -DASIO_DISABLE_THREAD_KEYWORD_EXTENSION to the clang++ command.)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 17)
    set_property(TARGET Asio::Asio APPEND PROPERTY INTERFACE_COMPILE_DEFINITIONS "ASIO_DISABLE_THREAD_KEYWORD_EXTENSION")
  endif()
endif()

mark_as_advanced(Asio_INCLUDE_DIR)
