#include "progress.hpp"

#include <unistd.h>

#include <cstdio>

#include <fmt/format.h>

namespace hyperalign::cli {

namespace {

// "42s", "3m05s" or "1h02m".
std::string short_duration(double seconds) {
    const auto s = static_cast<long long>(seconds + 0.5);
    if (s < 60)
        return fmt::format("{}s", s);
    if (s < 3600)
        return fmt::format("{}m{:02}s", s / 60, s % 60);
    return fmt::format("{}h{:02}m", s / 3600, s % 3600 / 60);
}

}  // namespace

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

    const auto now = std::chrono::steady_clock::now();
    if (new_step || done < step_first_done_) {
        step_start_ = now;
        step_first_done_ = done;
    }
    double secs = std::chrono::duration<double>(now - start_).count();
    double tokens = 0;
    if (client_ != nullptr) {
        auto t = client_->accounting().total();
        tokens = double(t.tokens_prompt + t.tokens_completion);
    }
    std::string line =
        fmt::format("[{}] {}/{}  {:.0f} tok/s", step, done, total, secs > 0 ? tokens / secs : 0.0);
    const double step_secs = std::chrono::duration<double>(now - step_start_).count();
    if (done > step_first_done_ && done < total && step_secs > 0) {
        const double per_item = step_secs / double(done - step_first_done_);
        line += "  ETA " + short_duration(per_item * double(total - done));
    }
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
