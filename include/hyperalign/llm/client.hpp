#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>

#include "hyperalign/llm/backend.hpp"
#include "hyperalign/llm/json_schema.hpp"

namespace hyperalign::llm {

// Calls, tokens and time spent by one kind of call. Replies served from the response cache
// count as calls and cache hits, with the tokens their original call took, so that the figures
// describe what the result cost whether or not it was cached.
struct CallStats {
    int64_t calls = 0;
    int64_t cache_hits = 0;
    int64_t failures = 0;
    int64_t tokens_prompt = 0;
    int64_t tokens_prompt_cached = 0;  // of tokens_prompt, reused rather than evaluated
    int64_t tokens_completion = 0;
    double ms = 0;

    void add(const CallStats& other);
};

// Spending of a run, per purpose ("attributes", "contrast", ...).
struct Accounting {
    std::map<std::string, CallStats> by_purpose;
    CallStats total() const;
};

struct ClientOptions {
    int64_t max_calls = 0;  // 0: no cap; past the cap calls fail with budget_exceeded (replies
                            // from the response cache cost nothing and are not counted)
    int json_retries = 1;   // extra attempts when a structured reply fails its schema
    // When set and true, calls fail with ErrorCode::cancelled: before starting, and (through
    // ChatRequest::cancel) while running. For an interrupt handler to stop a run cleanly.
    const std::atomic<bool>* cancel = nullptr;
};

// The single path every model call of a run takes: budget, accounting, structured output with
// validation and one repair attempt. Thread-safe when the backend is.
class Client {
  public:
    Client(Backend& backend, ClientOptions options = {});

    // A free-text call.
    Result<ChatResponse> chat(const ChatRequest& request);

    // A call whose reply must be JSON conforming to `schema`: the schema is sent with the
    // request (a grammar in-process), the reply validated; on failure the model is asked once
    // more with the error (prompts/json_repair.txt) and a larger token allowance. Returns the
    // validated JSON text, or bad_model_output after the last attempt. `check`, when given,
    // adds the caller's own test of a schema-valid reply (say, "no blank statements"); its
    // failure is repaired the same way.
    using Check = std::function<Status(const std::string& json)>;
    Result<std::string> chat_json(ChatRequest request, const JsonSchema& schema,
                                  const Check& check = {});

    Accounting accounting() const;
    Backend& backend() { return backend_; }
    const ModelInfo& model_info() const { return backend_.info(); }

  private:
    Status charge(const std::string& purpose);
    void record(const std::string& purpose, const Result<ChatResponse>& result, double ms);

    Backend& backend_;
    ClientOptions options_;
    mutable std::mutex mutex_;
    Accounting accounting_;
    int64_t calls_ = 0;
};

// The reply tokens a structured call needs: the longest reply `schema` allows (one token per
// character, escapes aside), capped at `configured`. Small-context models then keep room for
// the prompt; a reply that still runs out is repaired by chat_json with a larger allowance.
int reply_allowance(const JsonSchema& schema, int configured);

}  // namespace hyperalign::llm
