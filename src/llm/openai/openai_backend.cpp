#include "hyperalign/llm/openai_backend.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <mutex>

#include "hyperalign/core/log.hpp"
#include "hyperalign/llm/json_schema.hpp"
#include "hyperalign/prompts/library.hpp"
#include "llm/openai/call_limiter.hpp"
#include "llm/openai/chat_exchange.hpp"
#include "llm/openai/http_transport.hpp"
#include "llm/openai/json_extract.hpp"
#include "llm/openai/token_counter.hpp"
#include "llm/openai/wire.hpp"

namespace hyperalign::llm {
namespace {

using namespace openai;

// The probe's schema: one enum answer, so that a conforming reply is short and unambiguous.
// The probe message is this schema alone, without an instruction to follow it: a server that
// ignores response_format then rarely conforms by chance, and no prose is needed.
constexpr std::string_view kProbeSchema =
    R"({"type":"object","properties":{"answer":{"type":"string","enum":["yes","no"]}},)"
    R"("required":["answer"]})";
constexpr int kProbeMaxTokens = 64;

double ms_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
        .count();
}

Status check_options(const OpenAiOptions& o) {
    const auto bad = [](const char* field, const char* message) {
        Error e = make_error(ErrorCode::invalid_input, message);
        e.field = field;
        return e;
    };
    if (o.max_retries < 0)
        return bad("max_retries", "must be 0 or more");
    if (o.max_concurrency < 1)
        return bad("max_concurrency", "must be 1 or more");
    if (!(o.requests_per_second >= 0))
        return bad("requests_per_second", "must be 0 (no limit) or more");
    if (o.context_size < 0)
        return bad("context_size", "must be 0 (ask the server) or more");
    if (o.connect_timeout.count() <= 0 || o.read_timeout.count() <= 0)
        return bad("timeout", "timeouts must be positive");
    if (o.retry_base_delay.count() < 0 || o.max_retry_wait.count() < 0)
        return bad("retry", "retry waits must not be negative");
    for (const auto& [name, value] : o.headers) {
        if (name.empty() || name.find_first_of(":\r\n") != std::string::npos ||
            value.find_first_of("\r\n") != std::string::npos)
            return bad("headers", "a header needs a name without ':' and no line breaks");
    }
    return {};
}

std::vector<std::pair<std::string, std::string>> request_headers(const OpenAiOptions& o) {
    std::vector<std::pair<std::string, std::string>> headers;
    const char* key = o.api_key_env.empty() ? nullptr : std::getenv(o.api_key_env.c_str());
    if (key != nullptr && *key != '\0')
        headers.emplace_back("Authorization", std::string("Bearer ") + key);
    headers.insert(headers.end(), o.headers.begin(), o.headers.end());
    return headers;
}

// Where llama-server keeps its own routes: next to the OpenAI ones' parent, else at the root.
std::vector<std::string> server_paths(const Endpoint& endpoint, const std::string& route) {
    std::vector<std::string> paths{parent_prefix(endpoint.prefix) + route};
    if (paths.front() != route)
        paths.push_back(route);
    return paths;
}

Result<std::string> served_model(HttpTransport& transport) {
    const std::string path = transport.endpoint().prefix + "/models";
    HttpReply reply = transport.get(path);
    if (reply.transport != Transport::ok || reply.status < 200 || reply.status >= 300) {
        Error e = make_error(
            ErrorCode::backend_unavailable,
            fmt::format("no model was named and GET {}{} failed ({}); name one",
                        transport.endpoint().origin, path,
                        reply.transport == Transport::ok ? fmt::format("HTTP {}", reply.status)
                                                         : reply.detail));
        e.upstream_status = reply.status;
        return e;
    }
    auto model = parse_first_model(reply.body);
    if (!model)
        return make_error(ErrorCode::invalid_input, "no model was named and the server lists none");
    return *model;
}

int server_context_size(HttpTransport& transport) {
    for (const std::string& path : server_paths(transport.endpoint(), "/props")) {
        HttpReply reply = transport.get(path);
        if (reply.transport != Transport::ok) {
            log::warn("openai: could not ask {} for its context size ({}); assuming {} tokens",
                      transport.endpoint().origin, reply.detail, kDefaultOpenAiContextSize);
            return kDefaultOpenAiContextSize;
        }
        if (reply.status != 200)
            continue;
        if (auto n_ctx = parse_props_context(reply.body)) {
            log::debug("openai: context size {} from {}", *n_ctx, path);
            return *n_ctx;
        }
    }
    log::info("openai: the server does not report its context size; assuming {} tokens",
              kDefaultOpenAiContextSize);
    return kDefaultOpenAiContextSize;
}

}  // namespace

Result<JsonMode> parse_json_mode(std::string_view name) {
    if (name == "schema")
        return JsonMode::schema;
    if (name == "prompted")
        return JsonMode::prompted;
    if (name == "auto")
        return JsonMode::automatic;
    Error e = make_error(ErrorCode::invalid_input,
                         fmt::format("unknown JSON mode '{}': use schema, prompted or auto", name));
    e.field = "json_mode";
    return e;
}

std::string_view to_string(JsonMode mode) {
    switch (mode) {
        case JsonMode::schema:
            return "schema";
        case JsonMode::prompted:
            return "prompted";
        case JsonMode::automatic:
            break;
    }
    return "auto";
}

struct OpenAiBackend::Impl {
    Impl(const OpenAiOptions& o, Endpoint endpoint, HttpSettings settings)
        : options(o),
          transport(std::move(endpoint), std::move(settings)),
          limiter(o.max_concurrency, o.requests_per_second),
          exchange(transport, limiter, {o.max_retries, o.retry_base_delay, o.max_retry_wait}),
          tokens(transport, limiter, server_paths(transport.endpoint(), "/tokenize")),
          mode(o.json_mode) {}

    Result<ChatResponse> chat_in_mode(const ChatRequest& request, JsonMode in_mode);
    Result<JsonMode> resolve_mode(const std::atomic<bool>* cancel);
    Result<JsonMode> probe(const std::atomic<bool>* cancel);
    JsonMode current_mode() const {
        std::lock_guard lock(mode_mutex);
        return mode;
    }
    void set_mode(JsonMode m) {
        std::lock_guard lock(mode_mutex);
        mode = m;
    }

    OpenAiOptions options;
    ModelInfo info;
    HttpTransport transport;
    CallLimiter limiter;
    ChatExchange exchange;
    TokenCounter tokens;

    mutable std::mutex mode_mutex;
    JsonMode mode;
    std::mutex probe_mutex;  // one probe at a time; the others wait for its answer
};

Result<ChatResponse> OpenAiBackend::Impl::chat_in_mode(const ChatRequest& request,
                                                       JsonMode in_mode) {
    const bool structured = !request.json_schema.empty();
    const bool prompted = structured && in_mode == JsonMode::prompted;
    std::vector<Message> messages = request.messages;
    if (prompted) {
        // The instruction joins the last user message, where chat models look for the task.
        HA_ASSIGN_OR_RETURN(
            std::string instruction,
            prompts::render("json_instruction", "user", {{"schema", request.json_schema}}));
        auto last_user = std::find_if(messages.rbegin(), messages.rend(),
                                      [](const Message& m) { return m.role == "user"; });
        if (last_user == messages.rend())
            messages.push_back({"user", instruction});
        else
            last_user->content += "\n\n" + instruction;
    }

    WireRequest wire;
    wire.model = info.model;
    wire.messages = &messages;
    wire.sampling = &request.sampling;
    wire.json_schema = structured && !prompted ? request.json_schema : "";
    wire.stream = static_cast<bool>(request.on_text);
    HA_ASSIGN_OR_RETURN(std::string body, chat_body(wire));
    HA_ASSIGN_OR_RETURN(ChatResponse reply, exchange.run(body, request));

    if (prompted) {
        if (auto object = first_json_object(reply.text))
            reply.text = std::string(*object);
    }
    return reply;
}

Result<JsonMode> OpenAiBackend::Impl::probe(const std::atomic<bool>* cancel) {
    ChatRequest request;
    request.messages = {{"user", std::string(kProbeSchema)}};
    request.json_schema = std::string(kProbeSchema);
    request.sampling.temperature = 0;
    request.sampling.max_tokens = kProbeMaxTokens;
    request.purpose = "json_probe";
    request.cancel = cancel;

    auto reply = chat_in_mode(request, JsonMode::schema);
    if (!reply.ok()) {
        const Error& e = reply.error();
        if (e.upstream_status == 400 && e.code == ErrorCode::invalid_input) {
            log::warn("openai: {} rejected a JSON schema request ({}); using prompted JSON",
                      transport.endpoint().origin, e.message);
            return JsonMode::prompted;
        }
        return reply.take_error();
    }
    auto schema = JsonSchema::parse(kProbeSchema);
    if (!schema.ok())
        return schema.take_error();
    Status valid = schema->validate(reply->text);
    if (!valid.ok()) {
        log::warn("openai: {} does not hold replies to a JSON schema ({}); using prompted JSON",
                  transport.endpoint().origin, valid.error().describe());
        return JsonMode::prompted;
    }
    log::info("openai: {} follows JSON schemas; using schema mode", transport.endpoint().origin);
    return JsonMode::schema;
}

Result<JsonMode> OpenAiBackend::Impl::resolve_mode(const std::atomic<bool>* cancel) {
    if (JsonMode m = current_mode(); m != JsonMode::automatic)
        return m;
    std::lock_guard probe_lock(probe_mutex);
    if (JsonMode m = current_mode(); m != JsonMode::automatic)
        return m;
    HA_ASSIGN_OR_RETURN(JsonMode found, probe(cancel));
    set_mode(found);
    return found;
}

Result<std::unique_ptr<OpenAiBackend>> OpenAiBackend::open(const OpenAiOptions& options) {
    HA_TRY(check_options(options));
    HA_ASSIGN_OR_RETURN(Endpoint endpoint, parse_base_url(options.base_url));

    HttpSettings settings;
    settings.headers = request_headers(options);
    settings.connect_timeout = options.connect_timeout;
    settings.read_timeout = options.read_timeout;
    settings.max_idle_connections = size_t(options.max_concurrency);
    auto impl = std::make_unique<Impl>(options, std::move(endpoint), std::move(settings));

    ModelInfo& info = impl->info;
    info.backend = "openai";
    info.model = options.model;
    if (info.model.empty()) {
        HA_ASSIGN_OR_RETURN(info.model, served_model(impl->transport));
    }
    info.context_size =
        options.context_size > 0 ? options.context_size : server_context_size(impl->transport);
    log::debug("openai: {}{} model {} context {} JSON mode {}", impl->transport.endpoint().origin,
               impl->transport.endpoint().prefix, info.model, info.context_size,
               to_string(options.json_mode));
    return std::unique_ptr<OpenAiBackend>(new OpenAiBackend(std::move(impl)));
}

OpenAiBackend::OpenAiBackend(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
OpenAiBackend::~OpenAiBackend() = default;

Result<ChatResponse> OpenAiBackend::chat(const ChatRequest& request) {
    const auto started = std::chrono::steady_clock::now();
    JsonMode mode = JsonMode::schema;
    if (!request.json_schema.empty()) {
        HA_ASSIGN_OR_RETURN(mode, impl_->resolve_mode(request.cancel));
    }
    auto reply = impl_->chat_in_mode(request, mode);

    // A server can pass the probe and still reject a real schema (OpenAI's strict mode refuses
    // some keywords): when the mode was ours to choose, fall back rather than fail every call.
    if (!reply.ok() && mode == JsonMode::schema && !request.json_schema.empty() &&
        impl_->options.json_mode == JsonMode::automatic && reply.error().upstream_status == 400 &&
        reply.error().code == ErrorCode::invalid_input &&
        blames_response_format(reply.error().message)) {
        log::warn("openai: the server rejected a {} schema ({}); using prompted JSON from now on",
                  request.purpose, reply.error().message);
        impl_->set_mode(JsonMode::prompted);
        reply = impl_->chat_in_mode(request, JsonMode::prompted);
    }
    if (reply.ok())
        reply->timings.ms_total = ms_since(started);
    return reply;
}

Result<int> OpenAiBackend::count_tokens(std::string_view text) {
    return impl_->tokens.count(text);
}

const ModelInfo& OpenAiBackend::info() const {
    return impl_->info;
}

Result<JsonMode> OpenAiBackend::probe_json_mode() {
    std::lock_guard probe_lock(impl_->probe_mutex);
    HA_ASSIGN_OR_RETURN(JsonMode found, impl_->probe(nullptr));
    if (impl_->options.json_mode == JsonMode::automatic)
        impl_->set_mode(found);
    return found;
}

JsonMode OpenAiBackend::json_mode() const {
    return impl_->current_mode();
}

}  // namespace hyperalign::llm
