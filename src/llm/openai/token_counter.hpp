#pragma once

#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "hyperalign/core/result.hpp"
#include "llm/openai/call_limiter.hpp"
#include "llm/openai/http_transport.hpp"

namespace hyperalign::llm::openai {

// ceil(bytes / 3): the estimate used where the server cannot count. [SHORTCUT_TOKEN_ESTIMATE]
int estimate_tokens(std::string_view text);

// Counts tokens with llama-server's POST /tokenize, found on first use among `paths`; on a
// server without it, estimate_tokens() from then on. Recent answers are remembered.
// Thread-safe.
class TokenCounter {
  public:
    TokenCounter(HttpTransport& transport, CallLimiter& limiter, std::vector<std::string> paths);

    // Fails with backend_unavailable when the server cannot be reached or fails (5xx).
    Result<int> count(std::string_view text);

  private:
    enum class State { unknown, available, missing };

    void remember(std::string_view text, int tokens);

    HttpTransport& transport_;
    CallLimiter& limiter_;
    std::vector<std::string> paths_;

    std::mutex mutex_;
    State state_ = State::unknown;
    std::string path_;  // when available
    std::unordered_map<std::string, int> cache_;
    size_t cache_bytes_ = 0;
};

}  // namespace hyperalign::llm::openai
