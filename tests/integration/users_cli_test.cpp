#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>
#include <string>
#include <vector>

#include <SQLiteCpp/SQLiteCpp.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "support/cli.hpp"
#include "support/model.hpp"
#include "support/sqlite_scan.hpp"

namespace {

using hyperalign::testing::CliRun;
using hyperalign::testing::slurp;

using hyperalign::testing::all_cells;

namespace fs = std::filesystem;
using Json = nlohmann::json;

fs::path work_dir() {
    return fs::temp_directory_path() / fmt::format("hyperalign-users-{}", ::getpid());
}

CliRun run_cli(const std::string& args) {
    return hyperalign::testing::run_cli(args, work_dir());
}

size_t cells_containing(const std::vector<std::string>& cells, const std::string& needle) {
    size_t n = 0;
    for (const auto& c : cells)
        n += c.find(needle) != std::string::npos;
    return n;
}

// Alice's profile and Bob's, made once by the CLI with the test model, with their model replies
// in one response cache; each test copies that cache so that it may delete from it.
class Users : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        fs::remove_all(work_dir());
        fs::create_directories(work_dir());
        const std::string model = "profile --model " + hyperalign::testing::test_model_path() +
                                  " --threads 1 --ctx 2048 --hypotheses-per-batch 2 -q --cache " +
                                  shared_cache().string();
        CliRun alice =
            run_cli(model + " --examples custom --person alice -o " + alice_profile().string());
        ASSERT_EQ(alice.exit_code, 0) << alice.err;

        std::ofstream(bob_texts()) << R"({"id": "b0", "prompt": "List what you packed.", )"
                                   << R"("text": "Three things: rope, tar, and a stubborn mule."})"
                                   << "\n"
                                   << R"({"id": "b1", "prompt": "Say when the ferry left.", )"
                                   << R"("text": "The ferry left at nine; I did not."})"
                                   << "\n";
        CliRun bob = run_cli(model + " --no-attributes --examples " + bob_texts().string() +
                             " --person bob -o " + bob_profile().string());
        ASSERT_EQ(bob.exit_code, 0) << bob.err;
    }
    static void TearDownTestSuite() { fs::remove_all(work_dir()); }

    void SetUp() override {
        const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
        dir_ = work_dir() / info->name();
        fs::create_directories(dir_);
        fs::copy_file(shared_cache(), cache(), fs::copy_options::overwrite_existing);
    }

    static fs::path shared_cache() { return work_dir() / "responses.sqlite"; }
    static fs::path alice_profile() { return work_dir() / "alice.json"; }
    static fs::path bob_profile() { return work_dir() / "bob.json"; }
    static fs::path bob_texts() { return work_dir() / "bob.jsonl"; }

    fs::path store() const { return dir_ / "store.sqlite"; }
    fs::path cache() const { return dir_ / "responses.sqlite"; }
    std::string store_arg() const { return " --store " + store().string(); }

    void import(const std::string& name, const fs::path& profile) const {
        CliRun r = run_cli("users import " + name + " --profile " + profile.string() + store_arg());
        ASSERT_EQ(r.exit_code, 0) << r.err;
    }

    fs::path dir_;
};

TEST_F(Users, AnImportedProfileIsListedAndShownWithPercentages) {
    import("alice", alice_profile());
    const Json profile = Json::parse(slurp(alice_profile()));

    CliRun list = run_cli("users list --json" + store_arg());
    ASSERT_EQ(list.exit_code, 0) << list.err;
    const Json listed = Json::parse(list.out);
    EXPECT_EQ(listed["store"], store().string());
    ASSERT_EQ(listed["people"].size(), 1u);
    EXPECT_EQ(listed["people"][0]["person"], "alice");
    EXPECT_EQ(listed["people"][0]["version"], 1);
    EXPECT_EQ(listed["people"][0]["hypotheses"], profile["hypotheses"].size());
    EXPECT_EQ(listed["people"][0]["demonstrations"], profile["demonstrations"].size());

    CliRun show = run_cli("users show alice" + store_arg());
    ASSERT_EQ(show.exit_code, 0) << show.err;
    EXPECT_NE(show.out.find("alice: profile version 1"), std::string::npos) << show.out;
    EXPECT_NE(show.out.find("Attributes"), std::string::npos) << show.out;
    // One line per hypothesis, ranked, with its accuracy as a percentage and its visits.
    const std::regex ranked(R"(\n +(\d+)\. (\d+)% accurate over (\d+) visits?\n)");
    std::vector<std::string> percents;
    for (std::sregex_iterator it(show.out.begin(), show.out.end(), ranked), end; it != end; ++it)
        percents.push_back((*it)[2]);
    ASSERT_EQ(percents.size(), profile["hypotheses"].size()) << show.out;
    const double first = profile["hypotheses"][0]["accuracy"];
    EXPECT_EQ(percents[0], fmt::format("{:.0f}", first * 100));

    CliRun json = run_cli("users show alice --json" + store_arg());
    ASSERT_EQ(json.exit_code, 0) << json.err;
    EXPECT_EQ(Json::parse(json.out), profile);
}

TEST_F(Users, ExportHoldsEveryVersionEveryTextAndEveryRun) {
    import("alice", alice_profile());
    import("alice", alice_profile());
    const fs::path out = dir_ / "alice-export.json";
    CliRun r = run_cli("users export alice -o " + out.string() + store_arg());
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const Json doc = Json::parse(slurp(out));
    EXPECT_EQ(doc["person"], "alice");
    ASSERT_EQ(doc["profiles"].size(), 2u);
    EXPECT_EQ(doc["profiles"][1]["profile"]["version"], 2);
    EXPECT_EQ(doc["demonstrations"].size(),
              Json::parse(slurp(alice_profile()))["demonstrations"].size());
    ASSERT_EQ(doc["runs"].size(), 2u);
    EXPECT_EQ(doc["runs"][0]["command"], "users import");
}

TEST_F(Users, DeleteRemovesAliceFromTheStoreAndTheCacheAndKeepsBob) {
    import("alice", alice_profile());
    import("alice", alice_profile());
    import("bob", bob_profile());
    const Json profile = Json::parse(slurp(alice_profile()));
    std::vector<std::string> alice_texts;
    for (const auto& d : profile["demonstrations"])
        alice_texts.push_back(d["text"]);
    ASSERT_EQ(alice_texts.size(), 4u);
    ASSERT_GT(cells_containing(all_cells(cache()), "alice"), 0u);

    CliRun r = run_cli("users delete alice --yes --store " + store().string() + " --cache " +
                       cache().string());
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("2 profile versions, 4 demonstrations, 2 runs, 1 person"),
              std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("cached model replies"), std::string::npos) << r.out;

    for (const fs::path& file : {store(), cache()}) {
        const auto cells = all_cells(file);
        EXPECT_EQ(cells_containing(cells, "alice"), 0u) << file;
        for (const auto& t : alice_texts)
            EXPECT_EQ(cells_containing(cells, t), 0u) << file << ": " << t;
        EXPECT_GT(cells_containing(cells, "bob"), 0u) << file;
    }
    EXPECT_GT(cells_containing(all_cells(store()), "stubborn mule"), 0u);

    CliRun list = run_cli("users list --json" + store_arg());
    ASSERT_EQ(list.exit_code, 0) << list.err;
    const Json people = Json::parse(list.out)["people"];
    ASSERT_EQ(people.size(), 1u);
    EXPECT_EQ(people[0]["person"], "bob");
}

TEST_F(Users, DeleteWithoutYesRefusesWhenStdinIsNotATerminal) {
    import("alice", alice_profile());
    CliRun r =
        run_cli("users delete alice --store " + store().string() + " --cache " + cache().string());
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("--yes"), std::string::npos) << r.err;
    CliRun show = run_cli("users show alice" + store_arg());
    EXPECT_EQ(show.exit_code, 0) << show.err;
    EXPECT_GT(cells_containing(all_cells(cache()), "alice"), 0u);
}

TEST_F(Users, AnUnknownPersonIsNotFoundAndTheErrorNamesTheStore) {
    import("bob", bob_profile());
    for (const std::string cmd : {"show", "export"}) {
        CliRun r = run_cli("users " + cmd + " carol" + store_arg());
        EXPECT_EQ(r.exit_code, 4) << cmd;
        EXPECT_NE(r.err.find(store().string()), std::string::npos) << r.err;
    }
    CliRun version = run_cli("users show bob --version 3" + store_arg());
    EXPECT_EQ(version.exit_code, 4);
    CliRun del = run_cli("users delete carol --yes --store " + store().string() + " --cache " +
                         cache().string());
    EXPECT_EQ(del.exit_code, 4) << del.err;
}

TEST_F(Users, ADamagedStoreIsAClearErrorNamingTheFile) {
    std::ofstream(store()) << std::string(4096, '#');
    CliRun r = run_cli("users list" + store_arg());
    EXPECT_EQ(r.exit_code, 3);
    EXPECT_NE(r.err.find(store().string() + ": not a usable profile store"), std::string::npos)
        << r.err;
}

TEST_F(Users, ImportRefusesAProfileMadeForSomeoneElse) {
    CliRun r = run_cli("users import bob --profile " + alice_profile().string() + store_arg());
    EXPECT_EQ(r.exit_code, 3);
    EXPECT_NE(r.err.find("field 'person'"), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(store()));
}

}  // namespace
