#include "hyperalign/llm/client.hpp"

#include <gtest/gtest.h>

#include "support/scripted_backend.hpp"

namespace hyperalign::llm {
namespace {

using testing::ScriptedBackend;

JsonSchema answer_schema() {
    auto s = JsonSchema::parse(
        R"({"type":"object","properties":{"answer":{"type":"string","enum":["A","B"]}},)"
        R"("required":["answer"]})");
    EXPECT_TRUE(s.ok());
    return *s;
}

TEST(ChatJson, ReturnsAValidReplyAtOnce) {
    ScriptedBackend backend([](const ChatRequest&) { return R"({"answer":"B"})"; });
    Client client(backend);
    auto r = client.chat_json({}, answer_schema());
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(*r, R"({"answer":"B"})");
    EXPECT_EQ(backend.requests.size(), 1u);
    EXPECT_EQ(backend.requests[0].json_schema, answer_schema().text());
}

TEST(ChatJson, RetriesOnceWithTheErrorThenSucceeds) {
    int calls = 0;
    ScriptedBackend backend([&](const ChatRequest&) {
        return ++calls == 1 ? std::string(R"({"answer":"C"})") : std::string(R"({"answer":"A"})");
    });
    Client client(backend);
    ChatRequest req;
    req.messages = {{"user", "pick"}};
    req.sampling.max_tokens = 100;
    auto r = client.chat_json(req, answer_schema());
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(*r, R"({"answer":"A"})");
    ASSERT_EQ(backend.requests.size(), 2u);
    // The repair turn shows the model its reply and names the failing field.
    const auto& repair = backend.requests[1].messages;
    ASSERT_EQ(repair.size(), 3u);
    EXPECT_EQ(repair[1].role, "assistant");
    EXPECT_EQ(repair[1].content, R"({"answer":"C"})");
    EXPECT_NE(repair[2].content.find("answer"), std::string::npos);
    EXPECT_EQ(backend.requests[1].sampling.max_tokens, 150);
}

TEST(ChatJson, GivesBadModelOutputAfterTheRetryFails) {
    ScriptedBackend backend([](const ChatRequest&) { return "{\"answer\":"; });
    Client client(backend);
    auto r = client.chat_json({}, answer_schema());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::bad_model_output);
    EXPECT_EQ(backend.requests.size(), 2u);
}

TEST(ChatJson, AppliesTheCallersCheckAfterTheSchema) {
    int calls = 0;
    ScriptedBackend backend([&](const ChatRequest&) {
        return ++calls == 1 ? std::string(R"({"answer":"B"})") : std::string(R"({"answer":"A"})");
    });
    Client client(backend);
    auto only_a = [](const std::string& json) -> Status {
        if (json.find("\"A\"") != std::string::npos)
            return {};
        return make_error(ErrorCode::bad_model_output, "must be A");
    };
    auto r = client.chat_json({}, answer_schema(), only_a);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(calls, 2);
}

TEST(Budget, StopsAtTheCapWithBudgetExceeded) {
    ScriptedBackend backend([](const ChatRequest&) { return "ok"; });
    Client client(backend, {/*max_calls=*/2, 1});
    ChatRequest req;
    req.purpose = "generation";
    EXPECT_TRUE(client.chat(req).ok());
    EXPECT_TRUE(client.chat(req).ok());
    auto third = client.chat(req);
    ASSERT_FALSE(third.ok());
    EXPECT_EQ(third.error().code, ErrorCode::budget_exceeded);
    EXPECT_EQ(backend.requests.size(), 2u);
}

TEST(Accounting, SumsCallsAndTokensPerPurpose) {
    ScriptedBackend backend([](const ChatRequest&) { return "12345678"; });  // 2 tokens
    Client client(backend);
    ChatRequest a;
    a.purpose = "scoring";
    a.messages = {{"user", "1234"}};  // 1 token
    ChatRequest b = a;
    b.purpose = "contrast";
    ASSERT_TRUE(client.chat(a).ok());
    ASSERT_TRUE(client.chat(a).ok());
    ASSERT_TRUE(client.chat(b).ok());
    auto acc = client.accounting();
    EXPECT_EQ(acc.by_purpose["scoring"].calls, 2);
    EXPECT_EQ(acc.by_purpose["scoring"].tokens_prompt, 2);
    EXPECT_EQ(acc.by_purpose["scoring"].tokens_completion, 4);
    EXPECT_EQ(acc.total().calls, 3);
    EXPECT_EQ(acc.total().tokens_completion, 6);
}

}  // namespace
}  // namespace hyperalign::llm
