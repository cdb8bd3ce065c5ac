#include "hyperalign/llm/client.hpp"

#include <chrono>

#include "hyperalign/core/log.hpp"
#include "hyperalign/prompts/library.hpp"

namespace hyperalign::llm {

void CallStats::add(const CallStats& o) {
    calls += o.calls;
    cache_hits += o.cache_hits;
    failures += o.failures;
    tokens_prompt += o.tokens_prompt;
    tokens_prompt_cached += o.tokens_prompt_cached;
    tokens_completion += o.tokens_completion;
    ms += o.ms;
}

CallStats Accounting::total() const {
    CallStats t;
    for (const auto& [_, s] : by_purpose)
        t.add(s);
    return t;
}

Client::Client(Backend& backend, ClientOptions options) : backend_(backend), options_(options) {}

Status Client::charge(const std::string& purpose) {
    std::lock_guard lock(mutex_);
    if (options_.max_calls > 0 && calls_ >= options_.max_calls) {
        return make_error(ErrorCode::budget_exceeded,
                          fmt::format("the run reached its cap of {} model calls (the next one "
                                      "was for {})",
                                      options_.max_calls, purpose.empty() ? "other" : purpose));
    }
    ++calls_;
    return {};
}

void Client::record(const std::string& purpose, const Result<ChatResponse>& result, double ms) {
    std::lock_guard lock(mutex_);
    CallStats& s = accounting_.by_purpose[purpose.empty() ? "other" : purpose];
    ++s.calls;
    s.ms += ms;
    if (!result.ok()) {
        ++s.failures;
        return;
    }
    if (result->from_cache) {
        ++s.cache_hits;
        --calls_;  // free: the budget counts model calls made
    }
    s.tokens_prompt += result->usage.tokens_prompt;
    s.tokens_prompt_cached += result->usage.tokens_prompt_cached;
    s.tokens_completion += result->usage.tokens_completion;
}

Result<ChatResponse> Client::chat(const ChatRequest& request) {
    if (options_.cancel != nullptr && options_.cancel->load()) {
        return make_error(ErrorCode::cancelled, "the run was interrupted");
    }
    HA_TRY(charge(request.purpose));
    auto start = std::chrono::steady_clock::now();
    Result<ChatResponse> result = make_error(ErrorCode::internal, "not run");
    if (options_.cancel != nullptr && request.cancel == nullptr) {
        ChatRequest with_cancel = request;
        with_cancel.cancel = options_.cancel;
        result = backend_.chat(with_cancel);
    } else {
        result = backend_.chat(request);
    }
    double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    record(request.purpose, result, ms);
    // Replies are the person's data (or derived from it): trace level only.
    if (result.ok())
        log::trace("{} reply: {}", request.purpose, result->text);
    if (result.ok()) {
        log::debug("{} call: {} prompt tokens in {:.0f} ms, {} completion tokens in {:.0f} ms",
                   request.purpose, result->usage.tokens_prompt, result->timings.ms_prompt,
                   result->usage.tokens_completion, result->timings.ms_completion);
    } else {
        log::debug("{} call failed: {}", request.purpose, result.error().describe());
    }
    return result;
}

Result<std::string> Client::chat_json(ChatRequest request, const JsonSchema& schema,
                                      const Check& check) {
    request.json_schema = schema.text();
    Error last = make_error(ErrorCode::bad_model_output, "no attempt made");
    for (int attempt = 0; attempt <= options_.json_retries; ++attempt) {
        auto attempt_result = chat(request);
        // A repair prompt that no longer fits the context leaves the first failure standing.
        if (!attempt_result.ok() && attempt > 0 &&
            attempt_result.error().code == ErrorCode::context_overflow) {
            break;
        }
        HA_ASSIGN_OR_RETURN(ChatResponse reply, std::move(attempt_result));
        Status valid = schema.validate(reply.text);
        if (valid.ok() && check)
            valid = check(reply.text);
        if (valid.ok())
            return std::move(reply.text);

        last = valid.error();
        if (reply.finish == FinishReason::length) {
            last.message +=
                fmt::format(" (the reply was cut at {} tokens)", request.sampling.max_tokens);
        }
        log::warn("{} reply failed its schema (attempt {} of {}): {}", request.purpose, attempt + 1,
                  options_.json_retries + 1, last.describe());

        // Ask again, showing the model its reply and what was wrong with it.
        HA_ASSIGN_OR_RETURN(std::string repair,
                            prompts::render("json_repair", "user", {{"error", last.describe()}}));
        request.messages.push_back({"assistant", reply.text});
        request.messages.push_back({"user", repair});
        request.sampling.max_tokens += request.sampling.max_tokens / 2;
    }
    last.code = ErrorCode::bad_model_output;
    return last;
}

Accounting Client::accounting() const {
    std::lock_guard lock(mutex_);
    return accounting_;
}

}  // namespace hyperalign::llm
