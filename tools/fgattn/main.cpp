// fgattn command-line tool: demo, analyze (subcommands registered in their own files).
#include <cstdio>

int main() {
  std::puts("fgattn: subcommands are being built");
  return 0;
}
