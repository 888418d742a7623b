#pragma once
// error_of(fn): the message of the fgattn::Error that fn throws, for asserting on what a rejection says.
#include <gtest/gtest.h>

#include <exception>
#include <functional>
#include <string>

#include "fgattn/error.h"

namespace fgattn::testutil {

// The message of the fgattn::Error fn throws ("no error" if none; any other exception fails the test).
inline std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not an fgattn::Error: " << e.what();
    return "other exception";
  }
  return "no error";
}

}  // namespace fgattn::testutil
