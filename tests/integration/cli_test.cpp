#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "support/cli.hpp"
#include "support/model.hpp"

namespace {

namespace fs = std::filesystem;
using hyperalign::testing::CliRun;
using hyperalign::testing::slurp;

CliRun run_cli(const std::string& args) {
    return hyperalign::testing::run_cli(
        args, fs::temp_directory_path() / ("hyperalign-cli-" + std::to_string(::getpid())));
}

std::string fixture(const std::string& name) {
    return std::string(HYPERALIGN_TEST_FIXTURES) + "/demos/" + name;
}

// A response cache of this test process's own, so that runs start cold and never touch the
// user's cache.
std::string test_cache() {
    return (fs::temp_directory_path() /
            ("hyperalign-cli-cache-" + std::to_string(::getpid()) + ".sqlite"))
        .string();
}

std::string model_args() {
    return "--model " + hyperalign::testing::test_model_path() +
           " --threads 1 --ctx 2048 --cache " + test_cache();
}

TEST(Cli, HelpWorksOnEveryCommand) {
    for (const char* cmd : {"", "profile", "generate", "personalize", "chat-templates"}) {
        CliRun r = run_cli(std::string(cmd) + " --help");
        EXPECT_EQ(r.exit_code, 0) << cmd;
        EXPECT_NE(r.out.find("Usage"), std::string::npos) << cmd;
    }
}

TEST(Cli, MalformedInputGivesFileLineAndExitCode3) {
    fs::path bad = fs::temp_directory_path() / "hyperalign-bad.jsonl";
    std::ofstream(bad) << "{\"text\": \"fine\"}\n{\"text\": oops}\n";
    CliRun r = run_cli("profile " + model_args() + " --examples " + bad.string() + " -o /dev/null");
    EXPECT_EQ(r.exit_code, 3);
    EXPECT_NE(r.err.find(bad.string() + ":2:"), std::string::npos) << r.err;
}

TEST(Cli, MissingTextFieldNamesTheField) {
    fs::path bad = fs::temp_directory_path() / "hyperalign-notext.jsonl";
    std::ofstream(bad) << "{\"text\": \"fine\"}\n{\"prompt\": \"p\", \"body\": \"x\"}\n";
    CliRun r = run_cli("profile " + model_args() + " --examples " + bad.string() + " -o /dev/null");
    EXPECT_EQ(r.exit_code, 3);
    EXPECT_NE(r.err.find(":2: field 'text'"), std::string::npos) << r.err;
}

TEST(Cli, AMissingFileOrModelIsNotFound) {
    CliRun r = run_cli("profile " + model_args() + " --examples /nonexistent.jsonl -o /dev/null");
    EXPECT_EQ(r.exit_code, 4) << r.err;
    CliRun m = run_cli("profile --model /nonexistent.gguf --examples custom -o /dev/null");
    EXPECT_EQ(m.exit_code, 4) << m.err;
}

TEST(Cli, AUsageErrorExitsWith2) {
    CliRun r = run_cli("profile --examples custom");  // no --model, no -o
    EXPECT_EQ(r.exit_code, 2);
    CliRun m = run_cli("generate --model x.gguf --profile p.json --method nonsense hello");
    EXPECT_EQ(m.exit_code, 2);
}

TEST(Cli, ABudgetCapStopsTheRunWithExitCode10) {
    CliRun r = run_cli("profile " + model_args() +
                       " --no-cache --examples custom --max-calls 2 -o /dev/null");
    EXPECT_EQ(r.exit_code, 10) << r.err;
    EXPECT_NE(r.err.find("cap of 2 model calls"), std::string::npos) << r.err;
}

TEST(Cli, AnInterruptedRunResumesFromTheCacheWithoutRepeatingCalls) {
    const std::string cache =
        (fs::temp_directory_path() / ("hyperalign-resume-" + std::to_string(::getpid()) + ".db"))
            .string();
    fs::remove(cache);
    const std::string base = "profile --model " + hyperalign::testing::test_model_path() +
                             " --threads 1 --ctx 2048 --examples custom --hypotheses-per-batch 2" +
                             " --cache " + cache;
    fs::path log1 = fs::temp_directory_path() / "hyperalign-resume-1.json";
    fs::path log2 = fs::temp_directory_path() / "hyperalign-resume-2.json";
    fs::path log3 = fs::temp_directory_path() / "hyperalign-resume-3.json";
    fs::path p2 = fs::temp_directory_path() / "hyperalign-resume-2.profile.json";
    fs::path p3 = fs::temp_directory_path() / "hyperalign-resume-3.profile.json";

    // Stopped after 5 model calls, as a crash or a budget would stop it.
    CliRun first = run_cli(base + " --max-calls 5 -o /dev/null --run-log " + log1.string());
    ASSERT_EQ(first.exit_code, 10) << first.err;

    // The rerun gets those 5 replies from the cache and makes only the remaining calls.
    CliRun second = run_cli(base + " -o " + p2.string() + " --run-log " + log2.string());
    ASSERT_EQ(second.exit_code, 0) << second.err;
    auto run2 = nlohmann::json::parse(slurp(log2));
    EXPECT_EQ(run2["cache"]["hits"], 5);
    const int64_t total = run2["spend"]["calls"];
    EXPECT_EQ(run2["cache"]["misses"], total - 5);

    // A third run makes no model call at all and writes the same profile.
    CliRun third = run_cli(base + " -o " + p3.string() + " --run-log " + log3.string());
    ASSERT_EQ(third.exit_code, 0) << third.err;
    auto run3 = nlohmann::json::parse(slurp(log3));
    EXPECT_EQ(run3["cache"]["misses"], 0);
    EXPECT_EQ(run3["cache"]["hits"], total);
    auto a = nlohmann::json::parse(slurp(p2));
    auto b = nlohmann::json::parse(slurp(p3));
    a["provenance"].erase("created_at");
    b["provenance"].erase("created_at");
    EXPECT_EQ(a, b);
}

TEST(Cli, PersonalizeWritesAProfileAndTheText) {
    fs::path profile = fs::temp_directory_path() / "hyperalign-cli-profile.json";
    fs::remove(profile);
    CliRun r =
        run_cli("personalize " + model_args() +
                " --examples custom --hypotheses-per-batch 2 --profile-out " + profile.string() +
                " --max-tokens 32 --json 'Write an email about a picnic.'");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto doc = nlohmann::json::parse(slurp(profile), nullptr, false);
    ASSERT_FALSE(doc.is_discarded());
    EXPECT_EQ(doc["schema_version"], 2);
    EXPECT_EQ(doc["demonstrations"].size(), 4u);
    auto line = nlohmann::json::parse(r.out, nullptr, false);
    ASSERT_FALSE(line.is_discarded()) << r.out;
    EXPECT_EQ(line["method"], "hyperalign");
    EXPECT_LE(line["tokens_completion"].get<int>(), 32);
    // The run summary reports the spend per kind of call.
    EXPECT_NE(r.err.find("scoring"), std::string::npos);

    // The profile then serves `generate`, with a tasks file giving JSONL back.
    fs::path tasks = fs::temp_directory_path() / "hyperalign-tasks.jsonl";
    std::ofstream(tasks) << "{\"id\": \"t1\", \"prompt\": \"Write a note.\"}\n"
                         << "{\"id\": \"t2\", \"prompt\": \"Write a memo.\"}\n";
    CliRun g = run_cli("generate " + model_args() + " --profile " + profile.string() +
                       " --method few_shot --max-tokens 16 --tasks " + tasks.string() + " -q");
    ASSERT_EQ(g.exit_code, 0) << g.err;
    std::istringstream lines(g.out);
    std::string l;
    std::vector<std::string> ids;
    while (std::getline(lines, l))
        ids.push_back(nlohmann::json::parse(l)["id"]);
    EXPECT_EQ(ids, (std::vector<std::string>{"t1", "t2"}));
}

TEST(Cli, AProfileThatIsNotAProfileIsRejected) {
    CliRun r = run_cli("generate " + model_args() + " --profile " + fixture("good.jsonl") +
                       " 'Write a note.'");
    EXPECT_EQ(r.exit_code, 3) << r.err;
}

}  // namespace
