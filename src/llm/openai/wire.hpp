#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "hyperalign/llm/backend.hpp"

namespace hyperalign::llm::openai {

// The JSON of the OpenAI chat completions protocol, kept apart from transport and policy so it
// can be tested on its own. Everything read here comes from the network: malformed input gives
// an Error, never an exception.

struct WireRequest {
    std::string model;
    const std::vector<Message>* messages = nullptr;
    const SamplingParams* sampling = nullptr;
    std::string json_schema;  // sent as response_format when not empty
    bool stream = false;
};

// The body of POST /chat/completions. Fails with invalid_input when json_schema is not JSON.
Result<std::string> chat_body(const WireRequest& request);

// The schema as sent in response_format: every object schema without "additionalProperties"
// gets "additionalProperties": false, which is what our subset means by leaving it out and
// what strict structured output requires. Fails with invalid_input when it is not JSON.
Result<std::string> strict_schema(std::string_view schema_json);

// A whole (unstreamed) reply: choices[0].message.content, finish_reason, usage and llama.cpp's
// timings. Fails with backend_unavailable when the body is not JSON (a truncated or mangled
// reply, worth retrying) and bad_model_output when it is JSON without a usable content.
Result<ChatResponse> parse_chat_reply(std::string_view body);

// Reads an SSE stream of chat.completion.chunk events fed in arbitrary pieces.
class StreamParser {
  public:
    using TextSink = std::function<void(std::string_view)>;
    explicit StreamParser(TextSink on_text) : on_text_(std::move(on_text)) {}

    // Consumes a piece of the body. Fails when an event is unusable (not JSON, an error event,
    // an overlong line); the stream should then be abandoned.
    Status feed(std::string_view chunk);

    // After the body ended: the reply, or backend_unavailable "stream cut short" when neither
    // [DONE] nor a finish_reason arrived.
    Result<ChatResponse> finish();

    // Whether feed() failed because the server reported an error, rather than on a broken event.
    bool failed_by_server() const { return failed_by_server_; }

  private:
    Status handle_line(std::string_view line);
    Status handle_event(std::string_view data);

    TextSink on_text_;
    std::string pending_;  // an incomplete line
    ChatResponse reply_;
    bool saw_done_ = false;
    bool saw_finish_ = false;
    bool failed_by_server_ = false;
};

// The message of an error body ({"error": {"message": ...}} or {"error": "..."}), else the
// body itself, cut to a readable length; "" for an empty body.
std::string error_message(std::string_view body);

// Whether a 400 body says the prompt does not fit the context (llama-server's
// exceed_context_size_error, OpenAI's context_length_exceeded).
bool is_context_overflow(std::string_view body);

// Whether a server's error message blames the structured-output part of the request (an
// unsupported response_format or schema keyword).
bool blames_response_format(std::string_view message);

// llama-server's GET /props: default_generation_settings.n_ctx (the per-slot context), else a
// top-level n_ctx. nullopt when absent or not positive.
std::optional<int> parse_props_context(std::string_view body);

// llama-server's POST /tokenize reply: the number of tokens.
std::optional<int> parse_token_count(std::string_view body);

// The body of POST /tokenize for `text`, without special tokens.
std::string tokenize_body(std::string_view text);

// GET /models: the first data[].id.
std::optional<std::string> parse_first_model(std::string_view body);

}  // namespace hyperalign::llm::openai
