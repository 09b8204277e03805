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
endif()

mark_as_advanced(Asio_INCLUDE_DIR)
