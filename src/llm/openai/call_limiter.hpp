#pragma once

#include <atomic>
#include <chrono>
#include <mutex>
#include <random>
#include <semaphore>

namespace hyperalign::llm::openai {

// Sleeps `duration` in short slices, returning false as soon as `cancel` is set.
bool sleep_unless_cancelled(std::chrono::milliseconds duration, const std::atomic<bool>* cancel);

// Bounds the requests one backend has in flight (a counting semaphore) and, optionally, the rate
// at which they start. Thread-safe.
class CallLimiter {
  public:
    // `max_concurrent` >= 1; `per_second` 0 for no rate limit.
    CallLimiter(int max_concurrent, double per_second);

    // Waits for a free slot and, when `rate_limited`, for the next start time. Returns false,
    // holding nothing, when `cancel` was set meanwhile.
    bool acquire(const std::atomic<bool>* cancel, bool rate_limited);
    void release();

  private:
    std::counting_semaphore<> slots_;
    std::chrono::nanoseconds interval_{0};
    std::mutex mutex_;
    std::chrono::steady_clock::time_point next_start_{};
};

// Holds a CallLimiter slot for a scope.
class LimiterSlot {
  public:
    LimiterSlot(CallLimiter& limiter, const std::atomic<bool>* cancel, bool rate_limited)
        : limiter_(limiter), held_(limiter.acquire(cancel, rate_limited)) {}
    ~LimiterSlot() {
        if (held_)
            limiter_.release();
    }
    LimiterSlot(const LimiterSlot&) = delete;
    LimiterSlot& operator=(const LimiterSlot&) = delete;

    bool held() const { return held_; }

  private:
    CallLimiter& limiter_;
    bool held_;
};

// Exponential backoff with full jitter: a uniform draw from [0, min(cap, base * 2^retry)], so
// clients that failed together do not retry together. `retry` counts from 0. Thread-safe.
class Backoff {
  public:
    Backoff(std::chrono::milliseconds base, std::chrono::milliseconds cap);

    std::chrono::milliseconds delay(int retry);
    // The server's Retry-After, honoured as given up to the cap.
    std::chrono::milliseconds retry_after(double seconds) const;

  private:
    std::chrono::milliseconds base_;
    std::chrono::milliseconds cap_;
    std::mutex mutex_;
    std::mt19937_64 rng_;
};

}  // namespace hyperalign::llm::openai
