#pragma once
// Runs the fgattn command-line tool (FGATTN_CLI_PATH, set by tests/CMakeLists.txt) and captures its exit code and
// output, for the end-to-end CLI tests.
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

namespace fgattn::testutil {

struct CliResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together unless stdout_only
};

inline CliResult run_cli(const std::string& args, bool stdout_only = false) {
  const std::string command = std::string(FGATTN_CLI_PATH) + " " + args + (stdout_only ? " 2>/dev/null" : " 2>&1");
  CliResult r;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return r;
  std::array<char, 4096> buffer{};
  while (fgets(buffer.data(), static_cast<int>(buffer.size()), pipe) != nullptr) r.output += buffer.data();
  const int status = pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

}  // namespace fgattn::testutil
