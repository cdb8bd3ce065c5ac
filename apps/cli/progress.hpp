#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "hyperalign/llm/client.hpp"

namespace hyperalign::cli {

// Draws progress on stderr: redrawn in place on a terminal, a line per quarter otherwise.
// Shows the step, k of n, the run's token throughput so far, and the time the step still needs
// at the rate it has gone since it started.
class ProgressPrinter {
  public:
    ProgressPrinter(const llm::Client* client, bool enabled);
    void operator()(std::string_view step, size_t done, size_t total);
    void finish();

  private:
    const llm::Client* client_;
    bool enabled_;
    bool tty_;
    std::string last_step_;
    size_t last_quarter_ = 0;
    bool line_open_ = false;
    std::chrono::steady_clock::time_point start_;
    std::chrono::steady_clock::time_point step_start_;
    size_t step_first_done_ = 0;  // `done` when the current step was first seen
};

}  // namespace hyperalign::cli
