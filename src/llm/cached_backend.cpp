#include "hyperalign/llm/cached_backend.hpp"

#include <chrono>

#include "hyperalign/core/log.hpp"

namespace hyperalign::llm {

CachedBackend::CachedBackend(Backend& inner, ResponseCache& cache, bool read, bool write)
    : inner_(inner), cache_(cache), read_(read), write_(write) {}

Result<ChatResponse> CachedBackend::chat(const ChatRequest& request) {
    const std::string key = response_key(inner_.info(), request);

    if (read_) {
        const auto start = std::chrono::steady_clock::now();
        auto cached = cache_.lookup(key);
        if (!cached.ok()) {
            report_cache_failure(cached.error());
        } else if (cached->has_value()) {
            // A cached answer is instant, but a caller that already gave up still expects the
            // same outcome as from a live backend.
            if (request.cancel != nullptr && request.cancel->load())
                return make_error(ErrorCode::cancelled, "the call was cancelled");
            ++hits_;
            ChatResponse response = std::move(**cached);
            response.timings.ms_total =
                std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                    .count();
            if (request.on_text)
                request.on_text(response.text);
            log::trace("response cache hit {}: {}", key, response.text);
            return response;
        } else {
            ++misses_;
        }
    }

    auto result = inner_.chat(request);
    if (write_ && result.ok()) {
        auto stored = cache_.store(key, inner_.info(), request, *result);
        if (!stored.ok())
            report_cache_failure(stored.error());
    }
    return result;
}

Result<int> CachedBackend::count_tokens(std::string_view text) {
    return inner_.count_tokens(text);
}

const ModelInfo& CachedBackend::info() const {
    return inner_.info();
}

// A broken cache would otherwise warn on every call of a run; one warning says it all. The
// message holds SQLite's text and the file path, never request or reply contents.
void CachedBackend::report_cache_failure(const Error& error) {
    if (!warned_.exchange(true)) {
        log::warn("response cache unavailable, calling the model instead: {}", error.describe());
        return;
    }
    log::debug("response cache unavailable: {}", error.describe());
}

}  // namespace hyperalign::llm
