#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "llm/openai/call_limiter.hpp"
#include "llm/openai/http_transport.hpp"
#include "llm/openai/json_extract.hpp"
#include "llm/openai/token_counter.hpp"
#include "llm/openai/wire.hpp"

namespace hyperalign::llm::openai {
namespace {

using nlohmann::json;

TEST(OpenAiWire, BaseUrlsSplitIntoOriginAndPrefix) {
    auto a = parse_base_url("http://127.0.0.1:8080/v1");
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(a->origin, "http://127.0.0.1:8080");
    EXPECT_EQ(a->prefix, "/v1");
    auto b = parse_base_url("HTTPS://api.example.com/openai/v1/");
    ASSERT_TRUE(b.ok());
    EXPECT_EQ(b->origin, "https://api.example.com");
    EXPECT_EQ(b->prefix, "/openai/v1");
    auto c = parse_base_url("http://[::1]:9000");
    ASSERT_TRUE(c.ok());
    EXPECT_EQ(c->origin, "http://[::1]:9000");
    EXPECT_EQ(c->prefix, "");
    EXPECT_EQ(parent_prefix("/v1"), "");
    EXPECT_EQ(parent_prefix("/openai/v1"), "/openai");
    EXPECT_EQ(parent_prefix(""), "");
}

TEST(OpenAiWire, TheFirstJsonObjectIsTakenOutOfProseAndFences) {
    EXPECT_EQ(first_json_object(R"({"a":1})"), R"({"a":1})");
    EXPECT_EQ(first_json_object("Sure!\n```json\n{\"a\": {\"b\": \"}\"}}\n```\nMore {\"c\":2}"),
              R"({"a": {"b": "}"}})");
    // A balanced span that is not JSON is passed over.
    EXPECT_EQ(first_json_object(R"(Fill in {name}: {"name":"x"})"), R"({"name":"x"})");
    EXPECT_EQ(first_json_object(R"({"s":"a \"quoted\" {brace"})"),
              R"({"s":"a \"quoted\" {brace"})");
    EXPECT_FALSE(first_json_object("no object here").has_value());
    EXPECT_FALSE(first_json_object(R"({"never": "closed")").has_value());
}

TEST(OpenAiWire, StreamEventsSplitAnywhereGiveTheSameReply) {
    const std::string body =
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null}}]}"
        "\r\n\r\n: keep-alive comment\n\n"
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hé\"}}]}\n\n"
        "data:{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"llo\"},"
        "\"finish_reason\":\"length\"}]}\n\n"
        "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":2}}\n\n"
        "data: [DONE]\n\n";
    for (size_t piece : {size_t(1), size_t(3), size_t(17), body.size()}) {
        std::vector<std::string> deltas;
        StreamParser parser([&](std::string_view t) { deltas.emplace_back(t); });
        for (size_t i = 0; i < body.size(); i += piece)
            ASSERT_TRUE(parser.feed(std::string_view(body).substr(i, piece)).ok());
        auto reply = parser.finish();
        ASSERT_TRUE(reply.ok()) << piece;
        EXPECT_EQ(reply->text, "Héllo");
        EXPECT_EQ(deltas, (std::vector<std::string>{"Hé", "llo"}));
        EXPECT_EQ(reply->finish, FinishReason::length);
        EXPECT_EQ(reply->usage.tokens_prompt, 7);
        EXPECT_EQ(reply->usage.tokens_completion, 2);
    }
}

TEST(OpenAiWire, AStreamWithoutAnEndIsCutShortAndBrokenEventsFail) {
    StreamParser cut({});
    ASSERT_TRUE(cut.feed("data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\n").ok());
    auto reply = cut.finish();
    ASSERT_FALSE(reply.ok());
    EXPECT_EQ(reply.error().code, ErrorCode::backend_unavailable);
    EXPECT_NE(reply.error().message.find("stream cut short"), std::string::npos);

    StreamParser broken({});
    Status bad = broken.feed("data: {\"choices\":\n");
    EXPECT_FALSE(bad.ok());
    EXPECT_FALSE(broken.failed_by_server());

    StreamParser failing({});
    Status error = failing.feed("error: {\"code\":500,\"message\":\"slot unavailable\"}\n\n");
    ASSERT_FALSE(error.ok());
    EXPECT_TRUE(failing.failed_by_server());
    EXPECT_NE(error.error().message.find("slot unavailable"), std::string::npos);
}

TEST(OpenAiWire, WholeRepliesAreParsedAndBadOnesAreErrors) {
    auto ok = parse_chat_reply(
        R"({"choices":[{"message":{"content":"hi"},"finish_reason":"stop"}],)"
        R"("usage":{"prompt_tokens":5,"completion_tokens":1,"prompt_tokens_details":)"
        R"({"cached_tokens":3}},"timings":{"prompt_ms":1.5,"predicted_ms":2.5}})");
    ASSERT_TRUE(ok.ok());
    EXPECT_EQ(ok->text, "hi");
    EXPECT_EQ(ok->finish, FinishReason::stop);
    EXPECT_EQ(ok->usage.tokens_prompt_cached, 3);
    EXPECT_DOUBLE_EQ(ok->timings.ms_prompt, 1.5);
    EXPECT_DOUBLE_EQ(ok->timings.ms_completion, 2.5);

    EXPECT_EQ(parse_chat_reply("<html>").error().code, ErrorCode::backend_unavailable);
    for (const char* body : {R"({"choices":[{"message":{"content":null}}]})", R"([1,2])",
                             R"({"choices":"x"})", R"({"choices":[{"message":{"content":7}}]})"}) {
        auto r = parse_chat_reply(body);
        ASSERT_FALSE(r.ok()) << body;
        EXPECT_EQ(r.error().code, ErrorCode::bad_model_output) << body;
    }
}

TEST(OpenAiWire, SchemasAreClosedAtEveryObjectLevel) {
    auto strict = strict_schema(
        R"({"type":"object","properties":{"a":{"type":"array","items":{"type":"object",)"
        R"("properties":{"b":{"type":"string"}}}},"m":{"type":"object",)"
        R"("additionalProperties":{"type":"integer"}}}})");
    ASSERT_TRUE(strict.ok());
    json s = json::parse(*strict);
    EXPECT_EQ(s["additionalProperties"], false);
    EXPECT_EQ(s["properties"]["a"]["items"]["additionalProperties"], false);
    EXPECT_EQ(s["properties"]["m"]["additionalProperties"], json({{"type", "integer"}}));
    EXPECT_EQ(strict_schema("not json").error().code, ErrorCode::invalid_input);
}

TEST(OpenAiWire, ServerErrorsAreReadFromTheirBodies) {
    EXPECT_EQ(error_message(R"({"error":{"message":"bad field"}})"), "bad field");
    EXPECT_EQ(error_message(R"({"error":"plain"})"), "plain");
    EXPECT_EQ(error_message("Service Unavailable"), "Service Unavailable");
    EXPECT_EQ(error_message(std::string(1000, 'x')).size(), 303u);
    EXPECT_TRUE(is_context_overflow(R"({"error":{"code":"context_length_exceeded"}})"));
    EXPECT_TRUE(is_context_overflow(R"({"error":{"type":"exceed_context_size_error"}})"));
    EXPECT_FALSE(is_context_overflow(R"({"error":{"message":"bad top_k"}})"));
    EXPECT_EQ(parse_props_context(R"({"default_generation_settings":{"n_ctx":2048}})"), 2048);
    EXPECT_EQ(parse_props_context(R"({"n_ctx":512})"), 512);
    EXPECT_EQ(parse_props_context(R"({"n_ctx":-1})"), std::nullopt);
    EXPECT_EQ(parse_token_count(R"({"tokens":[1,2,3]})"), 3);
    EXPECT_EQ(parse_first_model(R"({"data":[{"id":"m1"}]})"), "m1");
    EXPECT_EQ(parse_first_model(R"({"data":[]})"), std::nullopt);
}

TEST(OpenAiWire, TextThatIsNotUtf8StillMakesARequest) {
    std::vector<Message> messages = {{"user", std::string("cut in the middle \xC3")}};
    SamplingParams sampling;
    WireRequest w;
    w.model = "m";
    w.messages = &messages;
    w.sampling = &sampling;
    auto body = chat_body(w);
    ASSERT_TRUE(body.ok());
    EXPECT_TRUE(json::accept(*body));
    EXPECT_EQ(estimate_tokens("abcdefg"), 3);
}

TEST(OpenAiBackoff, DelaysGrowWithinTheirCapAndRetryAfterIsCapped) {
    Backoff backoff(std::chrono::milliseconds(100), std::chrono::milliseconds(1000));
    for (int i = 0; i < 200; ++i) {
        EXPECT_LE(backoff.delay(0).count(), 100);
        EXPECT_LE(backoff.delay(2).count(), 400);
        EXPECT_LE(backoff.delay(40).count(), 1000);
        EXPECT_GE(backoff.delay(3).count(), 0);
    }
    EXPECT_EQ(backoff.retry_after(0.5).count(), 500);
    EXPECT_EQ(backoff.retry_after(3600).count(), 1000);
}

}  // namespace
}  // namespace hyperalign::llm::openai
