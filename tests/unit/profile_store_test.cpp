#include "hyperalign/store/profile_store.hpp"
#include "support/sqlite_scan.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <SQLiteCpp/SQLiteCpp.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "hyperalign/core/hash.hpp"
#include "hyperalign/llm/response_cache.hpp"

namespace hyperalign::store {
namespace {

using hyperalign::testing::all_cells;

namespace fs = std::filesystem;

// A fresh directory per test, removed afterwards.
class ProfileStoreTest : public ::testing::Test {
  protected:
    void SetUp() override {
        const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
        dir_ = fs::temp_directory_path() /
               fmt::format("hyperalign-store-test-{}-{}", getpid(), info->name());
        fs::remove_all(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }

    fs::path db_path() const { return dir_ / "data" / "store.sqlite"; }

    ProfileStore open_store() const {
        auto store = ProfileStore::open(db_path());
        EXPECT_TRUE(store.ok()) << (store.ok() ? "" : store.error().describe());
        return std::move(store).value();
    }

    fs::path dir_;
};

ProfileDemonstration demo(std::string id, std::string text) {
    ProfileDemonstration d;
    d.id = std::move(id);
    d.prompt = "Write a note to a friend.";
    d.sha256 = sha256_hex(text);
    d.text = std::move(text);
    return d;
}

Hypothesis hypothesis(std::string text, int visits, int correct, std::vector<std::string> ids) {
    Hypothesis h;
    h.text = std::move(text);
    h.visits = visits;
    h.correct = correct;
    h.accuracy = visits ? double(correct) / visits : 0;
    h.evidence = std::move(ids);
    return h;
}

// Alice's texts, which no other row may hold once she is deleted.
const std::vector<std::string> kAliceTexts = {
    "The lighthouse keeper's cat knocked the kettle over again; I laughed until tea time.",
    "Marmalade on burnt toast is a personality, not a breakfast.",
};

Profile alice_profile() {
    Profile p;
    p.person = "alice";
    p.attributes.writing_style = {"short, wry sentences"};
    p.hypotheses = {hypothesis("Uses food as a metaphor.", 4, 3, {"a1"}),
                    hypothesis("Mentions animals.", 4, 2, {"a0"})};
    p.demonstrations = {demo("a0", kAliceTexts[0]), demo("a1", kAliceTexts[1])};
    p.provenance.model = "stories260K.gguf";
    p.provenance.created_at = "2025-01-01T00:00:00Z";
    return p;
}

Profile bob_profile() {
    Profile p;
    p.person = "bob";
    p.hypotheses = {hypothesis("Writes in lists.", 2, 2, {"b0"})};
    p.demonstrations = {demo("b0", "Three things: rope, tar, and a stubborn mule.")};
    return p;
}

bool any_cell_contains(const std::vector<std::string>& cells, const std::string& needle) {
    for (const auto& c : cells) {
        if (c.find(needle) != std::string::npos)
            return true;
    }
    return false;
}

std::string file_bytes(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST_F(ProfileStoreTest, PuttingTwiceGivesVersionsOneAndTwoAndKeepsTheFirst) {
    ProfileStore store = open_store();
    Profile first = alice_profile();
    first.version = 7;  // ignored: the store numbers versions
    auto v1 = store.put_profile(first);
    ASSERT_TRUE(v1.ok()) << v1.error().describe();
    EXPECT_EQ(*v1, 1);

    Profile second = alice_profile();
    second.hypotheses.pop_back();
    second.attributes.writing_style = {"longer now"};
    auto v2 = store.put_profile(second);
    ASSERT_TRUE(v2.ok()) << v2.error().describe();
    EXPECT_EQ(*v2, 2);

    auto latest = store.latest("alice");
    ASSERT_TRUE(latest.ok()) << latest.error().describe();
    EXPECT_EQ(latest->version, 2);
    EXPECT_EQ(latest->hypotheses.size(), 1u);
    EXPECT_EQ(latest->attributes.writing_style, std::vector<std::string>{"longer now"});

    auto old = store.version("alice", 1);
    ASSERT_TRUE(old.ok()) << old.error().describe();
    Profile expected = alice_profile();
    expected.version = 1;
    EXPECT_EQ(to_json(*old), to_json(expected));
}

TEST_F(ProfileStoreTest, AReopenedStoreHasTheSameProfiles) {
    {
        ProfileStore store = open_store();
        ASSERT_TRUE(store.put_profile(alice_profile()).ok());
    }
    ProfileStore again = open_store();
    auto latest = again.latest("alice");
    ASSERT_TRUE(latest.ok()) << latest.error().describe();
    EXPECT_EQ(latest->demonstrations.size(), 2u);
    EXPECT_EQ(latest->demonstrations[1].text, kAliceTexts[1]);
}

TEST_F(ProfileStoreTest, ListGivesEachPersonsLatestVersionHypothesesAndTexts) {
    ProfileStore store = open_store();
    ASSERT_TRUE(store.put_profile(bob_profile()).ok());
    ASSERT_TRUE(store.put_profile(alice_profile()).ok());
    Profile again = alice_profile();
    again.hypotheses.push_back(hypothesis("Ends with a joke.", 1, 1, {}));
    ASSERT_TRUE(store.put_profile(again).ok());
    auto carol_run = store.record_run("carol", "profile");
    ASSERT_TRUE(carol_run.ok());

    auto people = store.list();
    ASSERT_TRUE(people.ok()) << people.error().describe();
    ASSERT_EQ(people->size(), 3u);
    const PersonSummary& a = (*people)[0];
    EXPECT_EQ(a.name, "alice");
    EXPECT_EQ(a.latest_version, 2);
    EXPECT_EQ(a.hypotheses, 3);
    EXPECT_EQ(a.demonstrations, 2);
    EXPECT_FALSE(a.updated_at.empty());
    EXPECT_EQ((*people)[1].name, "bob");
    EXPECT_EQ((*people)[1].latest_version, 1);
    EXPECT_EQ((*people)[1].hypotheses, 1);
    EXPECT_EQ((*people)[2].name, "carol");
    EXPECT_EQ((*people)[2].latest_version, 0);
}

TEST_F(ProfileStoreTest, AnEmptyStoreListsNoOne) {
    ProfileStore store = open_store();
    auto people = store.list();
    ASSERT_TRUE(people.ok());
    EXPECT_TRUE(people->empty());
}

TEST_F(ProfileStoreTest, DemonstrationsAreAddedByIdAndReplacedWhenTheTextChanges) {
    ProfileStore store = open_store();
    ASSERT_TRUE(store.put_profile(alice_profile()).ok());
    Profile later = alice_profile();
    later.demonstrations = {demo("a1", "Marmalade, revised."), demo("a2", "A third text.")};
    ASSERT_TRUE(store.put_profile(later).ok());

    auto exported = store.export_person("alice");
    ASSERT_TRUE(exported.ok());
    auto doc = nlohmann::json::parse(*exported);
    std::vector<std::pair<std::string, std::string>> demos;
    for (const auto& d : doc["demonstrations"])
        demos.emplace_back(d["id"], d["text"]);
    std::sort(demos.begin(), demos.end());
    EXPECT_EQ(demos,
              (std::vector<std::pair<std::string, std::string>>{
                  {"a0", kAliceTexts[0]}, {"a1", "Marmalade, revised."}, {"a2", "A third text."}}));
}

TEST_F(ProfileStoreTest, ExportHoldsEveryVersionEveryTextAndEveryRun) {
    ProfileStore store = open_store();
    ASSERT_TRUE(store.put_profile(alice_profile()).ok());
    ASSERT_TRUE(store.put_profile(alice_profile()).ok());
    ASSERT_TRUE(store.put_profile(alice_profile()).ok());
    ASSERT_TRUE(store.put_profile(bob_profile()).ok());
    auto run = store.record_run("alice", "profile");
    ASSERT_TRUE(run.ok());
    ASSERT_TRUE(store.finish_run(*run, "ok", R"({"calls": 12})").ok());
    auto running = store.record_run("alice", "generate");
    ASSERT_TRUE(running.ok());

    auto text = store.export_person("alice");
    ASSERT_TRUE(text.ok()) << text.error().describe();
    auto doc = nlohmann::json::parse(*text);
    EXPECT_EQ(doc["format"], "hyperalign.person-export");
    EXPECT_EQ(doc["format_version"], 1);
    EXPECT_EQ(doc["person"], "alice");

    ASSERT_EQ(doc["profiles"].size(), 3u);
    for (int i = 0; i < 3; ++i) {
        EXPECT_EQ(doc["profiles"][i]["version"], i + 1);
        EXPECT_EQ(doc["profiles"][i]["profile"]["version"], i + 1);
        EXPECT_EQ(doc["profiles"][i]["profile"]["person"], "alice");
        EXPECT_EQ(doc["profiles"][i]["profile"]["hypotheses"].size(), 2u);
    }
    ASSERT_EQ(doc["demonstrations"].size(), 2u);
    EXPECT_EQ(doc["demonstrations"][0]["text"], kAliceTexts[0]);
    EXPECT_EQ(doc["demonstrations"][1]["sha256"], sha256_hex(kAliceTexts[1]));

    ASSERT_EQ(doc["runs"].size(), 2u);
    EXPECT_EQ(doc["runs"][0]["command"], "profile");
    EXPECT_EQ(doc["runs"][0]["status"], "ok");
    EXPECT_EQ(doc["runs"][0]["summary"]["calls"], 12);
    EXPECT_FALSE(doc["runs"][0]["finished_at"].is_null());
    EXPECT_EQ(doc["runs"][1]["status"], "running");
    EXPECT_TRUE(doc["runs"][1]["finished_at"].is_null());

    // Nothing of Bob's.
    EXPECT_EQ(text->find("mule"), std::string::npos);
}

TEST_F(ProfileStoreTest, DeleteRemovesEveryRowAboutThePersonFromEveryTableAndKeepsOthers) {
    ProfileStore store = open_store();
    ASSERT_TRUE(store.put_profile(alice_profile()).ok());
    ASSERT_TRUE(store.put_profile(alice_profile()).ok());
    ASSERT_TRUE(store.put_profile(bob_profile()).ok());
    auto run = store.record_run("alice", "profile");
    ASSERT_TRUE(run.ok());
    ASSERT_TRUE(store.finish_run(*run, "ok", "{}").ok());
    ASSERT_TRUE(store.record_run("bob", "profile").ok());

    auto removed = store.delete_person("alice");
    ASSERT_TRUE(removed.ok()) << removed.error().describe();
    EXPECT_EQ(removed->people, 1);
    EXPECT_EQ(removed->profiles, 2);
    EXPECT_EQ(removed->demonstrations, 2);
    EXPECT_EQ(removed->runs, 1);

    const auto cells = all_cells(db_path());
    EXPECT_FALSE(any_cell_contains(cells, "alice"));
    for (const auto& t : kAliceTexts)
        EXPECT_FALSE(any_cell_contains(cells, t)) << t;
    EXPECT_TRUE(any_cell_contains(cells, "bob"));
    EXPECT_TRUE(any_cell_contains(cells, "stubborn mule"));

    // Deleted text is zeroed and the log checkpointed: it is not left in the files either.
    for (const fs::path& f : {db_path(), fs::path(db_path().string() + "-wal")}) {
        const std::string bytes = file_bytes(f);
        for (const auto& t : kAliceTexts)
            EXPECT_EQ(bytes.find(t), std::string::npos) << f;
    }

    EXPECT_EQ(store.latest("alice").error().code, ErrorCode::not_found);
    EXPECT_TRUE(store.latest("bob").ok());
    auto people = store.list();
    ASSERT_TRUE(people.ok());
    ASSERT_EQ(people->size(), 1u);
    EXPECT_EQ((*people)[0].name, "bob");
}

TEST_F(ProfileStoreTest, DeletingSomeoneUnknownIsNotFound) {
    ProfileStore store = open_store();
    ASSERT_TRUE(store.put_profile(bob_profile()).ok());
    auto removed = store.delete_person("alice");
    ASSERT_FALSE(removed.ok());
    EXPECT_EQ(removed.error().code, ErrorCode::not_found);
    EXPECT_EQ(removed.error().file, db_path().string());
}

TEST_F(ProfileStoreTest, AnUnknownPersonOrVersionIsNotFound) {
    ProfileStore store = open_store();
    ASSERT_TRUE(store.put_profile(alice_profile()).ok());
    EXPECT_EQ(store.latest("zed").error().code, ErrorCode::not_found);
    EXPECT_EQ(store.export_person("zed").error().code, ErrorCode::not_found);
    auto missing = store.version("alice", 5);
    ASSERT_FALSE(missing.ok());
    EXPECT_EQ(missing.error().code, ErrorCode::not_found);
    EXPECT_NE(missing.error().message.find("latest is 1"), std::string::npos)
        << missing.error().message;

    // Someone with runs but no profile yet.
    ASSERT_TRUE(store.record_run("carol", "profile").ok());
    auto carol = store.latest("carol");
    ASSERT_FALSE(carol.ok());
    EXPECT_EQ(carol.error().code, ErrorCode::not_found);
    EXPECT_NE(carol.error().message.find("no profile yet"), std::string::npos);
}

TEST_F(ProfileStoreTest, AProfileWithoutAPersonIsRefused) {
    ProfileStore store = open_store();
    Profile p = alice_profile();
    p.person.clear();
    auto v = store.put_profile(p);
    ASSERT_FALSE(v.ok());
    EXPECT_EQ(v.error().code, ErrorCode::invalid_input);
    p.person = "\xff\xfe";
    EXPECT_EQ(store.put_profile(p).error().code, ErrorCode::invalid_input);
    EXPECT_EQ(store.record_run("", "profile").error().code, ErrorCode::invalid_input);
}

TEST_F(ProfileStoreTest, FinishingARunNeedsJsonAndAKnownRun) {
    ProfileStore store = open_store();
    auto run = store.record_run("alice", "profile");
    ASSERT_TRUE(run.ok());
    EXPECT_EQ(store.finish_run(*run, "ok", "{not json").error().code, ErrorCode::invalid_input);
    EXPECT_EQ(store.finish_run(*run + 1, "ok", "{}").error().code, ErrorCode::not_found);
    EXPECT_TRUE(store.finish_run(*run, "failed", R"({"error": "x"})").ok());
}

TEST_F(ProfileStoreTest, AFileThatIsNotSQLiteGivesAClearErrorNamingTheFile) {
    fs::create_directories(db_path().parent_path());
    std::ofstream(db_path()) << std::string(8192, 'x');
    auto store = ProfileStore::open(db_path());
    ASSERT_FALSE(store.ok());
    EXPECT_EQ(store.error().code, ErrorCode::invalid_input);
    EXPECT_EQ(store.error().file, db_path().string());
    EXPECT_NE(store.error().message.find("not a usable profile store"), std::string::npos)
        << store.error().message;
}

TEST_F(ProfileStoreTest, ADamagedStoreGivesAClearErrorNamingTheFile) {
    {
        ProfileStore store = open_store();
        for (int i = 0; i < 5; ++i)
            ASSERT_TRUE(store.put_profile(alice_profile()).ok());
    }
    // Overwrite every page after the first (the schema survives, the tables do not).
    const auto size = fs::file_size(db_path());
    ASSERT_GT(size, 8192u);
    {
        std::fstream f(db_path(), std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(4096);
        f << std::string(size - 4096, '\x5a');
    }
    auto store = ProfileStore::open(db_path());
    std::optional<Error> error;
    if (!store.ok()) {
        error = store.error();
    } else if (auto latest = store->latest("alice"); !latest.ok()) {
        error = latest.error();
    }
    ASSERT_TRUE(error.has_value()) << "a damaged store read without error";
    EXPECT_EQ(error->code, ErrorCode::invalid_input);
    EXPECT_EQ(error->file, db_path().string());
    EXPECT_NE(error->message.find("not a usable profile store"), std::string::npos)
        << error->message;
}

TEST_F(ProfileStoreTest, AnotherKindOfSQLiteFileIsRefusedAndLeftAlone) {
    {
        auto cache = llm::ResponseCache::open(db_path());
        ASSERT_TRUE(cache.ok());
    }
    auto store = ProfileStore::open(db_path());
    ASSERT_FALSE(store.ok());
    EXPECT_EQ(store.error().code, ErrorCode::invalid_input);
    EXPECT_NE(store.error().message.find("not a hyperalign profile store"), std::string::npos);
    SQLite::Database db(db_path().string(), SQLite::OPEN_READONLY);
    EXPECT_FALSE(db.tableExists("people"));
}

TEST_F(ProfileStoreTest, TheFileIsReadableByItsOwnerOnly) {
    ProfileStore store = open_store();
    struct stat st {};
    ASSERT_EQ(::stat(db_path().c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(ProfileStoreTest, TwoConnectionsWritingAtOnceGetDistinctVersions) {
    open_store();
    auto writer = [this] {
        auto store = ProfileStore::open(db_path());
        ASSERT_TRUE(store.ok());
        for (int i = 0; i < 10; ++i)
            ASSERT_TRUE(store->put_profile(alice_profile()).ok());
    };
    std::thread a(writer), b(writer);
    a.join();
    b.join();
    ProfileStore store = open_store();
    auto people = store.list();
    ASSERT_TRUE(people.ok());
    ASSERT_EQ(people->size(), 1u);
    EXPECT_EQ((*people)[0].latest_version, 20);
    for (int v = 1; v <= 20; ++v)
        EXPECT_TRUE(store.version("alice", v).ok()) << v;
}

TEST(ProfileStorePath, FollowsXdgDataHomeThenHome) {
    const char* old_xdg = std::getenv("XDG_DATA_HOME");
    const char* old_home = std::getenv("HOME");
    const std::string saved_xdg = old_xdg ? old_xdg : "";
    const std::string saved_home = old_home ? old_home : "";

    ::setenv("XDG_DATA_HOME", "/data/me", 1);
    ::setenv("HOME", "/home/me", 1);
    EXPECT_EQ(*ProfileStore::default_path(), fs::path("/data/me/hyperalign/store.sqlite"));
    ::setenv("XDG_DATA_HOME", "relative/dir", 1);
    EXPECT_EQ(*ProfileStore::default_path(),
              fs::path("/home/me/.local/share/hyperalign/store.sqlite"));
    ::unsetenv("XDG_DATA_HOME");
    ::unsetenv("HOME");
    EXPECT_EQ(ProfileStore::default_path().error().code, ErrorCode::invalid_input);

    old_xdg ? ::setenv("XDG_DATA_HOME", saved_xdg.c_str(), 1) : ::unsetenv("XDG_DATA_HOME");
    old_home ? ::setenv("HOME", saved_home.c_str(), 1) : ::unsetenv("HOME");
}

}  // namespace
}  // namespace hyperalign::store
