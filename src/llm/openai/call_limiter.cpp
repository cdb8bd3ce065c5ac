#include "llm/openai/call_limiter.hpp"

#include <algorithm>
#include <thread>

namespace hyperalign::llm::openai {
namespace {

using Clock = std::chrono::steady_clock;

// How often waits look at the cancel flag: short against any LLM call, long against a
// context switch.
constexpr std::chrono::milliseconds kCancelPoll{20};

bool is_cancelled(const std::atomic<bool>* cancel) {
    return cancel != nullptr && cancel->load();
}

}  // namespace

bool sleep_unless_cancelled(std::chrono::milliseconds duration, const std::atomic<bool>* cancel) {
    const auto until = Clock::now() + duration;
    while (!is_cancelled(cancel)) {
        const auto now = Clock::now();
        if (now >= until)
            return true;
        std::this_thread::sleep_for(std::min<Clock::duration>(until - now, kCancelPoll));
    }
    return false;
}

CallLimiter::CallLimiter(int max_concurrent, double per_second)
    : slots_(std::max(1, max_concurrent)) {
    if (per_second > 0) {
        interval_ = std::chrono::duration_cast<std::chrono::nanoseconds>(
            std::chrono::duration<double>(1.0 / per_second));
    }
}

bool CallLimiter::acquire(const std::atomic<bool>* cancel, bool rate_limited) {
    while (!slots_.try_acquire_for(kCancelPoll)) {
        if (is_cancelled(cancel))
            return false;
    }
    if (is_cancelled(cancel)) {
        slots_.release();
        return false;
    }
    if (!rate_limited || interval_.count() == 0)
        return true;

    // Reserve the next start time, then wait for it; reservations space starts evenly.
    Clock::time_point start;
    {
        std::lock_guard lock(mutex_);
        start = std::max(Clock::now(), next_start_);
        next_start_ = start + interval_;
    }
    const auto wait = std::chrono::ceil<std::chrono::milliseconds>(start - Clock::now());
    if (wait.count() > 0 && !sleep_unless_cancelled(wait, cancel)) {
        slots_.release();
        return false;
    }
    return true;
}

void CallLimiter::release() {
    slots_.release();
}

Backoff::Backoff(std::chrono::milliseconds base, std::chrono::milliseconds cap)
    : base_(base), cap_(cap), rng_(std::random_device{}()) {}

std::chrono::milliseconds Backoff::delay(int retry) {
    // Past 2^20 the cap has long won; stopping the doubling there avoids overflow.
    const int64_t factor = int64_t(1) << std::clamp(retry, 0, 20);
    const int64_t ceiling = std::min<int64_t>(cap_.count(), base_.count() * factor);
    if (ceiling <= 0)
        return std::chrono::milliseconds(0);
    std::lock_guard lock(mutex_);
    std::uniform_int_distribution<int64_t> draw(0, ceiling);
    return std::chrono::milliseconds(draw(rng_));
}

std::chrono::milliseconds Backoff::retry_after(double seconds) const {
    const double ms = std::clamp(seconds * 1000.0, 0.0, double(cap_.count()));
    return std::chrono::milliseconds(int64_t(ms));
}

}  // namespace hyperalign::llm::openai
