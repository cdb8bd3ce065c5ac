#include "hyperalign/llm/response_cache.hpp"
#include "support/sqlite_scan.hpp"

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include <SQLiteCpp/SQLiteCpp.h>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "hyperalign/core/hash.hpp"
#include "hyperalign/llm/cached_backend.hpp"
#include "support/scripted_backend.hpp"

namespace hyperalign::llm {
namespace {

using hyperalign::testing::all_cells;

namespace fs = std::filesystem;
using testing::ScriptedBackend;

// A fresh directory per test, removed afterwards.
class ResponseCacheDir : public ::testing::Test {
  protected:
    void SetUp() override {
        const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
        dir_ = fs::temp_directory_path() / fmt::format("hyperalign-cache-test-{}-{}-{}", getpid(),
                                                       info->test_suite_name(), info->name());
        fs::remove_all(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }

    fs::path db_path() const { return dir_ / "nested" / "responses.sqlite"; }

    ResponseCache open_cache() const {
        auto cache = ResponseCache::open(db_path());
        EXPECT_TRUE(cache.ok()) << (cache.ok() ? "" : cache.error().describe());
        return std::move(cache).value();
    }

    fs::path dir_;
};

// A backend that gives back prepared results in order, so tests can script failures and
// finish reasons that ScriptedBackend cannot.
class QueueBackend final : public Backend {
  public:
    explicit QueueBackend(std::vector<Result<ChatResponse>> results)
        : results_(std::move(results)) {
        info_.backend = "queue";
        info_.model = "queue-model";
    }

    Result<ChatResponse> chat(const ChatRequest&) override { return results_.at(calls++); }
    Result<int> count_tokens(std::string_view text) override { return int(text.size()); }
    const ModelInfo& info() const override { return info_; }

    size_t calls = 0;

  private:
    std::vector<Result<ChatResponse>> results_;
    ModelInfo info_;
};

ChatResponse reply(std::string text, FinishReason finish = FinishReason::stop) {
    ChatResponse r;
    r.text = std::move(text);
    r.finish = finish;
    r.usage.tokens_prompt = 11;
    r.usage.tokens_completion = 7;
    return r;
}

ChatRequest user_request(std::string text, std::string person = "") {
    ChatRequest r;
    r.messages = {{"system", "You write like the person."}, {"user", std::move(text)}};
    r.person = std::move(person);
    r.purpose = "generation";
    return r;
}

std::string file_bytes(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(ResponseCacheKey, IsTheSha256OfTheDocumentedSerialisation) {
    ModelInfo model{"scripted", "scripted-model", "", "none", 8192};
    ChatRequest request;
    request.messages = {{"user", "hi"}};
    request.sampling.temperature = 0.7f;
    request.sampling.stop = {"\n\n"};

    const std::string expected =
        "26:hyperalign.response-key.v1"
        "8:scripted14:scripted-model0:4:none4:8192"
        "1:14:user2:hi"
        "2:423:0.71:11:03:5121:12:\n\n"
        "0:";
    EXPECT_EQ(response_key(model, request), sha256_hex(expected));
}

TEST(ResponseCacheKey, ChangesWithEveryDecidingFieldAndNoOther) {
    ModelInfo base_model{"llama.cpp", "/models/m.gguf", "abc123", "chatml", 4096};
    ChatRequest base = user_request("Write a note.", "alice");
    base.sampling.stop = {"</s>"};
    base.json_schema = R"({"type":"object"})";
    const std::string base_key = response_key(base_model, base);

    using Change = std::function<void(ModelInfo&, ChatRequest&)>;
    const std::vector<std::pair<std::string, Change>> deciding = {
        {"backend", [](ModelInfo& m, ChatRequest&) { m.backend = "openai"; }},
        {"model", [](ModelInfo& m, ChatRequest&) { m.model = "/models/n.gguf"; }},
        {"model_sha256", [](ModelInfo& m, ChatRequest&) { m.model_sha256 = "abc124"; }},
        {"chat_template", [](ModelInfo& m, ChatRequest&) { m.chat_template = "llama3"; }},
        {"context_size", [](ModelInfo& m, ChatRequest&) { m.context_size = 8192; }},
        {"role", [](ModelInfo&, ChatRequest& r) { r.messages[0].role = "user"; }},
        {"content", [](ModelInfo&, ChatRequest& r) { r.messages[1].content += "!"; }},
        {"message count",
         [](ModelInfo&, ChatRequest& r) {
             r.messages.push_back({"user", ""});
         }},
        {"seed", [](ModelInfo&, ChatRequest& r) { r.sampling.seed = 43; }},
        {"temperature", [](ModelInfo&, ChatRequest& r) { r.sampling.temperature = 0.5f; }},
        {"top_p", [](ModelInfo&, ChatRequest& r) { r.sampling.top_p = 0.9f; }},
        {"top_k", [](ModelInfo&, ChatRequest& r) { r.sampling.top_k = 40; }},
        {"max_tokens", [](ModelInfo&, ChatRequest& r) { r.sampling.max_tokens = 256; }},
        {"stop", [](ModelInfo&, ChatRequest& r) { r.sampling.stop = {"</S>"}; }},
        {"stop count", [](ModelInfo&, ChatRequest& r) { r.sampling.stop.push_back(""); }},
        {"json_schema", [](ModelInfo&, ChatRequest& r) { r.json_schema.clear(); }},
    };
    std::set<std::string> keys = {base_key};
    for (const auto& [name, change] : deciding) {
        ModelInfo m = base_model;
        ChatRequest r = base;
        change(m, r);
        EXPECT_TRUE(keys.insert(response_key(m, r)).second) << name << " did not change the key";
    }

    std::atomic<bool> cancel{false};
    const std::vector<std::pair<std::string, Change>> others = {
        {"on_text", [](ModelInfo&, ChatRequest& r) { r.on_text = [](std::string_view) {}; }},
        {"cancel", [&](ModelInfo&, ChatRequest& r) { r.cancel = &cancel; }},
        {"prefix_messages", [](ModelInfo&, ChatRequest& r) { r.prefix_messages = 1; }},
        {"person", [](ModelInfo&, ChatRequest& r) { r.person = "bob"; }},
        {"purpose", [](ModelInfo&, ChatRequest& r) { r.purpose = "scoring"; }},
    };
    for (const auto& [name, change] : others) {
        ModelInfo m = base_model;
        ChatRequest r = base;
        change(m, r);
        EXPECT_EQ(response_key(m, r), base_key) << name << " changed the key";
    }
}

TEST(ResponseCacheKey, MovingTextAcrossFieldBoundariesChangesTheKey) {
    ModelInfo model{"llama.cpp", "m", "", "", 0};
    ChatRequest a, b;
    a.messages = {{"user", "ab"}, {"user", "c"}};
    b.messages = {{"user", "a"}, {"user", "bc"}};
    EXPECT_NE(response_key(model, a), response_key(model, b));

    a.messages = b.messages = {};
    a.sampling.stop = {"x", "y"};
    b.sampling.stop = {"x:y"};
    EXPECT_NE(response_key(model, a), response_key(model, b));
}

TEST(ResponseCacheKey, DefaultPathIsInTheCacheDirectory) {
    EXPECT_EQ(default_cache_path(), cache_dir() / "responses.sqlite");
}

TEST_F(ResponseCacheDir, OpenCreatesDirectoriesAndTheSchemaInWalMode) {
    ResponseCache cache = open_cache();
    ASSERT_TRUE(fs::exists(db_path()));

    SQLite::Database raw(db_path().string(), SQLite::OPEN_READONLY);
    EXPECT_EQ(raw.execAndGet("PRAGMA journal_mode").getString(), "wal");
    EXPECT_EQ(raw.execAndGet("SELECT value FROM meta WHERE name = 'schema_version'").getString(),
              "1");
    EXPECT_TRUE(raw.tableExists("responses"));
    EXPECT_EQ(raw.execAndGet("SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND "
                             "name = 'responses_person'")
                  .getInt(),
              1);
}

TEST_F(ResponseCacheDir, StoresAndLooksUpAReply) {
    ResponseCache cache = open_cache();
    ModelInfo model{"queue", "queue-model", "", "", 0};
    auto missing = cache.lookup("k1");
    ASSERT_TRUE(missing.ok());
    EXPECT_FALSE(missing->has_value());

    ASSERT_TRUE(cache
                    .store("k1", model, user_request("q", "alice"),
                           reply("cut short", FinishReason::length))
                    .ok());
    auto found = cache.lookup("k1");
    ASSERT_TRUE(found.ok());
    ASSERT_TRUE(found->has_value());
    const ChatResponse& r = **found;
    EXPECT_EQ(r.text, "cut short");
    EXPECT_EQ(r.finish, FinishReason::length);
    EXPECT_EQ(r.usage.tokens_prompt, 11);
    EXPECT_EQ(r.usage.tokens_completion, 7);
    EXPECT_TRUE(r.from_cache);
    EXPECT_EQ(*cache.size(), 1);
}

TEST_F(ResponseCacheDir, ASecondCacheOnTheSameFileSeesTheRows) {
    ModelInfo model{"queue", "queue-model", "", "", 0};
    ResponseCache first = open_cache();
    ResponseCache second = open_cache();

    ASSERT_TRUE(first.store("k1", model, user_request("q1"), reply("one")).ok());
    auto seen = second.lookup("k1");
    ASSERT_TRUE(seen.ok());
    ASSERT_TRUE(seen->has_value());
    EXPECT_EQ((*seen)->text, "one");

    ASSERT_TRUE(second.store("k2", model, user_request("q2"), reply("two")).ok());
    auto back = first.lookup("k2");
    ASSERT_TRUE(back.ok() && back->has_value());
    EXPECT_EQ((*back)->text, "two");
    EXPECT_EQ(*first.size(), 2);
}

TEST_F(ResponseCacheDir, DeletePersonRemovesExactlyThatPersonsRows) {
    ModelInfo model{"queue", "queue-model", "", "", 0};
    {
        ResponseCache cache = open_cache();
        ASSERT_TRUE(
            cache.store("a1", model, user_request("q1", "alice"), reply("ALICE-REPLY-1")).ok());
        ASSERT_TRUE(
            cache.store("a2", model, user_request("q2", "alice"), reply("ALICE-REPLY-2")).ok());
        ASSERT_TRUE(cache.store("b1", model, user_request("q3", "bob"), reply("BOB-REPLY")).ok());
        ASSERT_TRUE(cache.store("n1", model, user_request("q4"), reply("NOBODY-REPLY")).ok());

        auto removed = cache.delete_person("alice");
        ASSERT_TRUE(removed.ok());
        EXPECT_EQ(*removed, 2);
        EXPECT_EQ(*cache.size(), 2);
        EXPECT_FALSE(cache.lookup("a1")->has_value());
        EXPECT_TRUE(cache.lookup("b1")->has_value());
        EXPECT_TRUE(cache.lookup("n1")->has_value());

        // Nor do the bytes linger in free pages or the write-ahead log, even while the cache is
        // still open (closing it would checkpoint anyway).
        for (const auto& file : {db_path(), fs::path(db_path().string() + "-wal")})
            EXPECT_EQ(file_bytes(file).find("ALICE-REPLY"), std::string::npos) << file;
    }

    const auto cells = all_cells(db_path());
    int bob_cells = 0;
    for (const auto& cell : cells) {
        EXPECT_EQ(cell.find("alice"), std::string::npos) << cell;
        EXPECT_EQ(cell.find("ALICE-REPLY"), std::string::npos) << cell;
        bob_cells += cell == "BOB-REPLY";
    }
    EXPECT_EQ(bob_cells, 1);  // the scan does read the rows
}

TEST_F(ResponseCacheDir, DeletePersonRefusesAnEmptyPerson) {
    ResponseCache cache = open_cache();
    auto removed = cache.delete_person("");
    ASSERT_FALSE(removed.ok());
    EXPECT_EQ(removed.error().code, ErrorCode::invalid_input);
}

TEST_F(ResponseCacheDir, AFileThatIsNotSQLiteGivesAClearError) {
    fs::create_directories(db_path().parent_path());
    {
        std::ofstream out(db_path(), std::ios::binary);
        for (int i = 0; i < 4096; ++i)
            out.put(char((i * 131 + 7) % 256));
    }
    auto cache = ResponseCache::open(db_path());
    ASSERT_FALSE(cache.ok());
    EXPECT_EQ(cache.error().code, ErrorCode::invalid_input);
    EXPECT_EQ(cache.error().file, db_path().string());
    EXPECT_NE(cache.error().message.find("not a usable response cache"), std::string::npos)
        << cache.error().message;
}

TEST_F(ResponseCacheDir, AnotherSQLiteDatabaseIsRefused) {
    fs::create_directories(db_path().parent_path());
    {
        SQLite::Database other(db_path().string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
        other.exec("CREATE TABLE accounts(id INTEGER)");
    }
    auto cache = ResponseCache::open(db_path());
    ASSERT_FALSE(cache.ok());
    EXPECT_EQ(cache.error().code, ErrorCode::invalid_input);
    EXPECT_EQ(cache.error().file, db_path().string());
}

TEST_F(ResponseCacheDir, ANewerSchemaVersionIsRefused) {
    { ResponseCache cache = open_cache(); }
    {
        SQLite::Database raw(db_path().string(), SQLite::OPEN_READWRITE);
        raw.exec("UPDATE meta SET value = '2' WHERE name = 'schema_version'");
    }
    auto cache = ResponseCache::open(db_path());
    ASSERT_FALSE(cache.ok());
    EXPECT_EQ(cache.error().code, ErrorCode::invalid_input);
    EXPECT_NE(cache.error().message.find("schema version 2"), std::string::npos);
}

using CachedBackendTest = ResponseCacheDir;

TEST_F(CachedBackendTest, AMissThenAHitReturnsTheSameReplyAndCallsTheModelOnce) {
    ScriptedBackend inner([](const ChatRequest& r) { return "Re: " + testing::user_text(r); });
    ResponseCache cache = open_cache();
    CachedBackend backend(inner, cache);

    auto first = backend.chat(user_request("Write a note to Sam."));
    ASSERT_TRUE(first.ok());
    EXPECT_FALSE(first->from_cache);

    std::vector<std::string> streamed;
    ChatRequest again = user_request("Write a note to Sam.");
    again.on_text = [&](std::string_view piece) { streamed.emplace_back(piece); };
    auto second = backend.chat(again);
    ASSERT_TRUE(second.ok());

    EXPECT_TRUE(second->from_cache);
    EXPECT_EQ(second->text, "Re: Write a note to Sam.");
    EXPECT_EQ(second->text, first->text);
    EXPECT_EQ(second->finish, FinishReason::stop);
    EXPECT_EQ(second->usage.tokens_prompt, first->usage.tokens_prompt);
    EXPECT_EQ(second->usage.tokens_prompt, 12);  // "You write like the person." 7 + the note 5
    EXPECT_EQ(second->usage.tokens_completion, first->usage.tokens_completion);
    EXPECT_EQ(second->usage.tokens_completion, 6);
    EXPECT_EQ(streamed, std::vector<std::string>{"Re: Write a note to Sam."});
    EXPECT_EQ(inner.requests.size(), 1u);
    EXPECT_EQ(backend.hits(), 1);
    EXPECT_EQ(backend.misses(), 1);
}

TEST_F(CachedBackendTest, ADifferentSeedCallsTheModelAgain) {
    ScriptedBackend inner([](const ChatRequest& r) { return fmt::format("{}", r.sampling.seed); });
    ResponseCache cache = open_cache();
    CachedBackend backend(inner, cache);

    ChatRequest request = user_request("q");
    ASSERT_EQ(backend.chat(request)->text, "42");
    request.sampling.seed = 7;
    ASSERT_EQ(backend.chat(request)->text, "7");

    EXPECT_EQ(inner.requests.size(), 2u);
    EXPECT_EQ(backend.misses(), 2);
    EXPECT_EQ(backend.hits(), 0);
    EXPECT_EQ(*cache.size(), 2);
}

TEST_F(CachedBackendTest, ErrorsAreNotCached) {
    QueueBackend inner({make_error(ErrorCode::backend_timeout, "slow"), reply("fine")});
    ResponseCache cache = open_cache();
    CachedBackend backend(inner, cache);

    auto failed = backend.chat(user_request("q"));
    ASSERT_FALSE(failed.ok());
    EXPECT_EQ(failed.error().code, ErrorCode::backend_timeout);
    EXPECT_EQ(*cache.size(), 0);

    auto retried = backend.chat(user_request("q"));
    ASSERT_TRUE(retried.ok());
    EXPECT_EQ(retried->text, "fine");
    EXPECT_FALSE(retried->from_cache);
    EXPECT_EQ(inner.calls, 2u);

    auto hit = backend.chat(user_request("q"));
    ASSERT_TRUE(hit.ok());
    EXPECT_TRUE(hit->from_cache);
    EXPECT_EQ(inner.calls, 2u);
}

TEST_F(CachedBackendTest, AReplyCutAtMaxTokensIsCachedWithItsFinishReason) {
    QueueBackend inner({reply("half a sent", FinishReason::length)});
    ResponseCache cache = open_cache();
    CachedBackend backend(inner, cache);

    ASSERT_TRUE(backend.chat(user_request("q")).ok());
    auto hit = backend.chat(user_request("q"));
    ASSERT_TRUE(hit.ok());
    EXPECT_TRUE(hit->from_cache);
    EXPECT_EQ(hit->finish, FinishReason::length);
    EXPECT_EQ(hit->text, "half a sent");
    EXPECT_EQ(inner.calls, 1u);
}

TEST_F(CachedBackendTest, ReadAndWriteSwitchesAreHonoured) {
    ScriptedBackend inner([](const ChatRequest&) { return "answer"; });
    ResponseCache cache = open_cache();

    CachedBackend write_only(inner, cache, /*read=*/false, /*write=*/true);
    ASSERT_TRUE(write_only.chat(user_request("q")).ok());
    ASSERT_TRUE(write_only.chat(user_request("q")).ok());
    EXPECT_EQ(inner.requests.size(), 2u);
    EXPECT_EQ(write_only.hits() + write_only.misses(), 0);
    EXPECT_EQ(*cache.size(), 1);

    CachedBackend read_only(inner, cache, /*read=*/true, /*write=*/false);
    EXPECT_TRUE(read_only.chat(user_request("q"))->from_cache);
    EXPECT_FALSE(read_only.chat(user_request("other"))->from_cache);
    EXPECT_EQ(inner.requests.size(), 3u);
    EXPECT_EQ(*cache.size(), 1);
}

TEST_F(CachedBackendTest, ForwardsTokenCountsAndModelInfo) {
    ScriptedBackend inner([](const ChatRequest&) { return ""; }, 2048);
    ResponseCache cache = open_cache();
    CachedBackend backend(inner, cache);
    EXPECT_EQ(*backend.count_tokens("12345678"), 2);
    EXPECT_EQ(&backend.info(), &inner.info());
}

TEST_F(CachedBackendTest, ConcurrentCallsFromFourThreadsAreSafe) {
    ScriptedBackend inner([](const ChatRequest& r) { return "Re: " + testing::user_text(r); });
    ResponseCache cache = open_cache();
    CachedBackend backend(inner, cache);

    constexpr int kThreads = 4;
    constexpr int kCallsPerThread = 50;
    constexpr int kDistinctPrompts = 8;
    std::atomic<int> wrong{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < kCallsPerThread; ++i) {
                const std::string prompt = fmt::format("prompt {}", (i + t) % kDistinctPrompts);
                auto r = backend.chat(user_request(prompt));
                if (!r.ok() || r->text != "Re: " + prompt)
                    ++wrong;
            }
        });
    }
    for (auto& thread : threads)
        thread.join();

    EXPECT_EQ(wrong.load(), 0);
    EXPECT_EQ(backend.hits() + backend.misses(), kThreads * kCallsPerThread);
    // Only misses reach the model; racing threads may both miss one prompt, never more than all.
    EXPECT_EQ(int64_t(inner.requests.size()), backend.misses());
    EXPECT_GE(backend.misses(), kDistinctPrompts);
    EXPECT_LE(backend.misses(), kThreads * kDistinctPrompts);
    EXPECT_EQ(*cache.size(), kDistinctPrompts);
}

}  // namespace
}  // namespace hyperalign::llm
