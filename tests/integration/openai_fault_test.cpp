#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "hyperalign/core/log.hpp"
#include "hyperalign/llm/client.hpp"
#include "hyperalign/llm/json_schema.hpp"
#include "hyperalign/llm/openai_backend.hpp"
#include "hyperalign/prompts/library.hpp"
#include "llm/openai/httplib_include.hpp"

namespace hyperalign::llm {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr const char* kSchema =
    R"({"type":"object","properties":{"answer":{"type":"string","enum":["yes","no"]}},)"
    R"("required":["answer"]})";

// A loopback OpenAI-style server whose handlers each test writes. Records every chat request.
class MockServer {
  public:
    MockServer() {
        server_.set_tcp_nodelay(true);
        port_ = server_.bind_to_any_port("127.0.0.1");
        thread_ = std::thread([this] { server_.listen_after_bind(); });
        for (int i = 0; i < 500 && !server_.is_running(); ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    ~MockServer() {
        server_.stop();
        thread_.join();
    }

    // Serves POST /v1/chat/completions with `handler`, given the 0-based request number.
    template <typename Handler>
    void on_chat(Handler handler) {
        server_.Post("/v1/chat/completions",
                     [this, handler](const httplib::Request& req, httplib::Response& res) {
                         int n = record(req);
                         handler(n, req, res);
                     });
    }

    httplib::Server& raw() { return server_; }
    int port() const { return port_; }
    std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1"; }
    int requests() {
        std::lock_guard lock(mutex_);
        return int(bodies_.size());
    }
    json body(int n) {
        std::lock_guard lock(mutex_);
        return json::parse(bodies_.at(size_t(n)));
    }
    std::string header(int n, const std::string& name) {
        std::lock_guard lock(mutex_);
        auto it = headers_.at(size_t(n)).find(name);
        return it == headers_.at(size_t(n)).end() ? "" : it->second;
    }

  private:
    int record(const httplib::Request& req) {
        std::lock_guard lock(mutex_);
        bodies_.push_back(req.body);
        headers_.push_back(req.headers);
        return int(bodies_.size()) - 1;
    }

    httplib::Server server_;
    std::thread thread_;
    int port_ = 0;
    std::mutex mutex_;
    std::vector<std::string> bodies_;
    std::vector<httplib::Headers> headers_;
};

std::string reply_body(const std::string& text, const std::string& finish = "stop") {
    json j = {{"object", "chat.completion"},
              {"choices",
               {{{"index", 0},
                 {"message", {{"role", "assistant"}, {"content", text}}},
                 {"finish_reason", finish}}}},
              {"usage",
               {{"prompt_tokens", 12},
                {"completion_tokens", 3},
                {"prompt_tokens_details", {{"cached_tokens", 4}}}}}};
    return j.dump();
}

std::string delta_event(const std::string& text) {
    json j = {
        {"object", "chat.completion.chunk"},
        {"choices", {{{"index", 0}, {"delta", {{"content", text}}}, {"finish_reason", nullptr}}}}};
    return "data: " + j.dump() + "\n\n";
}

std::string finish_events(const std::string& finish) {
    json end = {
        {"choices", {{{"index", 0}, {"delta", json::object()}, {"finish_reason", finish}}}}};
    json usage = {{"choices", json::array()},
                  {"usage",
                   {{"prompt_tokens", 9},
                    {"completion_tokens", 2},
                    {"prompt_tokens_details", {{"cached_tokens", 5}}}}}};
    return "data: " + end.dump() + "\n\ndata: " + usage.dump() + "\n\ndata: [DONE]\n\n";
}

// Sends `events` one write each; `complete` false closes the body without a finish.
void stream(httplib::Response& res, std::vector<std::string> events) {
    res.set_chunked_content_provider("text/event-stream",
                                     [events](size_t, httplib::DataSink& sink) {
                                         for (const auto& e : events)
                                             sink.write(e.data(), e.size());
                                         sink.done();
                                         return true;
                                     });
}

void error_reply(httplib::Response& res, int status, const std::string& message) {
    res.status = status;
    res.set_content(json{{"error", {{"message", message}, {"type", "test_error"}}}}.dump(),
                    "application/json");
}

OpenAiOptions options_for(const MockServer& server) {
    OpenAiOptions o;
    o.base_url = server.base_url();
    o.model = "test-model";
    o.context_size = 4096;
    o.json_mode = JsonMode::schema;
    o.connect_timeout = std::chrono::milliseconds(1000);
    o.read_timeout = std::chrono::milliseconds(5000);
    o.retry_base_delay = std::chrono::milliseconds(10);
    o.max_retry_wait = std::chrono::milliseconds(3000);
    o.max_retries = 3;
    return o;
}

std::unique_ptr<OpenAiBackend> open_backend(const OpenAiOptions& o) {
    auto backend = OpenAiBackend::open(o);
    EXPECT_TRUE(backend.ok()) << (backend.ok() ? "" : backend.error().describe());
    return backend.ok() ? std::move(backend).value() : nullptr;
}

ChatRequest hello() {
    ChatRequest r;
    r.messages = {{"system", "You are terse."}, {"user", "Say hello."}};
    r.sampling.max_tokens = 16;
    r.purpose = "test";
    return r;
}

double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

TEST(OpenAiFault, A429IsRetriedAfterTheServersRetryAfter) {
    MockServer server;
    server.on_chat([](int n, const httplib::Request&, httplib::Response& res) {
        if (n == 0) {
            res.set_header("Retry-After", "1");
            error_reply(res, 429, "slow down");
            return;
        }
        res.set_content(reply_body("hello"), "application/json");
    });
    auto backend = open_backend(options_for(server));
    ASSERT_TRUE(backend);
    const auto start = Clock::now();
    auto reply = backend->chat(hello());
    const double took = seconds_since(start);
    ASSERT_TRUE(reply.ok()) << reply.error().describe();
    EXPECT_EQ(reply->text, "hello");
    EXPECT_EQ(server.requests(), 2);
    EXPECT_GE(took, 0.95);
    EXPECT_LT(took, 3.0);
}

TEST(OpenAiFault, ServerErrorsAreRetriedUntilOneSucceeds) {
    MockServer server;
    server.on_chat([](int n, const httplib::Request&, httplib::Response& res) {
        if (n < 2)
            return error_reply(res, 500, "boom");
        res.set_content(reply_body("third time"), "application/json");
    });
    auto backend = open_backend(options_for(server));
    ASSERT_TRUE(backend);
    auto reply = backend->chat(hello());
    ASSERT_TRUE(reply.ok()) << reply.error().describe();
    EXPECT_EQ(reply->text, "third time");
    EXPECT_EQ(server.requests(), 3);
}

TEST(OpenAiFault, PersistentServerErrorsFailAfterMaxRetriesWithTheUpstreamStatus) {
    MockServer server;
    server.on_chat([](int, const httplib::Request&, httplib::Response& res) {
        error_reply(res, 500, "the model crashed");
    });
    OpenAiOptions o = options_for(server);
    o.max_retries = 2;
    auto backend = open_backend(o);
    ASSERT_TRUE(backend);
    auto reply = backend->chat(hello());
    ASSERT_FALSE(reply.ok());
    EXPECT_EQ(reply.error().code, ErrorCode::backend_unavailable);
    EXPECT_EQ(reply.error().upstream_status, 500);
    EXPECT_NE(reply.error().message.find("the model crashed"), std::string::npos);
    EXPECT_EQ(server.requests(), 3);
}

TEST(OpenAiFault, Persistent429sEndAsRateLimited) {
    MockServer server;
    server.on_chat([](int, const httplib::Request&, httplib::Response& res) {
        error_reply(res, 429, "quota");
    });
    OpenAiOptions o = options_for(server);
    o.max_retries = 1;
    auto backend = open_backend(o);
    ASSERT_TRUE(backend);
    auto reply = backend->chat(hello());
    ASSERT_FALSE(reply.ok());
    EXPECT_EQ(reply.error().code, ErrorCode::rate_limited);
    EXPECT_EQ(reply.error().upstream_status, 429);
    EXPECT_EQ(server.requests(), 2);
}

TEST(OpenAiFault, AServerSlowerThanTheReadTimeoutTimesOutWithoutRetry) {
    MockServer server;
    server.on_chat([](int, const httplib::Request&, httplib::Response& res) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1200));
        res.set_content(reply_body("too late"), "application/json");
    });
    OpenAiOptions o = options_for(server);
    o.read_timeout = std::chrono::milliseconds(300);
    auto backend = open_backend(o);
    ASSERT_TRUE(backend);
    const auto start = Clock::now();
    auto reply = backend->chat(hello());
    ASSERT_FALSE(reply.ok());
    EXPECT_EQ(reply.error().code, ErrorCode::backend_timeout) << reply.error().describe();
    EXPECT_LT(seconds_since(start), 1.0);
    EXPECT_EQ(server.requests(), 1);
}

TEST(OpenAiFault, ARefusedConnectionIsBackendUnavailableAfterRetries) {
    int port = 0;
    {
        MockServer gone;  // a port that was free a moment ago and has nobody listening now
        port = gone.port();
    }
    OpenAiOptions o;
    o.base_url = "http://127.0.0.1:" + std::to_string(port) + "/v1";
    o.model = "m";
    o.context_size = 1024;
    o.max_retries = 1;
    o.retry_base_delay = std::chrono::milliseconds(5);
    auto backend = open_backend(o);
    ASSERT_TRUE(backend);
    auto reply = backend->chat(hello());
    ASSERT_FALSE(reply.ok());
    EXPECT_EQ(reply.error().code, ErrorCode::backend_unavailable);
    EXPECT_EQ(reply.error().upstream_status, 0);
    EXPECT_NE(reply.error().message.find("gave up after 2 attempts"), std::string::npos);
}

TEST(OpenAiFault, HttpsToAPlainHttpServerFailsAsUnavailable) {
    MockServer server;
    OpenAiOptions o = options_for(server);
    o.base_url = "https://127.0.0.1:" + std::to_string(server.port()) + "/v1";
    o.max_retries = 0;
    auto backend = open_backend(o);
    ASSERT_TRUE(backend);
    auto reply = backend->chat(hello());
    ASSERT_FALSE(reply.ok());
    EXPECT_EQ(reply.error().code, ErrorCode::backend_unavailable) << reply.error().describe();
    EXPECT_EQ(server.requests(), 0);
}

TEST(OpenAiFault, ClientErrorsAreMappedAndNeverRetried) {
    struct Case {
        int status;
        std::string message;
        ErrorCode code;
        std::string says;
    };
    const std::vector<Case> cases = {
        {400, "Field 'top_k' must be a number", ErrorCode::invalid_input, "Field 'top_k'"},
        {401, "invalid key", ErrorCode::backend_unavailable, "check the API key"},
        {403, "forbidden", ErrorCode::backend_unavailable, "check the API key"},
        {404, "no such model", ErrorCode::not_found, "model or endpoint"},
        {422, "unprocessable", ErrorCode::invalid_input, "unprocessable"},
    };
    for (const Case& c : cases) {
        MockServer server;
        server.on_chat([&](int, const httplib::Request&, httplib::Response& res) {
            error_reply(res, c.status, c.message);
        });
        auto backend = open_backend(options_for(server));
        ASSERT_TRUE(backend);
        auto reply = backend->chat(hello());
        ASSERT_FALSE(reply.ok()) << c.status;
        EXPECT_EQ(reply.error().code, c.code) << c.status;
        EXPECT_EQ(reply.error().upstream_status, c.status);
        EXPECT_NE(reply.error().message.find(c.says), std::string::npos) << reply.error().message;
        EXPECT_EQ(server.requests(), 1) << c.status;
    }
}

TEST(OpenAiFault, APromptTooLongForTheServerIsAContextOverflow) {
    MockServer server;
    server.on_chat([](int, const httplib::Request&, httplib::Response& res) {
        res.status = 400;
        res.set_content(R"({"error":{"code":400,"message":"request (4043 tokens) exceeds the )"
                        R"(available context size (2048 tokens), try increasing it",)"
                        R"("type":"exceed_context_size_error"}})",
                        "application/json");
    });
    auto backend = open_backend(options_for(server));
    ASSERT_TRUE(backend);
    auto reply = backend->chat(hello());
    ASSERT_FALSE(reply.ok());
    EXPECT_EQ(reply.error().code, ErrorCode::context_overflow);
    EXPECT_EQ(server.requests(), 1);
}

TEST(OpenAiFault, MalformedBodiesAreErrorsNotCrashes) {
    MockServer server;
    server.on_chat([](int n, const httplib::Request& req, httplib::Response& res) {
        const bool empty_choices = json::parse(req.body)["max_tokens"] == 17;
        res.set_content(empty_choices ? std::string(R"({"choices":[]})")
                                      : std::string(R"({"choices":[{"message":)"),
                        "application/json");
        (void)n;
    });
    OpenAiOptions o = options_for(server);
    o.max_retries = 1;
    auto backend = open_backend(o);
    ASSERT_TRUE(backend);

    // Not JSON (a cut reply): retried, then backend_unavailable.
    auto cut = backend->chat(hello());
    ASSERT_FALSE(cut.ok());
    EXPECT_EQ(cut.error().code, ErrorCode::backend_unavailable);
    EXPECT_EQ(server.requests(), 2);

    // JSON without a reply text: the model's answer, not retried.
    ChatRequest r = hello();
    r.sampling.max_tokens = 17;
    auto empty = backend->chat(r);
    ASSERT_FALSE(empty.ok());
    EXPECT_EQ(empty.error().code, ErrorCode::bad_model_output);
    EXPECT_EQ(server.requests(), 3);
}

TEST(OpenAiFault, TheRequestCarriesTheSamplingSettingsAndTheSchema) {
    MockServer server;
    server.on_chat([](int, const httplib::Request&, httplib::Response& res) {
        res.set_content(reply_body(R"({"answer":"no"})", "length"), "application/json");
    });
    auto backend = open_backend(options_for(server));
    ASSERT_TRUE(backend);
    ChatRequest r = hello();
    r.sampling.seed = 7;
    r.sampling.temperature = 0.9f;
    r.sampling.top_p = 0.95f;
    r.sampling.top_k = 40;
    r.sampling.stop = {"\n\n"};
    r.json_schema = kSchema;
    auto reply = backend->chat(r);
    ASSERT_TRUE(reply.ok()) << reply.error().describe();
    EXPECT_EQ(reply->text, R"({"answer":"no"})");
    EXPECT_EQ(reply->finish, FinishReason::length);
    EXPECT_EQ(reply->usage.tokens_prompt, 12);
    EXPECT_EQ(reply->usage.tokens_prompt_cached, 4);
    EXPECT_EQ(reply->usage.tokens_completion, 3);

    json body = server.body(0);
    EXPECT_EQ(body["model"], "test-model");
    EXPECT_EQ(body["messages"].size(), 2u);
    EXPECT_EQ(body["messages"][1]["content"], "Say hello.");
    EXPECT_EQ(body["seed"], 7);
    EXPECT_DOUBLE_EQ(body["temperature"].get<double>(), 0.9);
    EXPECT_DOUBLE_EQ(body["top_p"].get<double>(), 0.95);
    EXPECT_EQ(body["top_k"], 40);
    EXPECT_EQ(body["max_tokens"], 16);
    EXPECT_EQ(body["stop"], json::array({"\n\n"}));
    EXPECT_FALSE(body.contains("stream"));
    const json& format = body["response_format"];
    EXPECT_EQ(format["type"], "json_schema");
    EXPECT_EQ(format["json_schema"]["name"], "reply");
    EXPECT_EQ(format["json_schema"]["strict"], true);
    json expected = json::parse(kSchema);
    expected["additionalProperties"] = false;
    EXPECT_EQ(format["json_schema"]["schema"], expected);

    // top_k 0 (off) is left out rather than sent as a value servers read differently.
    r.sampling.top_k = 0;
    r.json_schema.clear();
    ASSERT_TRUE(backend->chat(r).ok());
    EXPECT_FALSE(server.body(1).contains("top_k"));
    EXPECT_FALSE(server.body(1).contains("response_format"));
}

TEST(OpenAiFault, TheApiKeyAndExtraHeadersAreSent) {
    MockServer server;
    server.on_chat([](int, const httplib::Request&, httplib::Response& res) {
        res.set_content(reply_body("ok"), "application/json");
    });
    ::setenv("HYPERALIGN_TEST_OPENAI_KEY", "sk-test-123", 1);
    OpenAiOptions o = options_for(server);
    o.api_key_env = "HYPERALIGN_TEST_OPENAI_KEY";
    o.headers = {{"X-Team", "alignment"}};
    auto backend = open_backend(o);
    ::unsetenv("HYPERALIGN_TEST_OPENAI_KEY");
    ASSERT_TRUE(backend);
    ASSERT_TRUE(backend->chat(hello()).ok());
    EXPECT_EQ(server.header(0, "Authorization"), "Bearer sk-test-123");
    EXPECT_EQ(server.header(0, "X-Team"), "alignment");
}

TEST(OpenAiFault, RetriesAreLoggedAtWarnWithoutMessagesOrKeys) {
    MockServer server;
    server.on_chat([](int n, const httplib::Request&, httplib::Response& res) {
        if (n == 0)
            return error_reply(res, 503, "overloaded");
        res.set_content(reply_body("fine"), "application/json");
    });
    std::mutex m;
    std::vector<std::pair<log::Level, std::string>> lines;
    log::set_sink([&](log::Level level, std::string_view line) {
        std::lock_guard lock(m);
        lines.emplace_back(level, std::string(line));
    });
    ::setenv("HYPERALIGN_TEST_OPENAI_KEY", "sk-secret-key", 1);
    OpenAiOptions o = options_for(server);
    o.api_key_env = "HYPERALIGN_TEST_OPENAI_KEY";
    auto backend = open_backend(o);
    ::unsetenv("HYPERALIGN_TEST_OPENAI_KEY");
    ASSERT_TRUE(backend);
    ChatRequest r = hello();
    r.messages[1].content = "PRIVATE-DIARY-TEXT";
    auto reply = backend->chat(r);
    log::set_sink([](log::Level level, std::string_view line) {
        if (level >= log::Level::warn)
            std::fprintf(stderr, "%.*s\n", int(line.size()), line.data());
    });
    ASSERT_TRUE(reply.ok());
    int warnings = 0;
    for (const auto& [level, line] : lines) {
        warnings += level == log::Level::warn;
        EXPECT_EQ(line.find("PRIVATE-DIARY-TEXT"), std::string::npos) << line;
        EXPECT_EQ(line.find("sk-secret-key"), std::string::npos) << line;
    }
    EXPECT_EQ(warnings, 1);
}

TEST(OpenAiFault, StreamingDeliversEachDeltaAndTheFinalUsage) {
    MockServer server;
    server.on_chat([](int, const httplib::Request&, httplib::Response& res) {
        stream(res, {delta_event("Hel"), delta_event("lo, "), delta_event("world"),
                     finish_events("length")});
    });
    auto backend = open_backend(options_for(server));
    ASSERT_TRUE(backend);
    ChatRequest r = hello();
    std::vector<std::string> pieces;
    r.on_text = [&](std::string_view piece) { pieces.emplace_back(piece); };
    auto reply = backend->chat(r);
    ASSERT_TRUE(reply.ok()) << reply.error().describe();
    EXPECT_EQ(pieces, (std::vector<std::string>{"Hel", "lo, ", "world"}));
    EXPECT_EQ(reply->text, "Hello, world");
    EXPECT_EQ(reply->finish, FinishReason::length);
    EXPECT_EQ(reply->usage.tokens_prompt, 9);
    EXPECT_EQ(reply->usage.tokens_prompt_cached, 5);
    EXPECT_EQ(reply->usage.tokens_completion, 2);
    json body = server.body(0);
    EXPECT_EQ(body["stream"], true);
    EXPECT_EQ(body["stream_options"]["include_usage"], true);
}

TEST(OpenAiFault, AStreamCutShortIsRetriedAndTheNextGoodStreamWins) {
    MockServer server;
    server.on_chat([](int n, const httplib::Request&, httplib::Response& res) {
        if (n == 0)
            return stream(res, {delta_event("partial ")});  // ends without finish or [DONE]
        stream(res, {delta_event("whole "), delta_event("reply"), finish_events("stop")});
    });
    auto backend = open_backend(options_for(server));
    ASSERT_TRUE(backend);
    ChatRequest r = hello();
    std::string streamed;
    r.on_text = [&](std::string_view piece) { streamed += piece; };
    auto reply = backend->chat(r);
    ASSERT_TRUE(reply.ok()) << reply.error().describe();
    EXPECT_EQ(reply->text, "whole reply");
    EXPECT_EQ(streamed, "partial whole reply");  // the retry starts over
    EXPECT_EQ(server.requests(), 2);
}

TEST(OpenAiFault, AStreamAlwaysCutShortFailsClearly) {
    MockServer server;
    server.on_chat([](int, const httplib::Request&, httplib::Response& res) {
        stream(res, {delta_event("never ends")});
    });
    OpenAiOptions o = options_for(server);
    o.max_retries = 2;
    auto backend = open_backend(o);
    ASSERT_TRUE(backend);
    ChatRequest r = hello();
    r.on_text = [](std::string_view) {};
    auto reply = backend->chat(r);
    ASSERT_FALSE(reply.ok());
    EXPECT_EQ(reply.error().code, ErrorCode::backend_unavailable);
    EXPECT_NE(reply.error().message.find("stream cut short"), std::string::npos);
    EXPECT_EQ(server.requests(), 3);
}

TEST(OpenAiFault, ADroppedStreamConnectionIsRetried) {
    MockServer server;
    server.on_chat([](int n, const httplib::Request&, httplib::Response& res) {
        if (n == 0) {
            res.set_chunked_content_provider("text/event-stream",
                                             [](size_t, httplib::DataSink& sink) {
                                                 std::string e = delta_event("gone");
                                                 sink.write(e.data(), e.size());
                                                 return false;  // drops the connection
                                             });
            return;
        }
        stream(res, {delta_event("back"), finish_events("stop")});
    });
    auto backend = open_backend(options_for(server));
    ASSERT_TRUE(backend);
    ChatRequest r = hello();
    r.on_text = [](std::string_view) {};
    auto reply = backend->chat(r);
    ASSERT_TRUE(reply.ok()) << reply.error().describe();
    EXPECT_EQ(reply->text, "back");
    EXPECT_EQ(server.requests(), 2);
}

TEST(OpenAiFault, CancellingStopsAStreamAndMakesNoFurtherRequests) {
    MockServer server;
    server.on_chat([](int, const httplib::Request&, httplib::Response& res) {
        res.set_chunked_content_provider("text/event-stream", [](size_t, httplib::DataSink& sink) {
            for (int i = 0; i < 100; ++i) {  // at most 5 s
                std::string e = delta_event("tick ");
                if (!sink.write(e.data(), e.size()))
                    return false;
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
            }
            sink.done();
            return true;
        });
    });
    auto backend = open_backend(options_for(server));
    ASSERT_TRUE(backend);

    std::atomic<bool> cancel{false};
    ChatRequest r = hello();
    r.cancel = &cancel;
    std::atomic<int> pieces{0};
    r.on_text = [&](std::string_view) {
        if (++pieces == 3)
            cancel = true;
    };
    const auto start = Clock::now();
    auto reply = backend->chat(r);
    ASSERT_FALSE(reply.ok());
    EXPECT_EQ(reply.error().code, ErrorCode::cancelled);
    EXPECT_LT(seconds_since(start), 2.0);
    EXPECT_EQ(server.requests(), 1);

    // Already cancelled: nothing is sent.
    auto again = backend->chat(r);
    ASSERT_FALSE(again.ok());
    EXPECT_EQ(again.error().code, ErrorCode::cancelled);
    EXPECT_EQ(server.requests(), 1);
}

TEST(OpenAiFault, NoMoreRequestsThanTheConcurrencyLimitAreInFlight) {
    MockServer server;
    std::atomic<int> in_flight{0};
    std::atomic<int> most{0};
    server.on_chat([&](int, const httplib::Request&, httplib::Response& res) {
        const int now = ++in_flight;
        int seen = most.load();
        while (now > seen && !most.compare_exchange_weak(seen, now)) {
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        --in_flight;
        res.set_content(reply_body("done"), "application/json");
    });
    OpenAiOptions o = options_for(server);
    o.max_concurrency = 2;
    auto backend = open_backend(o);
    ASSERT_TRUE(backend);

    std::vector<std::thread> callers;
    std::atomic<int> succeeded{0};
    for (int i = 0; i < 6; ++i) {
        callers.emplace_back([&] { succeeded += backend->chat(hello()).ok(); });
    }
    for (auto& t : callers)
        t.join();
    EXPECT_EQ(succeeded, 6);
    EXPECT_EQ(server.requests(), 6);
    EXPECT_EQ(most, 2);
}

TEST(OpenAiFault, TheRateLimitSpacesRequestStarts) {
    MockServer server;
    server.on_chat([](int, const httplib::Request&, httplib::Response& res) {
        res.set_content(reply_body("ok"), "application/json");
    });
    OpenAiOptions o = options_for(server);
    o.requests_per_second = 10;
    auto backend = open_backend(o);
    ASSERT_TRUE(backend);
    const auto start = Clock::now();
    for (int i = 0; i < 4; ++i)
        ASSERT_TRUE(backend->chat(hello()).ok());
    // Four starts at least 100 ms apart: the last no sooner than 300 ms after the first.
    EXPECT_GE(seconds_since(start), 0.29);
}

TEST(OpenAiFault, ASchemaBreakingReplyIsReturnedAsIsAndClientRepairsItOnce) {
    MockServer server;
    server.on_chat([](int n, const httplib::Request&, httplib::Response& res) {
        res.set_content(reply_body(n == 0 ? "I think yes" : R"({"answer":"yes"})"),
                        "application/json");
    });
    auto backend = open_backend(options_for(server));
    ASSERT_TRUE(backend);

    ChatRequest r = hello();
    r.json_schema = kSchema;
    auto raw = backend->chat(r);
    ASSERT_TRUE(raw.ok());
    EXPECT_EQ(raw->text, "I think yes");

    MockServer second;
    second.on_chat([](int n, const httplib::Request&, httplib::Response& res) {
        res.set_content(reply_body(n == 0 ? "I think yes" : R"({"answer":"yes"})"),
                        "application/json");
    });
    auto repaired_backend = open_backend(options_for(second));
    ASSERT_TRUE(repaired_backend);
    Client client(*repaired_backend);
    auto schema = JsonSchema::parse(kSchema);
    ASSERT_TRUE(schema.ok());
    auto json_reply = client.chat_json(hello(), *schema);
    ASSERT_TRUE(json_reply.ok()) << json_reply.error().describe();
    EXPECT_EQ(*json_reply, R"({"answer":"yes"})");
    ASSERT_EQ(second.requests(), 2);
    json repair = second.body(1);
    ASSERT_EQ(repair["messages"].size(), 4u);
    EXPECT_EQ(repair["messages"][2]["role"], "assistant");
    EXPECT_EQ(repair["messages"][2]["content"], "I think yes");
    EXPECT_EQ(repair["messages"][3]["role"], "user");
}

TEST(OpenAiFault, PromptedModeAsksInTheMessageAndTakesTheObjectOutOfTheReply) {
    MockServer server;
    server.on_chat([](int, const httplib::Request&, httplib::Response& res) {
        res.set_content(reply_body("Sure! Here it is:\n```json\n{\"answer\": \"no\"}\n```\nBye."),
                        "application/json");
    });
    OpenAiOptions o = options_for(server);
    o.json_mode = JsonMode::prompted;
    auto backend = open_backend(o);
    ASSERT_TRUE(backend);
    ChatRequest r = hello();
    r.json_schema = kSchema;
    auto reply = backend->chat(r);
    ASSERT_TRUE(reply.ok()) << reply.error().describe();
    EXPECT_EQ(reply->text, R"({"answer": "no"})");

    json body = server.body(0);
    EXPECT_FALSE(body.contains("response_format"));
    auto instruction = prompts::render("json_instruction", "user", {{"schema", kSchema}});
    ASSERT_TRUE(instruction.ok());
    EXPECT_EQ(body["messages"][1]["content"], "Say hello.\n\n" + *instruction);
    EXPECT_EQ(body["messages"][0]["content"], "You are terse.");
}

// A server answering the probe with `probe_reply` (or `probe_status` when not 200) and every
// other request with a conforming reply.
void serve_probe(MockServer& server, int probe_status, std::string probe_reply) {
    server.on_chat([=](int, const httplib::Request& req, httplib::Response& res) {
        // The probe is the only request with a single message (the schema itself).
        const bool probe = json::parse(req.body)["messages"].size() == 1;
        if (probe && probe_status != 200)
            return error_reply(res, probe_status, "response_format is not supported");
        res.set_content(reply_body(probe ? probe_reply : R"({"answer":"yes"})"),
                        "application/json");
    });
}

TEST(OpenAiFault, TheProbeChoosesSchemaModeWhenTheReplyConforms) {
    MockServer server;
    serve_probe(server, 200, R"({ "answer" : "yes" })");
    OpenAiOptions o = options_for(server);
    o.json_mode = JsonMode::automatic;
    auto backend = open_backend(o);
    ASSERT_TRUE(backend);
    EXPECT_EQ(backend->json_mode(), JsonMode::automatic);
    auto mode = backend->probe_json_mode();
    ASSERT_TRUE(mode.ok()) << mode.error().describe();
    EXPECT_EQ(*mode, JsonMode::schema);
    EXPECT_EQ(backend->json_mode(), JsonMode::schema);
    json probe = server.body(0);
    EXPECT_TRUE(probe.contains("response_format"));
}

TEST(OpenAiFault, TheProbeChoosesPromptedModeWhenTheReplyBreaksTheSchemaOrIsRefused) {
    for (int status : {200, 400}) {
        MockServer server;
        serve_probe(server, status, "yes");
        OpenAiOptions o = options_for(server);
        o.json_mode = JsonMode::automatic;
        auto backend = open_backend(o);
        ASSERT_TRUE(backend);
        auto mode = backend->probe_json_mode();
        ASSERT_TRUE(mode.ok()) << mode.error().describe();
        EXPECT_EQ(*mode, JsonMode::prompted) << status;
        EXPECT_EQ(server.requests(), 1);
    }
}

TEST(OpenAiFault, AutoModeProbesOnceOnTheFirstStructuredCall) {
    MockServer server;
    serve_probe(server, 200, "not json");
    OpenAiOptions o = options_for(server);
    o.json_mode = JsonMode::automatic;
    auto backend = open_backend(o);
    ASSERT_TRUE(backend);
    ASSERT_TRUE(backend->chat(hello()).ok());  // free text: no probe
    EXPECT_EQ(server.requests(), 1);

    ChatRequest r = hello();
    r.json_schema = kSchema;
    ASSERT_TRUE(backend->chat(r).ok());
    ASSERT_TRUE(backend->chat(r).ok());
    EXPECT_EQ(server.requests(), 4);  // the free call, one probe, two structured calls
    EXPECT_EQ(backend->json_mode(), JsonMode::prompted);
    EXPECT_FALSE(server.body(3).contains("response_format"));
}

TEST(OpenAiFault, TheContextSizeComesFromPropsElseTheDefault) {
    MockServer without;
    MockServer with_props;
    with_props.raw().Get("/props", [](const httplib::Request&, httplib::Response& res) {
        res.set_content(R"({"default_generation_settings":{"n_ctx":2048},"total_slots":2})",
                        "application/json");
    });
    OpenAiOptions o = options_for(with_props);
    o.context_size = 0;
    auto backend = open_backend(o);
    ASSERT_TRUE(backend);
    EXPECT_EQ(backend->info().context_size, 2048);
    EXPECT_EQ(backend->info().backend, "openai");
    EXPECT_EQ(backend->info().model, "test-model");
    EXPECT_EQ(backend->info().chat_template, "");

    o = options_for(without);
    o.context_size = 0;
    backend = open_backend(o);
    ASSERT_TRUE(backend);
    EXPECT_EQ(backend->info().context_size, kDefaultOpenAiContextSize);
}

TEST(OpenAiFault, TheModelDefaultsToTheFirstOneTheServerLists) {
    MockServer server;
    server.raw().Get("/v1/models", [](const httplib::Request&, httplib::Response& res) {
        res.set_content(R"({"object":"list","data":[{"id":"served-model"},{"id":"other"}]})",
                        "application/json");
    });
    OpenAiOptions o = options_for(server);
    o.model.clear();
    auto backend = open_backend(o);
    ASSERT_TRUE(backend);
    EXPECT_EQ(backend->info().model, "served-model");
}

TEST(OpenAiFault, TokensAreCountedByTheServerAndRemembered) {
    MockServer server;
    std::atomic<int> calls{0};
    server.raw().Post("/tokenize", [&](const httplib::Request& req, httplib::Response& res) {
        ++calls;
        json body = json::parse(req.body);
        // One token per word, so the count is predictable.
        const std::string text = body["content"];
        json tokens = json::array();
        for (size_t i = 0, n = 1 + size_t(std::count(text.begin(), text.end(), ' ')); i < n; ++i)
            tokens.push_back(int(i));
        res.set_content(json{{"tokens", tokens}}.dump(), "application/json");
    });
    auto backend = open_backend(options_for(server));
    ASSERT_TRUE(backend);
    auto n = backend->count_tokens("one two three four");
    ASSERT_TRUE(n.ok()) << n.error().describe();
    EXPECT_EQ(*n, 4);
    EXPECT_EQ(*backend->count_tokens("one two three four"), 4);
    EXPECT_EQ(calls, 1);
}

TEST(OpenAiFault, WithoutATokenizerTokensAreEstimatedAsBytesOverThree) {
    MockServer server;
    auto backend = open_backend(options_for(server));
    ASSERT_TRUE(backend);
    auto n = backend->count_tokens("ten bytes!");  // 10 bytes -> 4
    ASSERT_TRUE(n.ok());
    EXPECT_EQ(*n, 4);
    EXPECT_EQ(*backend->count_tokens(""), 0);
}

TEST(OpenAiFault, BadOptionsAreRejected) {
    for (const char* url : {"ftp://host/v1", "127.0.0.1:8080", "http://user:pw@host/v1",
                            "http://host:99999/v1", "http:///v1", "http://host/v1?x=1"}) {
        OpenAiOptions o;
        o.base_url = url;
        o.model = "m";
        o.context_size = 1;
        auto backend = OpenAiBackend::open(o);
        ASSERT_FALSE(backend.ok()) << url;
        EXPECT_EQ(backend.error().code, ErrorCode::invalid_input) << url;
        EXPECT_EQ(backend.error().field, "base_url") << url;
    }
    OpenAiOptions o;
    o.model = "m";
    o.context_size = 1;
    o.max_concurrency = 0;
    EXPECT_FALSE(OpenAiBackend::open(o).ok());
    EXPECT_EQ(*parse_json_mode("auto"), JsonMode::automatic);
    EXPECT_EQ(to_string(JsonMode::prompted), "prompted");
    EXPECT_FALSE(parse_json_mode("grammar").ok());
}

}  // namespace
}  // namespace hyperalign::llm
