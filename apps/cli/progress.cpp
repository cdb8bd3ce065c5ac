#include "progress.hpp"

#include <unistd.h>

#include <cstdio>

#include <fmt/format.h>

namespace hyperalign::cli {

ProgressPrinter::ProgressPrinter(const llm::Client* client, bool enabled)
    : client_(client),
      enabled_(enabled),
      tty_(isatty(STDERR_FILENO) == 1),
      start_(std::chrono::steady_clock::now()) {}

void ProgressPrinter::operator()(std::string_view step, size_t done, size_t total) {
    if (!enabled_)
        return;
    const bool new_step = step != last_step_;
    const size_t quarter = total > 0 ? done * 4 / total : 4;
    if (!tty_ && !new_step && quarter == last_quarter_ && done != total)
        return;

    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    double tokens = 0;
    if (client_ != nullptr) {
        auto t = client_->accounting().total();
        tokens = double(t.tokens_prompt + t.tokens_completion);
    }
    std::string line =
        fmt::format("[{}] {}/{}  {:.0f} tok/s", step, done, total, secs > 0 ? tokens / secs : 0.0);
    if (tty_) {
        if (new_step && line_open_)
            std::fputc('\n', stderr);
        fmt::print(stderr, "\r{:<72}", line);
        line_open_ = true;
    } else {
        fmt::print(stderr, "{}\n", line);
    }
    std::fflush(stderr);
    last_step_ = std::string(step);
    last_quarter_ = quarter;
}

void ProgressPrinter::finish() {
    if (enabled_ && tty_ && line_open_)
        std::fputc('\n', stderr);
    line_open_ = false;
}

}  // namespace hyperalign::cli
