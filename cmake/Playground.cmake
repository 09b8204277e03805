# Playground.cmake: one line per lesson.
#
#   playground_lesson(async_vs_sync)            # in basics/CMakeLists.txt
#
# builds basics/async_vs_sync.cpp into the executable build/<preset>/basics/async_vs_sync and, when
# tests/basics/test_async_vs_sync.cpp exists, the Catch2 test executable build/<preset>/tests/test_async_vs_sync.
#
# The test file #includes the lesson's own source (with PLAYGROUND_NO_MAIN defined, so the lesson's main()
# drops out) and calls the lesson's functions: the tests check the code a learner reads, not a copy.
# Each TEST_CASE becomes its own CTest test, labelled with the lesson's folder; a TEST_CASE tagged
# [timing] (a claim that needs free cores, such as a CPU speedup) also gets the label `timing` and runs
# alone (RUN_SERIAL). A test that cannot run here (too few cores, a sanitizer that cannot follow it)
# prints a line starting with "SKIPPED:" and its reason, and ctest reports it as skipped, not passed.

# Warnings for our own code. Asio, fmt and Catch2 are system headers, so their warnings stay quiet.
add_library(playground_warnings INTERFACE)
target_compile_options(playground_warnings INTERFACE -Wall -Wextra -Wpedantic -Wshadow
                       $<$<BOOL:${PLAYGROUND_WERROR}>:-Werror>)

# The source folder as seen from the build folder ("../.." for build/<preset>). Programs that need a file
# of the source tree are given its path relative to the build folder and find it from their own path,
# so no absolute path is compiled in: every checkout compiles the same objects, and ccache serves a
# fresh clone.
file(RELATIVE_PATH PLAYGROUND_SOURCE_FROM_BUILD "${PROJECT_BINARY_DIR}" "${PROJECT_SOURCE_DIR}")

# The shared header (common/playground.hpp) and the libraries every lesson uses.
add_library(playground_common INTERFACE)
target_include_directories(playground_common INTERFACE ${PROJECT_SOURCE_DIR}/common)
target_link_libraries(playground_common INTERFACE Asio::Asio fmt::fmt Threads::Threads playground_warnings)

function(playground_lesson name)
  get_filename_component(folder "${CMAKE_CURRENT_SOURCE_DIR}" NAME)
  add_executable(${name} ${name}.cpp)
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${PROJECT_SOURCE_DIR}/tests/${folder}")
  target_link_libraries(${name} PRIVATE playground_common)

  set(test_source "${PROJECT_SOURCE_DIR}/tests/${folder}/test_${name}.cpp")
  if(PLAYGROUND_TESTS AND EXISTS "${test_source}")
    set(test_target test_${name})
    add_executable(${test_target} ${test_source})
    target_link_libraries(${test_target} PRIVATE playground_common Catch2::Catch2WithMain)
    target_include_directories(${test_target} PRIVATE ${PROJECT_SOURCE_DIR} ${PROJECT_SOURCE_DIR}/tests)
    # The lesson's program (a test runs it for flags, exit codes, signals) and tests/trace_check.py, as
    # paths relative to the build folder: tests/support.hpp finds them from the test program's own path
    # (LESSON_BINARY, TRACE_CHECK_SCRIPT).
    target_compile_definitions(${test_target} PRIVATE PLAYGROUND_NO_MAIN
                               LESSON_IN_BUILD="$<PATH:RELATIVE_PATH,$<TARGET_FILE:${name}>,${PROJECT_BINARY_DIR}>"
                               PYTHON3_EXECUTABLE="${Python3_EXECUTABLE}"
                               TRACE_CHECK_SCRIPT_IN_BUILD="${PLAYGROUND_SOURCE_FROM_BUILD}/tests/trace_check.py")
    set_target_properties(${test_target} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/tests)
    add_dependencies(${test_target} ${name})
    # Test names are prefixed with the lesson's name, so two lessons may use the same TEST_CASE name.
    catch_discover_tests(${test_target} TEST_SPEC "~[timing]" TEST_PREFIX "${name}/"
                         PROPERTIES LABELS "${folder}" TIMEOUT 60 SKIP_REGULAR_EXPRESSION "SKIPPED:")
    file(READ "${test_source}" test_text)
    if(test_text MATCHES "\\[timing\\]")
      # PROPERTIES cannot carry a list (catch_discover_tests flattens it), so the two labels of the
      # timing tests are set by a small script that ctest runs after discovering them.
      catch_discover_tests(${test_target} TEST_SPEC "[timing]" TEST_PREFIX "${name}/"
                           TEST_LIST ${test_target}_timing_tests
                           PROPERTIES TIMEOUT 120 RUN_SERIAL TRUE SKIP_REGULAR_EXPRESSION "SKIPPED:")
      set(label_script "${CMAKE_CURRENT_BINARY_DIR}/${test_target}_timing_labels.cmake")
      file(WRITE "${label_script}"
           "if(${test_target}_timing_tests)\n"
           "  set_tests_properties(\${${test_target}_timing_tests} PROPERTIES LABELS \"${folder};timing\")\n"
           "endif()\n")
      set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES "${label_script}")
    endif()
  endif()
endfunction()
