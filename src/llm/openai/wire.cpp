#include "llm/openai/wire.hpp"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdlib>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace hyperalign::llm::openai {
namespace {

using nlohmann::json;

// An SSE line longer than this is not a chat chunk; refusing it bounds memory.
constexpr size_t kMaxLineBytes = size_t(16) << 20;
constexpr size_t kMaxErrorMessageBytes = 300;

json parse(std::string_view text) {
    return json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
}

// Text that came from a person may hold invalid UTF-8 (a cut in the middle of a character);
// the replacement character is better than an exception.
std::string dump(const json& j) {
    return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

const json* member(const json& j, const char* key) {
    if (!j.is_object())
        return nullptr;
    auto it = j.find(key);
    return it == j.end() ? nullptr : &*it;
}

std::optional<int64_t> integer(const json& j, const char* key) {
    const json* v = member(j, key);
    if (v == nullptr || !v->is_number_integer())
        return std::nullopt;
    return v->get<int64_t>();
}

std::optional<double> number(const json& j, const char* key) {
    const json* v = member(j, key);
    if (v == nullptr || !v->is_number())
        return std::nullopt;
    return v->get<double>();
}

const std::string* string_member(const json& j, const char* key) {
    const json* v = member(j, key);
    return v != nullptr && v->is_string() ? v->get_ptr<const std::string*>() : nullptr;
}

// Floats go out as their shortest decimal form (0.9, not 0.899999976158). strtod, unlike
// std::stod, does not throw on values it has to round to zero.
double wire_float(float value) {
    const std::string text = fmt::format("{}", value);
    return std::strtod(text.c_str(), nullptr);
}

void read_usage(const json& chunk, ChatResponse& reply) {
    const json* usage = member(chunk, "usage");
    if (usage == nullptr || !usage->is_object())
        return;
    reply.usage.tokens_prompt = integer(*usage, "prompt_tokens").value_or(0);
    reply.usage.tokens_completion = integer(*usage, "completion_tokens").value_or(0);
    if (const json* details = member(*usage, "prompt_tokens_details"))
        reply.usage.tokens_prompt_cached = integer(*details, "cached_tokens").value_or(0);
}

// llama-server's own extension; other servers leave the split unknown.
void read_timings(const json& chunk, ChatResponse& reply) {
    const json* timings = member(chunk, "timings");
    if (timings == nullptr)
        return;
    reply.timings.ms_prompt = number(*timings, "prompt_ms").value_or(0);
    reply.timings.ms_completion = number(*timings, "predicted_ms").value_or(0);
}

FinishReason finish_reason(const std::string& name) {
    return name == "length" ? FinishReason::length : FinishReason::stop;
}

const json* first_choice(const json& body) {
    const json* choices = member(body, "choices");
    if (choices == nullptr || !choices->is_array() || choices->empty())
        return nullptr;
    const json& first = choices->front();
    return first.is_object() ? &first : nullptr;
}

void close_objects(json& node) {
    if (!node.is_object())
        return;
    const std::string* type = string_member(node, "type");
    if (type != nullptr && *type == "object" && !node.contains("additionalProperties"))
        node["additionalProperties"] = false;
    if (auto props = node.find("properties"); props != node.end() && props->is_object()) {
        for (auto& [_, child] : props->items())
            close_objects(child);
    }
    for (const char* key : {"items", "additionalProperties"}) {
        if (auto child = node.find(key); child != node.end())
            close_objects(*child);
    }
}

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return char(std::tolower(c)); });
    return out;
}

// Cuts at most `limit` bytes without splitting a UTF-8 sequence.
std::string cut_utf8(std::string_view s, size_t limit) {
    if (s.size() <= limit)
        return std::string(s);
    size_t end = limit;
    while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80)
        --end;
    return std::string(s.substr(0, end)) + "...";
}

Result<json> strict_schema_json(std::string_view schema_json) {
    json schema = parse(schema_json);
    if (schema.is_discarded() || !schema.is_object())
        return make_error(ErrorCode::invalid_input,
                          "the request's JSON schema is not a JSON object");
    close_objects(schema);
    return schema;
}

}  // namespace

Result<std::string> strict_schema(std::string_view schema_json) {
    HA_ASSIGN_OR_RETURN(json schema, strict_schema_json(schema_json));
    return dump(schema);
}

Result<std::string> chat_body(const WireRequest& request) {
    json messages = json::array();
    for (const Message& m : *request.messages)
        messages.push_back({{"role", m.role}, {"content", m.content}});

    const SamplingParams& s = *request.sampling;
    json body = {{"model", request.model},
                 {"messages", std::move(messages)},
                 {"temperature", wire_float(s.temperature)},
                 {"top_p", wire_float(s.top_p)},
                 {"max_tokens", s.max_tokens},
                 {"seed", s.seed}};
    if (!s.stop.empty())
        body["stop"] = s.stop;
    if (s.top_k > 0)
        body["top_k"] = s.top_k;
    if (!request.json_schema.empty()) {
        HA_ASSIGN_OR_RETURN(json schema, strict_schema_json(request.json_schema));
        body["response_format"] = {
            {"type", "json_schema"},
            {"json_schema", {{"name", "reply"}, {"strict", true}, {"schema", std::move(schema)}}}};
    }
    if (request.stream) {
        body["stream"] = true;
        body["stream_options"] = {{"include_usage", true}};
    }
    return dump(body);
}

Result<ChatResponse> parse_chat_reply(std::string_view body) {
    json j = parse(body);
    if (j.is_discarded()) {
        Error e = make_error(ErrorCode::backend_unavailable, "the server's reply is not JSON");
        e.upstream_status = 200;
        return e;
    }
    const json* choice = first_choice(j);
    const json* message = choice != nullptr ? member(*choice, "message") : nullptr;
    const std::string* content = message != nullptr ? string_member(*message, "content") : nullptr;
    if (content == nullptr) {
        Error e = make_error(ErrorCode::bad_model_output,
                             "the server's reply has no choices[0].message.content text");
        e.upstream_status = 200;
        return e;
    }

    ChatResponse reply;
    reply.text = *content;
    if (const std::string* reason = string_member(*choice, "finish_reason"))
        reply.finish = finish_reason(*reason);
    read_usage(j, reply);
    read_timings(j, reply);
    return reply;
}

Status StreamParser::feed(std::string_view chunk) {
    pending_.append(chunk);
    size_t start = 0;
    for (size_t nl = pending_.find('\n', start); nl != std::string::npos;
         nl = pending_.find('\n', start)) {
        std::string_view line(pending_.data() + start, nl - start);
        if (!line.empty() && line.back() == '\r')
            line.remove_suffix(1);
        Status handled = handle_line(line);
        if (!handled.ok())
            return handled;
        start = nl + 1;
    }
    pending_.erase(0, start);
    if (pending_.size() > kMaxLineBytes)
        return make_error(ErrorCode::backend_unavailable, "the server sent an overlong event");
    return {};
}

Status StreamParser::handle_line(std::string_view line) {
    // Each data line of OpenAI's stream is one whole event; comments (":"), blank separators
    // and other fields carry nothing we use. llama-server reports failures as "error:" lines.
    const bool is_data = line.rfind("data:", 0) == 0;
    const bool is_error = line.rfind("error:", 0) == 0;
    if (!is_data && !is_error)
        return {};
    std::string_view value = line.substr(is_data ? 5 : 6);
    if (!value.empty() && value.front() == ' ')
        value.remove_prefix(1);
    if (is_error) {
        failed_by_server_ = true;
        return make_error(ErrorCode::backend_unavailable,
                          "the server failed during the stream: " + error_message(value));
    }
    return handle_event(value);
}

Status StreamParser::handle_event(std::string_view data) {
    if (data == "[DONE]") {
        saw_done_ = true;
        return {};
    }
    json event = parse(data);
    if (event.is_discarded() || !event.is_object())
        return make_error(ErrorCode::backend_unavailable, "the server sent a malformed event");
    if (event.contains("error")) {
        failed_by_server_ = true;
        return make_error(ErrorCode::backend_unavailable,
                          "the server failed during the stream: " + error_message(data));
    }

    if (const json* choice = first_choice(event)) {
        const json* delta = member(*choice, "delta");
        const std::string* text = delta != nullptr ? string_member(*delta, "content") : nullptr;
        if (text != nullptr && !text->empty()) {
            reply_.text += *text;
            if (on_text_)
                on_text_(*text);
        }
        if (const std::string* reason = string_member(*choice, "finish_reason")) {
            saw_finish_ = true;
            reply_.finish = finish_reason(*reason);
        }
    }
    read_usage(event, reply_);
    read_timings(event, reply_);
    return {};
}

Result<ChatResponse> StreamParser::finish() {
    // A last event without its line break still counts.
    if (!pending_.empty()) {
        std::string last = std::move(pending_);
        pending_.clear();
        if (!last.empty() && last.back() == '\r')
            last.pop_back();
        HA_TRY(handle_line(last));
    }
    if (!saw_done_ && !saw_finish_) {
        Error e = make_error(ErrorCode::backend_unavailable,
                             "stream cut short: it ended without a finish_reason or [DONE]");
        e.upstream_status = 200;
        return e;
    }
    return reply_;
}

std::string error_message(std::string_view body) {
    json j = parse(body);
    if (const json* error = member(j, "error")) {
        if (const std::string* message = string_member(*error, "message"))
            return cut_utf8(*message, kMaxErrorMessageBytes);
        if (error->is_string())
            return cut_utf8(error->get<std::string>(), kMaxErrorMessageBytes);
    }
    if (const std::string* message = string_member(j, "message"))
        return cut_utf8(*message, kMaxErrorMessageBytes);
    return cut_utf8(body, kMaxErrorMessageBytes);
}

bool is_context_overflow(std::string_view body) {
    json j = parse(body);
    if (const json* error = member(j, "error")) {
        for (const char* key : {"type", "code"}) {
            const std::string* value = string_member(*error, key);
            if (value != nullptr &&
                (*value == "exceed_context_size_error" || *value == "context_length_exceeded"))
                return true;
        }
    }
    const std::string message = lower(error_message(body));
    return message.find("maximum context length") != std::string::npos ||
           message.find("exceeds the available context") != std::string::npos;
}

bool blames_response_format(std::string_view message) {
    const std::string text = lower(message);
    return text.find("response_format") != std::string::npos ||
           text.find("schema") != std::string::npos;
}

std::optional<int> parse_props_context(std::string_view body) {
    json j = parse(body);
    std::optional<int64_t> n_ctx;
    if (const json* settings = member(j, "default_generation_settings"))
        n_ctx = integer(*settings, "n_ctx");
    if (!n_ctx)
        n_ctx = integer(j, "n_ctx");
    if (!n_ctx || *n_ctx <= 0 || *n_ctx > INT32_MAX)
        return std::nullopt;
    return int(*n_ctx);
}

std::optional<int> parse_token_count(std::string_view body) {
    json j = parse(body);
    const json* tokens = member(j, "tokens");
    if (tokens == nullptr || !tokens->is_array())
        return std::nullopt;
    return int(tokens->size());
}

std::string tokenize_body(std::string_view text) {
    return dump(json{{"content", std::string(text)}, {"add_special", false}});
}

std::optional<std::string> parse_first_model(std::string_view body) {
    json j = parse(body);
    const json* data = member(j, "data");
    if (data == nullptr || !data->is_array() || data->empty())
        return std::nullopt;
    const std::string* id = string_member(data->front(), "id");
    if (id == nullptr || id->empty())
        return std::nullopt;
    return *id;
}

}  // namespace hyperalign::llm::openai
