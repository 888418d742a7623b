#pragma once
// Runs the analysis on loaded tensors and prints the table or JSON (and the plot), for demo and analyze alike.
#include "commands.h"
#include "fgattn/workload.h"
#include "report_output.h"

namespace fgattn::cli {

void run_report(const Qkv& qkv, ReportSource source, const ReportOptions& options);

}  // namespace fgattn::cli
