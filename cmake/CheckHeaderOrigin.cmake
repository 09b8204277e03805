# CheckHeaderOrigin.cmake: run as a test (cmake -P) in builds that use another copy of Asio than the
# system's (the compat presets). The system's Asio stays installed, and /usr/include is searched after
# the chosen copy, so a header that the chosen release lacks would silently come from the system: the
# build would then prove nothing about that release. Ninja records every header each object file was
# compiled from (`ninja -t deps`); this fails when any of them lies under FORBIDDEN_DIR, and also when
# no object depends on a header under EXPECTED_DIR (so the check cannot pass on an empty build).
#
#   cmake -DNINJA=ninja -DBUILD_DIR=build/x -DFORBIDDEN_DIR=/usr/include/asio -DEXPECTED_DIR=/path/include/asio
#         -P CheckHeaderOrigin.cmake
execute_process(COMMAND "${NINJA}" -C "${BUILD_DIR}" -t deps OUTPUT_VARIABLE deps RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "'${NINJA} -t deps' failed in ${BUILD_DIR}")
endif()
string(REPLACE "\n" ";" lines "${deps}")
set(object "")
set(offenders "")
set(expected_hits 0)
foreach(line IN LISTS lines)
  if(line MATCHES "^([^ ].*): #deps")  # "basics/CMakeFiles/x.dir/x.cpp.o: #deps 812, deps mtime ..."
    set(object "${CMAKE_MATCH_1}")
  elseif(line MATCHES "^    (.*)$")  # one header of that object
    get_filename_component(header "${CMAKE_MATCH_1}" REALPATH)
    if(header MATCHES "^${FORBIDDEN_DIR}/")
      list(APPEND offenders "${object}: ${header}")
    elseif(header MATCHES "^${EXPECTED_DIR}/")
      math(EXPR expected_hits "${expected_hits} + 1")
    endif()
  endif()
endforeach()
list(LENGTH offenders count)
if(count GREATER 0)
  list(SUBLIST offenders 0 10 shown)
  string(REPLACE ";" "\n  " shown "${shown}")
  message(FATAL_ERROR "${count} header dependencies come from ${FORBIDDEN_DIR}, not from ${EXPECTED_DIR} "
                      "(the first ones):\n  ${shown}")
endif()
if(expected_hits EQUAL 0)
  message(FATAL_ERROR "no object depends on a header under ${EXPECTED_DIR}: nothing was checked")
endif()
message(STATUS "${expected_hits} header dependencies from ${EXPECTED_DIR}, none from ${FORBIDDEN_DIR}")
