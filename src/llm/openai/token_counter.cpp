#include "llm/openai/token_counter.hpp"

#include <fmt/format.h>

#include "hyperalign/core/log.hpp"
#include "llm/openai/wire.hpp"

namespace hyperalign::llm::openai {
namespace {

// The cache holds texts (fitting a prompt counts the same pieces many times); past this many
// bytes it starts over rather than track recency.
constexpr size_t kCacheBytes = size_t(8) << 20;

}  // namespace

int estimate_tokens(std::string_view text) {
    return int((text.size() + 2) / 3);
}

TokenCounter::TokenCounter(HttpTransport& transport, CallLimiter& limiter,
                           std::vector<std::string> paths)
    : transport_(transport), limiter_(limiter), paths_(std::move(paths)) {}

void TokenCounter::remember(std::string_view text, int tokens) {
    std::lock_guard lock(mutex_);
    if (cache_bytes_ + text.size() > kCacheBytes) {
        cache_.clear();
        cache_bytes_ = 0;
    }
    if (cache_.emplace(std::string(text), tokens).second)
        cache_bytes_ += text.size();
}

Result<int> TokenCounter::count(std::string_view text) {
    std::vector<std::string> candidates;
    {
        std::lock_guard lock(mutex_);
        if (state_ == State::missing)
            return estimate_tokens(text);
        if (auto it = cache_.find(std::string(text)); it != cache_.end())
            return it->second;
        candidates = state_ == State::available ? std::vector<std::string>{path_} : paths_;
    }

    const std::string body = tokenize_body(text);
    for (const std::string& path : candidates) {
        HttpReply reply;
        {
            LimiterSlot slot(limiter_, nullptr, /*rate_limited=*/false);
            reply = transport_.post_json(path, body);
        }
        if (reply.transport != Transport::ok || reply.status >= 500) {
            Error e = make_error(ErrorCode::backend_unavailable,
                                 fmt::format("could not count tokens at {}{}: {}",
                                             transport_.endpoint().origin, path,
                                             reply.transport != Transport::ok
                                                 ? reply.detail
                                                 : fmt::format("HTTP {}", reply.status)));
            e.upstream_status = reply.status;
            return e;
        }
        // Anything but a token list (a 404, a 401, an HTML page) means this is not the route.
        auto tokens = reply.status == 200 ? parse_token_count(reply.body) : std::nullopt;
        if (!tokens)
            continue;
        {
            std::lock_guard lock(mutex_);
            state_ = State::available;
            path_ = path;
        }
        remember(text, *tokens);
        return *tokens;
    }

    {
        std::lock_guard lock(mutex_);
        state_ = State::missing;
    }
    log::info("openai: {} has no /tokenize; token counts are estimated as bytes / 3",
              transport_.endpoint().origin);
    return estimate_tokens(text);
}

}  // namespace hyperalign::llm::openai
