#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "hyperalign/llm/backend.hpp"

namespace hyperalign::llm {

// How a request's JSON schema (ChatRequest::json_schema) reaches the server.
enum class JsonMode {
    // response_format {"type":"json_schema","json_schema":{"name":"reply","strict":true,
    // "schema":...}}: the server constrains the reply (llama-server turns it into a grammar).
    schema,
    // No response_format: the schema is appended to the last user message as an instruction
    // (prompts/json_instruction.user.txt), and the first JSON object is taken out of the reply,
    // ignoring code fences and prose around it. For servers without structured output.
    prompted,
    // Decided by probe_json_mode() on the first structured call: schema when the server's reply
    // to a tiny schema conforms, else prompted. A later 400 that blames the schema or
    // response_format also switches to prompted (logged at warn). Written "auto".
    automatic,
};

// "schema", "prompted" or "auto"; invalid_input otherwise.
Result<JsonMode> parse_json_mode(std::string_view name);
std::string_view to_string(JsonMode mode);

struct OpenAiOptions {
    // The API root: http or https, with the path the endpoints hang under, such as
    // "http://127.0.0.1:8080/v1" or "https://api.openai.com/v1". Chat goes to
    // {base_url}/chat/completions.
    std::string base_url = "http://127.0.0.1:8080/v1";
    // The served model name. Empty: the first model GET {base_url}/models lists.
    std::string model;
    // The environment variable holding the API key, sent as "Authorization: Bearer <key>". Unset
    // or empty: no Authorization header (local servers). The key is never logged.
    std::string api_key_env = "OPENAI_API_KEY";
    // Sent with every request, after the Authorization header.
    std::vector<std::pair<std::string, std::string>> headers;

    std::chrono::milliseconds connect_timeout{10'000};
    // The longest the server may stay silent: for a streamed reply, between two chunks; for a
    // whole reply, until it arrives. Long generations without streaming need a long one.
    std::chrono::milliseconds read_timeout{600'000};

    // Extra attempts after a 429, a 5xx, a connection failure, a malformed body or a stream cut
    // short. Waits are exponential with full jitter (a uniform draw from [0, base * 2^n]), or the
    // server's Retry-After seconds, both capped at max_retry_wait.
    int max_retries = 3;
    std::chrono::milliseconds retry_base_delay{500};
    std::chrono::milliseconds max_retry_wait{30'000};

    // Requests in flight at once, over all calls of the backend object; further calls wait.
    int max_concurrency = 4;
    // Chat requests started per second, retries included; 0: no limit. Token counting is not
    // limited (it goes to llama-server's /tokenize, not to a metered API).
    double requests_per_second = 0;

    // Tokens. 0: llama-server's per-slot n_ctx from GET /props (tried under the parent of
    // base_url's path, then at the server root), else 8192.
    int context_size = 0;

    JsonMode json_mode = JsonMode::automatic;
};

// The context size assumed when none is configured and the server does not report one.
inline constexpr int kDefaultOpenAiContextSize = 8192;

// A chat backend over an OpenAI-compatible HTTP API (llama-server, vLLM, OpenAI, ...).
//
// chat() POSTs {base_url}/chat/completions, streaming (SSE) when the request has on_text. Failures
// come back as values, with Error::upstream_status set to the HTTP status when there was one:
//   - 400: invalid_input with the server's message, or context_overflow when the server says the
//     prompt exceeds its context; 401/403: backend_unavailable (check the API key); 404:
//     not_found (model or endpoint); other 4xx: invalid_input. None of these is retried.
//   - 429 after the retries: rate_limited; 5xx, connection failures, malformed bodies and cut
//     streams after the retries: backend_unavailable; a connect or read timeout: backend_timeout
//     (a read timeout is not retried: the next attempt would most likely wait as long again).
//   - request.cancel, checked before each attempt, while waiting for a slot or a retry and on
//     every streamed chunk: cancelled. A whole (unstreamed) reply cannot be interrupted.
// A stream that is cut short and retried calls on_text again from the start of the new reply.
// The reply is returned as the server sent it (prompted mode: the extracted object); checking it
// against the schema is Client::chat_json's job. prefix_messages and person are ignored.
//
// count_tokens() uses llama-server's POST /tokenize (next to /props), remembering recent
// answers, and fails with backend_unavailable when the server cannot be reached. On a server
// without it (any 4xx or a reply without tokens), it estimates ceil(bytes / 3) from then on,
// which overcounts typical English text by about a third, so prompts are cut early rather than
// overflow; text with many multi-byte characters can be undercounted.
// [SHORTCUT_TOKEN_ESTIMATE]
//
// Thread-safe and concurrent up to max_concurrency requests.
class OpenAiBackend final : public Backend {
  public:
    // Checks the options and asks the server for what is left open (the model name, the context
    // size). Fails with invalid_input for a malformed base_url or bad numbers, and, when no
    // model is named, with the error of GET {base_url}/models. An unreachable server leaves the
    // context size at its default (logged at warn); chat calls then report the failure.
    static Result<std::unique_ptr<OpenAiBackend>> open(const OpenAiOptions& options);
    ~OpenAiBackend() override;

    Result<ChatResponse> chat(const ChatRequest& request) override;
    Result<int> count_tokens(std::string_view text) override;
    // backend "openai", the model name, chat_template "" (the server applies its own), the
    // context size.
    const ModelInfo& info() const override;

    // Sends one tiny structured request (an enum answer) with response_format and returns schema
    // when the reply conforms, prompted when it does not or the server rejects response_format
    // with a 400. Other failures (connection, 5xx, 401) are returned as errors and decide
    // nothing. When the configured mode is automatic, the answer is kept for later calls.
    Result<JsonMode> probe_json_mode();

    // The mode structured calls use now: the configured one, or automatic until the probe ran.
    JsonMode json_mode() const;

    struct Impl;

  private:
    explicit OpenAiBackend(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace hyperalign::llm
