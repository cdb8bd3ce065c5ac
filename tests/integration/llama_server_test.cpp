#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <unistd.h>
#include <nlohmann/json.hpp>

#include "hyperalign/data/demonstration_loader.hpp"
#include "hyperalign/generate/generator.hpp"
#include "hyperalign/learn/profile_builder.hpp"
#include "hyperalign/llm/client.hpp"
#include "hyperalign/llm/json_schema.hpp"
#include "hyperalign/llm/openai_backend.hpp"
#include "support/llama_server.hpp"
#include "support/model.hpp"

namespace hyperalign::llm {
namespace {

using testing::LlamaServerProcess;

ChatRequest story_request(int max_tokens) {
    ChatRequest r;
    r.messages = {{"user", "Once upon a time, there was a little girl named Lily."}};
    r.sampling.max_tokens = max_tokens;
    r.purpose = "test";
    return r;
}

// The real llama-server over HTTP, one process for the suite.
class LlamaServer : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        bool failed = false;
        server_ = LlamaServerProcess::start(skip_reason_, failed).release();
        start_failed_ = failed;
    }
    static void TearDownTestSuite() {
        delete server_;
        server_ = nullptr;
    }
    void SetUp() override {
        if (start_failed_)
            FAIL() << skip_reason_;
        if (server_ == nullptr)
            GTEST_SKIP() << skip_reason_;
    }

    // Model name and context size are left for the server to tell.
    static std::unique_ptr<OpenAiBackend> open(JsonMode mode = JsonMode::automatic) {
        OpenAiOptions o;
        o.base_url = server_->base_url();
        o.json_mode = mode;
        o.read_timeout = std::chrono::seconds(120);
        auto backend = OpenAiBackend::open(o);
        EXPECT_TRUE(backend.ok()) << (backend.ok() ? "" : backend.error().describe());
        return backend.ok() ? std::move(backend).value() : nullptr;
    }

    static inline LlamaServerProcess* server_ = nullptr;
    static inline std::string skip_reason_;
    static inline bool start_failed_ = false;
};

TEST_F(LlamaServer, AChatCompletionReturnsTextAndUsage) {
    auto backend = open();
    ASSERT_TRUE(backend);
    EXPECT_EQ(backend->info().backend, "openai");
    EXPECT_EQ(backend->info().model, HYPERALIGN_TEST_MODEL);  // what /v1/models lists first
    EXPECT_EQ(backend->info().context_size, 2048);            // 4096 over two slots
    auto reply = backend->chat(story_request(32));
    ASSERT_TRUE(reply.ok()) << reply.error().describe();
    EXPECT_FALSE(reply->text.empty());
    EXPECT_GT(reply->usage.tokens_prompt, 0);
    EXPECT_GT(reply->usage.tokens_completion, 0);
    EXPECT_LE(reply->usage.tokens_completion, 32);
    if (reply->usage.tokens_completion == 32)
        EXPECT_EQ(reply->finish, FinishReason::length);
    EXPECT_GT(reply->timings.ms_total, 0);
}

TEST_F(LlamaServer, SchemaModeRepliesAreSchemaValidJson) {
    auto backend = open(JsonMode::schema);
    ASSERT_TRUE(backend);
    const char* schema_text =
        R"({"type":"object","properties":{"reasoning":{"type":"string","maxLength":120},)"
        R"("answer":{"type":"string","enum":["A","B"]}},"required":["reasoning","answer"]})";
    auto schema = JsonSchema::parse(schema_text);
    ASSERT_TRUE(schema.ok());
    for (uint32_t seed : {1u, 2u, 3u}) {
        ChatRequest r = story_request(400);
        r.json_schema = schema_text;
        r.sampling.temperature = 0.8f;
        r.sampling.seed = seed;
        auto reply = backend->chat(r);
        ASSERT_TRUE(reply.ok()) << reply.error().describe();
        Status valid = schema->validate(reply->text);
        EXPECT_TRUE(valid.ok()) << valid.error().describe();
    }
}

TEST_F(LlamaServer, TheProbePicksSchemaMode) {
    auto backend = open(JsonMode::automatic);
    ASSERT_TRUE(backend);
    auto mode = backend->probe_json_mode();
    ASSERT_TRUE(mode.ok()) << mode.error().describe();
    EXPECT_EQ(*mode, JsonMode::schema);
    EXPECT_EQ(backend->json_mode(), JsonMode::schema);
}

TEST_F(LlamaServer, StreamingDeliversTheSameTextAsTheFinalContent) {
    auto backend = open();
    ASSERT_TRUE(backend);
    ChatRequest r = story_request(60);
    std::string streamed;
    int pieces = 0;
    r.on_text = [&](std::string_view piece) {
        streamed += piece;
        ++pieces;
    };
    auto reply = backend->chat(r);
    ASSERT_TRUE(reply.ok()) << reply.error().describe();
    EXPECT_FALSE(reply->text.empty());
    EXPECT_EQ(streamed, reply->text);
    EXPECT_GT(pieces, 1);
    EXPECT_GT(reply->usage.tokens_completion, 0);  // from the stream's final usage chunk
}

TEST_F(LlamaServer, TokenCountsMatchTheInProcessTokenizer) {
    auto backend = open();
    auto local = testing::open_test_model(512);
    ASSERT_TRUE(backend && local);
    for (const char* text : {"Once upon a time", "", "Tokyo stocks rose on Monday. Lily smiled."}) {
        auto remote = backend->count_tokens(text);
        auto in_process = local->count_tokens(text);
        ASSERT_TRUE(remote.ok()) << remote.error().describe();
        ASSERT_TRUE(in_process.ok());
        EXPECT_EQ(*remote, *in_process) << text;
    }
}

TEST_F(LlamaServer, APromptLongerThanTheContextIsAContextOverflow) {
    auto backend = open();
    ASSERT_TRUE(backend);
    ChatRequest r = story_request(8);
    std::string long_text;
    for (int i = 0; i < 1500; ++i)
        long_text += "Lily went to the park. ";
    r.messages = {{"user", long_text}};
    auto reply = backend->chat(r);
    ASSERT_FALSE(reply.ok());
    EXPECT_EQ(reply.error().code, ErrorCode::context_overflow) << reply.error().describe();
    EXPECT_EQ(reply.error().upstream_status, 400);
}

TEST_F(LlamaServer, TheProfilePipelineRunsOverHttp) {
    data::LoadOptions lo;
    lo.author = "custom_user_0";
    auto demos = data::load_demonstrations("custom", lo);
    if (!demos.ok())
        GTEST_SKIP() << "custom data not found: " << demos.error().describe();
    auto backend = open();
    ASSERT_TRUE(backend);
    Client client(*backend);

    learn::ProfileOptions o;
    o.person = "custom_user_0";
    o.seed = 11;
    o.engine.init_batch_size = 3;
    o.engine.hypotheses_per_batch = 2;
    auto profile = learn::build_profile(client, *demos, o);
    ASSERT_TRUE(profile.ok()) << profile.error().describe();
    EXPECT_FALSE(profile->hypotheses.empty());
    EXPECT_EQ(profile->provenance.backend, "openai");
    EXPECT_EQ(profile->provenance.context_size, 2048);
    EXPECT_GT(client.accounting().by_purpose.at("scoring").calls, 0);

    generate::GenerateOptions g;
    g.sampling.max_tokens = 48;
    auto written = generate::write(client, *profile, g,
                                   "Write an email inviting lab mates to a picnic on Friday.");
    ASSERT_TRUE(written.ok()) << written.error().describe();
    EXPECT_FALSE(written->text.empty());
    EXPECT_GT(written->usage.tokens_completion, 0);
    EXPECT_LE(written->usage.tokens_completion, 48);
}

}  // namespace
}  // namespace hyperalign::llm

namespace hyperalign::llm {
namespace {

std::string slurp_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// The issue's acceptance run: `hyperalign personalize --base-url ...` against llama-server
// writes a schema-valid profile and a text, and a rerun is served from the cache.
TEST_F(LlamaServer, TheCliPersonalizesOverHttpAndResumesFromTheCache) {
    namespace fs = std::filesystem;
    const fs::path dir =
        fs::temp_directory_path() / ("hyperalign-http-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    const std::string profile = (dir / "profile.json").string();
    const std::string log1 = (dir / "run1.json").string();
    const std::string log2 = (dir / "run2.json").string();
    const std::string base = std::string(HYPERALIGN_CLI) + " personalize --base-url " +
                             server_->base_url() + " --examples custom --hypotheses-per-batch 2" +
                             " --cache " + (dir / "cache.sqlite").string() + " --profile-out " +
                             profile + " --max-tokens 24 --json -q";
    const std::string task = " 'Write an email about the lab picnic.'";
    ASSERT_EQ(
        std::system(
            (base + " --run-log " + log1 + task + " > " + (dir / "out1.jsonl").string()).c_str()),
        0);
    auto schema =
        JsonSchema::parse(slurp_file(HYPERALIGN_SOURCE_DIR "/schemas/profile.schema.json"));
    ASSERT_TRUE(schema.ok());
    Status valid = schema->validate(slurp_file(profile));
    EXPECT_TRUE(valid.ok()) << valid.error().describe();
    auto line = nlohmann::json::parse(slurp_file((dir / "out1.jsonl").string()));
    EXPECT_LE(line["tokens_completion"].get<int>(), 24);
    EXPECT_EQ(nlohmann::json::parse(slurp_file(profile))["provenance"]["backend"], "openai");

    ASSERT_EQ(std::system((base + " --run-log " + log2 + task + " > /dev/null").c_str()), 0);
    auto run2 = nlohmann::json::parse(slurp_file(log2));
    EXPECT_EQ(run2["cache"]["misses"], 0);
    EXPECT_EQ(run2["cache"]["hits"], nlohmann::json::parse(slurp_file(log1))["spend"]["calls"]);
    fs::remove_all(dir);
}

}  // namespace
}  // namespace hyperalign::llm
