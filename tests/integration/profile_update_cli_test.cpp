#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include <SQLiteCpp/SQLiteCpp.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "hyperalign/data/demonstration_loader.hpp"
#include "support/cli.hpp"
#include "support/model.hpp"

namespace {

using hyperalign::testing::CliRun;
using hyperalign::testing::slurp;

namespace fs = std::filesystem;
using Json = nlohmann::json;

fs::path work_dir() {
    return fs::temp_directory_path() / fmt::format("hyperalign-profile-update-{}", ::getpid());
}

CliRun run_cli(const std::string& args) {
    return hyperalign::testing::run_cli(args, work_dir());
}

// The custom dataset's 4 texts, split in two files of 2: the first texts and the new ones.
class ProfileUpdate : public ::testing::Test {
  protected:
    void SetUp() override {
        const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
        dir_ = work_dir() / info->name();
        fs::create_directories(dir_);
        const auto data = hyperalign::data::default_data_dir();
        ASSERT_TRUE(data.has_value())
            << "shared data not found (set HYPERALIGN_DATA_DIR to the shared data folder)";
        std::ifstream all(*data / "custom" / "custom_train.jsonl");
        ASSERT_TRUE(all.good()) << "no custom dataset in " << data->string();
        std::ofstream first(first_texts()), later(later_texts());
        std::string line;
        for (int i = 0; std::getline(all, line); ++i)
            (i < 2 ? first : later) << line << "\n";
    }
    static void TearDownTestSuite() { fs::remove_all(work_dir()); }

    fs::path first_texts() const { return dir_ / "first.jsonl"; }
    fs::path later_texts() const { return dir_ / "later.jsonl"; }
    fs::path store() const { return dir_ / "store.sqlite"; }
    std::string store_arg() const { return " --store " + store().string(); }

    // The options every model run takes: the test model, small and single-threaded.
    std::string model_args() const {
        return " --model " + hyperalign::testing::test_model_path() +
               " --threads 1 --ctx 2048 --hypotheses-per-batch 2 -q --cache " +
               (dir_ / "responses.sqlite").string() + store_arg();
    }

    Json show(const std::string& name) const {
        CliRun r = run_cli("users show " + name + " --json" + store_arg());
        EXPECT_EQ(r.exit_code, 0) << r.err;
        return r.exit_code == 0 ? Json::parse(r.out) : Json();
    }

    fs::path dir_;
};

const Json* find_text(const Json& profile, const std::string& text) {
    for (const auto& h : profile["hypotheses"]) {
        if (h["text"] == text)
            return &h;
    }
    return nullptr;
}

TEST_F(ProfileUpdate, AnUpdateStoresTheNextVersionWithEveryText) {
    CliRun made =
        run_cli("profile" + model_args() + " --user alice --examples " + first_texts().string());
    ASSERT_EQ(made.exit_code, 0) << made.err;
    const Json v1 = show("alice");
    EXPECT_EQ(v1["version"], 1);
    EXPECT_EQ(v1["person"], "alice");
    EXPECT_EQ(v1["demonstrations"].size(), 2u);

    CliRun updated = run_cli("profile update" + model_args() + " --user alice --examples " +
                             later_texts().string());
    ASSERT_EQ(updated.exit_code, 0) << updated.err;
    EXPECT_NE(updated.out.find("stored version 2 of 'alice'"), std::string::npos) << updated.out;
    EXPECT_NE(updated.out.find("2 new texts, 4 in all"), std::string::npos) << updated.out;

    const Json v2 = show("alice");
    EXPECT_EQ(v2["version"], 2);
    ASSERT_EQ(v2["demonstrations"].size(), 4u);
    EXPECT_EQ(v2["demonstrations"][3]["id"], "custom:train:0:3");
    EXPECT_EQ(v2["attributes"], v1["attributes"]);
    // Every hypothesis of version 1 stays (the bank is far below 20) and was tested on both new
    // texts (k covers the bank).
    for (const auto& h : v1["hypotheses"]) {
        const Json* after = find_text(v2, h["text"]);
        ASSERT_NE(after, nullptr) << h["text"];
        EXPECT_EQ((*after)["visits"], h["visits"].get<int>() + 2);
    }

    // Nothing new: refused, and nothing stored.
    CliRun again = run_cli("profile update" + model_args() + " --user alice --examples " +
                           later_texts().string());
    EXPECT_EQ(again.exit_code, 3) << again.err;
    EXPECT_EQ(show("alice")["version"], 2);
}

TEST_F(ProfileUpdate, HandEditsSurviveAnUpdate) {
    CliRun made =
        run_cli("profile" + model_args() + " --user alice --examples " + first_texts().string());
    ASSERT_EQ(made.exit_code, 0) << made.err;
    const Json v1 = show("alice");
    ASSERT_EQ(v1["hypotheses"].size(), 2u);
    const std::string pinned = v1["hypotheses"][1]["text"];
    const std::string removed = v1["hypotheses"][0]["text"];
    const std::string mine = "Writes to friends in capitals when excited.";

    // pin by number, remove by text, add: versions 2, 3 and 4.
    CliRun pin = run_cli("users pin alice 2" + store_arg());
    ASSERT_EQ(pin.exit_code, 0) << pin.err;
    EXPECT_NE(pin.out.find("stored as version 2 of 'alice'"), std::string::npos) << pin.out;
    Json quoted = removed;
    CliRun remove = run_cli("users remove alice " + quoted.dump() + store_arg());
    ASSERT_EQ(remove.exit_code, 0) << remove.err;
    CliRun add = run_cli("users add alice \"" + mine + "\"" + store_arg());
    ASSERT_EQ(add.exit_code, 0) << add.err;
    const Json v4 = show("alice");
    EXPECT_EQ(v4["version"], 4);
    ASSERT_EQ(v4["hypotheses"].size(), 2u);
    EXPECT_EQ(v4["hypotheses"][0]["text"], pinned);  // pinned first
    const int pinned_visits = v4["hypotheses"][0]["visits"];

    CliRun updated = run_cli("profile update" + model_args() + " --user alice --examples " +
                             later_texts().string());
    ASSERT_EQ(updated.exit_code, 0) << updated.err;
    const Json v5 = show("alice");
    EXPECT_EQ(v5["version"], 5);
    ASSERT_GE(v5["hypotheses"].size(), 2u);
    EXPECT_EQ(v5["hypotheses"][0]["text"], pinned);
    EXPECT_EQ(v5["hypotheses"][0]["pinned"], true);
    EXPECT_EQ(v5["hypotheses"][0]["visits"], pinned_visits + 2);
    const Json* added = find_text(v5, mine);
    ASSERT_NE(added, nullptr);
    EXPECT_EQ((*added)["source"], "person");
    EXPECT_EQ((*added)["visits"], 2);
    EXPECT_EQ(find_text(v5, removed), nullptr);

    std::vector<std::string> edits;
    for (const auto& e : v5["history"]) {
        if (e["kind"] != "added" || e["version"] != 1)
            edits.push_back(
                fmt::format("{} v{}", e["kind"].get<std::string>(), e["version"].get<int>()));
    }
    ASSERT_GE(edits.size(), 3u);
    EXPECT_EQ(edits[0], "pinned v2");
    EXPECT_EQ(edits[1], "removed_by_person v3");
    EXPECT_EQ(edits[2], "added_by_person v4");

    // An unknown hypothesis number is not found (exit 4) and stores nothing.
    CliRun missing = run_cli("users unpin alice 9" + store_arg());
    EXPECT_EQ(missing.exit_code, 4) << missing.err;
    EXPECT_EQ(show("alice")["version"], 5);
}

TEST_F(ProfileUpdate, ARunKilledMidwayResumesFromTheCacheAndLeavesTheStoreIntact) {
    CliRun alice =
        run_cli("profile" + model_args() + " --user alice --examples " + first_texts().string());
    ASSERT_EQ(alice.exit_code, 0) << alice.err;
    const Json alice_before = show("alice");

    // Bob's run over all 4 texts, killed once it has cached a reply (after 1.5 s at least).
    const std::string bob = "profile" + model_args() + " --user bob --examples custom";
    const fs::path cache = dir_ / "responses.sqlite";
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        const std::string cmd =
            fmt::format("exec {} {} </dev/null >/dev/null 2>&1", HYPERALIGN_CLI, bob);
        ::execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
        ::_exit(127);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    auto cached_replies = [&]() -> int64_t {
        try {
            SQLite::Database db(cache.string(), SQLite::OPEN_READONLY);
            return db.execAndGet("SELECT count(*) FROM responses WHERE person = 'bob'").getInt64();
        } catch (const SQLite::Exception&) {
            return 0;
        }
    };
    for (int i = 0; i < 600 && cached_replies() == 0; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    ASSERT_EQ(::kill(child, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFSIGNALED(status)) << "bob's run ended before it was killed";
    EXPECT_GT(cached_replies(), 0);

    const fs::path log = dir_ / "run.json";
    CliRun rerun = run_cli(bob + " --run-log " + log.string());
    ASSERT_EQ(rerun.exit_code, 0) << rerun.err;
    const Json run_log = Json::parse(slurp(log));
    EXPECT_GT(run_log["cache"]["hits"].get<int64_t>(), 0);
    EXPECT_EQ(show("bob")["version"], 1);
    EXPECT_EQ(show("bob")["demonstrations"].size(), 4u);

    SQLite::Database db(store().string(), SQLite::OPEN_READONLY);
    EXPECT_EQ(db.execAndGet("PRAGMA integrity_check").getString(), "ok");
    EXPECT_EQ(show("alice"), alice_before);
}

}  // namespace
