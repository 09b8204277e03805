// Catch2 2.x (Debian 12) and 3.x (newer systems) keep their macros in different headers. Tests include
// this file, never Catch2 directly, so each test file builds with either.
#pragma once
#include <string>
#if __has_include(<catch2/catch_test_macros.hpp>)
#include <catch2/catch_approx.hpp>
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers.hpp>         // CHECK_THAT, CHECK_THROWS_WITH with a matcher
#include <catch2/matchers/catch_matchers_string.hpp>  // ContainsSubstring
using Catch::Approx;
// A matcher for "the text contains this": Catch2 3 calls it ContainsSubstring, Catch2 2 Contains.
inline auto contains_text(const std::string& text) { return Catch::Matchers::ContainsSubstring(text); }
#else
#include <catch2/catch.hpp>
inline auto contains_text(const std::string& text) { return Catch::Matchers::Contains(text); }
#endif
