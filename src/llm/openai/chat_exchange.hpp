#pragma once

#include <chrono>
#include <string>

#include "hyperalign/llm/backend.hpp"
#include "llm/openai/call_limiter.hpp"
#include "llm/openai/http_transport.hpp"

namespace hyperalign::llm::openai {

struct RetryPolicy {
    int max_retries = 3;
    std::chrono::milliseconds base_delay{500};
    std::chrono::milliseconds max_wait{30'000};
};

// One chat completion over HTTP with the backend's policy: a limiter slot per attempt, retries
// with backoff, the mapping of statuses and transport failures to error codes (documented on
// OpenAiBackend), streaming when the request has on_text. Thread-safe.
class ChatExchange {
  public:
    ChatExchange(HttpTransport& transport, CallLimiter& limiter, RetryPolicy policy);

    // POSTs `body` (already holding "stream" when the request has on_text) to
    // {prefix}/chat/completions.
    Result<ChatResponse> run(const std::string& body, const ChatRequest& request);

    struct Attempt;

  private:
    Attempt attempt(const std::string& body, const ChatRequest& request);
    Attempt from_status(const HttpReply& reply) const;
    Attempt from_transport(const HttpReply& reply) const;

    HttpTransport& transport_;
    CallLimiter& limiter_;
    RetryPolicy policy_;
    Backoff backoff_;
    std::string path_;
};

}  // namespace hyperalign::llm::openai
