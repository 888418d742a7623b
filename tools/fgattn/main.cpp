// fgattn: the command-line tool. Errors print one line and exit non-zero: 2 for bad usage, 1 for bad input data.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <iostream>

#include "commands.h"
#include "fgattn/error.h"

int main(int argc, char** argv) {
  CLI::App app{"fgattn: fine-grained (M x 1) sparse attention for video diffusion transformers"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "fgattn 0.1.0");
  fgattn::cli::add_demo_command(app);
  fgattn::cli::add_analyze_command(app);
  fgattn::cli::add_predict_command(app);
  fgattn::cli::add_bench_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    std::cerr << "fgattn: error: " << e.what() << " (see fgattn --help)\n";
    return 2;
  } catch (const fgattn::Error& e) {
    std::cerr << "fgattn: error: " << e.what() << "\n";
    return 1;
  } catch (const std::bad_alloc&) {
    std::cerr << "fgattn: error: out of memory\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "fgattn: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
