#include "llm/openai/chat_exchange.hpp"

#include <optional>

#include <fmt/format.h>

#include "hyperalign/core/log.hpp"
#include "llm/openai/wire.hpp"

namespace hyperalign::llm::openai {
namespace {

bool is_cancelled(const ChatRequest& request) {
    return request.cancel != nullptr && request.cancel->load();
}

Error cancelled_error() {
    return make_error(ErrorCode::cancelled, "the call was cancelled");
}

Error http_error(ErrorCode code, int status, std::string message) {
    Error e = make_error(code, std::move(message));
    e.upstream_status = status;
    return e;
}

}  // namespace

struct ChatExchange::Attempt {
    Attempt(Result<ChatResponse> r, bool can_retry = false,
            std::optional<double> after = std::nullopt)
        : result(std::move(r)), retryable(can_retry), retry_after_s(after) {}

    Result<ChatResponse> result;
    bool retryable;
    std::optional<double> retry_after_s;  // the server's Retry-After
};

ChatExchange::ChatExchange(HttpTransport& transport, CallLimiter& limiter, RetryPolicy policy)
    : transport_(transport),
      limiter_(limiter),
      policy_(policy),
      backoff_(policy.base_delay, policy.max_wait),
      path_(transport.endpoint().prefix + "/chat/completions") {}

Result<ChatResponse> ChatExchange::run(const std::string& body, const ChatRequest& request) {
    const int attempts = policy_.max_retries + 1;
    for (int n = 1;; ++n) {
        if (is_cancelled(request))
            return cancelled_error();
        Attempt outcome = attempt(body, request);
        if (outcome.result.ok() || !outcome.retryable)
            return std::move(outcome.result);
        Error error = outcome.result.take_error();
        if (n >= attempts) {
            if (attempts > 1)
                error.message += fmt::format(" (gave up after {} attempts)", attempts);
            return error;
        }

        const auto wait = outcome.retry_after_s ? backoff_.retry_after(*outcome.retry_after_s)
                                                : backoff_.delay(n - 1);
        // The message never holds the request's texts: statuses, transport and server errors.
        log::warn("openai: {} call failed (attempt {} of {}): {}; retrying in {:.1f} s",
                  request.purpose.empty() ? "a" : request.purpose, n, attempts, error.describe(),
                  double(wait.count()) / 1000.0);
        if (!sleep_unless_cancelled(wait, request.cancel))
            return cancelled_error();
    }
}

ChatExchange::Attempt ChatExchange::attempt(const std::string& body, const ChatRequest& request) {
    LimiterSlot slot(limiter_, request.cancel, /*rate_limited=*/true);
    if (!slot.held())
        return {cancelled_error()};

    // Streaming: events are parsed as they arrive, and a broken event stops the exchange.
    const bool stream = static_cast<bool>(request.on_text);
    StreamParser parser(request.on_text);
    Status stream_status;
    BodySink sink;
    if (stream) {
        sink = [&](std::string_view chunk) {
            stream_status = parser.feed(chunk);
            return stream_status.ok() && !is_cancelled(request);
        };
    }
    HttpReply reply = transport_.post_json(path_, body, sink, request.cancel);

    if (is_cancelled(request))
        return {cancelled_error()};
    if (!stream_status.ok()) {
        Error e = stream_status.error();
        e.upstream_status = reply.status;
        return {std::move(e), /*can_retry=*/!parser.failed_by_server()};
    }
    if (reply.transport != Transport::ok)
        return from_transport(reply);
    if (reply.status < 200 || reply.status >= 300)
        return from_status(reply);

    // A body that is not JSON, or a stream that stopped early, is worth another attempt; a JSON
    // reply without content is the model's answer and would come back the same.
    auto result = stream ? parser.finish() : parse_chat_reply(reply.body);
    const bool retryable = !result.ok() && result.error().code == ErrorCode::backend_unavailable;
    return {std::move(result), retryable};
}

ChatExchange::Attempt ChatExchange::from_status(const HttpReply& reply) const {
    const int status = reply.status;
    const std::string says = error_message(reply.body);
    const std::string where = transport_.endpoint().origin + path_;
    ErrorCode code = ErrorCode::invalid_input;
    std::string message = fmt::format("{} rejected the request (HTTP {}): {}", where, status, says);
    bool retryable = false;
    if (status == 429) {
        code = ErrorCode::rate_limited;
        message = fmt::format("{} asked us to slow down (HTTP 429): {}", where, says);
        retryable = true;
    } else if (status >= 500) {
        code = ErrorCode::backend_unavailable;
        message = fmt::format("{} failed with HTTP {}: {}", where, status, says);
        retryable = true;
    } else if (status == 400 && is_context_overflow(reply.body)) {
        code = ErrorCode::context_overflow;
        message = fmt::format("the prompt does not fit the server's context: {}", says);
    } else if (status == 401 || status == 403) {
        code = ErrorCode::backend_unavailable;
        message = fmt::format("{} refused the request (HTTP {}): check the API key; {}", where,
                              status, says);
    } else if (status == 404) {
        code = ErrorCode::not_found;
        message = fmt::format("model or endpoint not found at {} (HTTP 404): {}", where, says);
    } else if (status < 400) {
        code = ErrorCode::backend_unavailable;
        message = fmt::format("{} answered with unexpected HTTP {}", where, status);
    }
    return {http_error(code, status, std::move(message)), retryable, reply.retry_after_s};
}

ChatExchange::Attempt ChatExchange::from_transport(const HttpReply& reply) const {
    const std::string& origin = transport_.endpoint().origin;
    switch (reply.transport) {
        case Transport::connect_failed:
            return {make_error(ErrorCode::backend_unavailable,
                               fmt::format("could not connect to {}: {}", origin, reply.detail)),
                    true};
        case Transport::connect_timeout:
            return {make_error(ErrorCode::backend_timeout,
                               fmt::format("could not connect to {} in time", origin)),
                    true};
        case Transport::read_timeout:
            return {make_error(ErrorCode::backend_timeout,
                               fmt::format("{} sent nothing within the read timeout", origin))};
        case Transport::tls_verify:
            return {make_error(ErrorCode::backend_unavailable,
                               fmt::format("the TLS certificate of {} did not verify", origin))};
        case Transport::io_error:
            return {make_error(ErrorCode::backend_unavailable,
                               fmt::format("the connection to {} broke: {}", origin, reply.detail)),
                    true};
        case Transport::cancelled:
        case Transport::ok:
            break;
    }
    // Stopped without the caller's flag: only an oversized reply or a sink refusal does that.
    return {make_error(ErrorCode::backend_unavailable,
                       fmt::format("the exchange with {} was stopped: {}", origin, reply.detail)),
            true};
}

}  // namespace hyperalign::llm::openai
