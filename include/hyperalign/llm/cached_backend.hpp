#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "hyperalign/llm/backend.hpp"
#include "hyperalign/llm/response_cache.hpp"

namespace hyperalign::llm {

// A Backend that answers from a ResponseCache when it can and from `inner` otherwise, so that a
// run interrupted part-way repeats none of the calls it finished.
//
// chat() keys the request with response_key(inner.info(), request). On a hit it returns the
// stored reply (from_cache set, the original usage, ms_total the lookup's time) without calling
// inner, and calls request.on_text once with the whole text so streaming callers still see it.
// On a miss it calls inner and stores a successful reply, whichever its finish reason: a reply
// cut at max_tokens is still the deterministic answer to that request. Errors are never stored.
//
// The cache is an optimisation: when it fails to read or write (a locked or damaged file), the
// call goes to inner and the failure is logged at warn once, then at debug.
//
// `read` false skips lookups (every call goes to inner, refreshing the cache when `write`);
// `write` false leaves the cache unchanged. Both false make this a plain pass-through.
//
// Holds references: inner and cache must outlive it. Thread-safe when inner is; two threads
// asking the same uncached request at once both call inner (the later reply overwrites the
// earlier, which is the same reply for a deterministic backend).
class CachedBackend final : public Backend {
  public:
    CachedBackend(Backend& inner, ResponseCache& cache, bool read = true, bool write = true);

    Result<ChatResponse> chat(const ChatRequest& request) override;
    Result<int> count_tokens(std::string_view text) override;
    const ModelInfo& info() const override;

    // Lookups answered from the cache, and lookups that found nothing (calls made with `read`
    // false or while the cache failed count as neither).
    int64_t hits() const { return hits_.load(); }
    int64_t misses() const { return misses_.load(); }

  private:
    void report_cache_failure(const Error& error);

    Backend& inner_;
    ResponseCache& cache_;
    bool read_;
    bool write_;
    std::atomic<int64_t> hits_{0};
    std::atomic<int64_t> misses_{0};
    std::atomic<bool> warned_{false};
};

}  // namespace hyperalign::llm
