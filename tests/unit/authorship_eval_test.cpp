#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "hyperalign/eval/authorship.hpp"
#include "support/scripted_backend.hpp"

namespace hyperalign::eval {
namespace {

namespace fs = std::filesystem;
using testing::ScriptedBackend;

const std::string kFixtures = std::string(HYPERALIGN_TEST_FIXTURES) + "/authorship/";

// The generator writes "plain answer" without a system message (zero_shot) and "styled answer,
// much longer than the plain one" with one (few_shot), so a judge can tell the methods apart.
std::string generator_script(const llm::ChatRequest& r) {
    for (const auto& m : r.messages) {
        if (m.role == "system")
            return "styled answer, much longer than the plain one";
    }
    return "plain answer";
}

std::string all_text(const llm::ChatRequest& r) {
    std::string s;
    for (const auto& m : r.messages)
        s += m.content + "\n";
    return s;
}

// Which candidate the judge is shown first: 'P' when "plain answer" comes first after
// "Candidate A:".
char first_shown(const llm::ChatRequest& r) {
    const std::string s = all_text(r);
    const size_t a = s.find("Candidate A:");
    const size_t plain = s.find("plain answer", a);
    const size_t styled = s.find("styled answer", a);
    return plain < styled ? 'P' : 'S';
}

std::string verdict(const char* winner) {
    return fmt::format(R"({{"winner": "{}"}})", winner);
}

class AuthorshipEval : public ::testing::Test {
  protected:
    void SetUp() override {
        const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
        dir_ = fs::temp_directory_path() /
               fmt::format("hyperalign-authorship-{}-{}", getpid(), info->name());
        fs::remove_all(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }

    AuthorshipConfig config(std::vector<std::string> methods = {"zero_shot", "few_shot"}) const {
        AuthorshipConfig c;
        c.datasets = {kFixtures + "tiny.jsonl"};
        c.methods = std::move(methods);
        c.baseline = "few_shot";
        c.demos = 2;
        c.bootstrap_resamples = 200;
        c.out = dir_;
        return c;
    }

    // Runs with a judge script; returns zero_shot's win rate against few_shot.
    double win_rate(const ScriptedBackend::Script& judge_script,
                    nlohmann::ordered_json* comp = nullptr) {
        ScriptedBackend gen(generator_script), judge(judge_script);
        llm::Client g(gen), j(judge);
        auto out = run_authorship(g, j, config());
        EXPECT_TRUE(out.ok()) << out.error().describe();
        if (!out.ok())
            return -1;
        const auto& c = out.value().results["datasets"][0]["comparisons"][0];
        EXPECT_EQ(c["method"], "zero_shot");
        EXPECT_EQ(c["opponent"], "few_shot");
        if (comp)
            *comp = c;
        return c["win_rate"].get<double>();
    }

    fs::path dir_;
};

TEST_F(AuthorshipEval, AJudgePreferringTheMethodGivesOne) {
    auto judge = [](const llm::ChatRequest& r) {
        return verdict(first_shown(r) == 'P' ? "A" : "B");
    };
    nlohmann::ordered_json c;
    EXPECT_DOUBLE_EQ(win_rate(judge, &c), 1.0);
    EXPECT_EQ(c["wins"], 2);
    EXPECT_EQ(c["ties"], 0);
}

TEST_F(AuthorshipEval, AJudgePreferringTheBaselineGivesZero) {
    auto judge = [](const llm::ChatRequest& r) {
        return verdict(first_shown(r) == 'P' ? "B" : "A");
    };
    nlohmann::ordered_json c;
    EXPECT_DOUBLE_EQ(win_rate(judge, &c), 0.0);
    EXPECT_EQ(c["losses"], 2);
}

TEST_F(AuthorshipEval, AJudgeAlwaysSayingAGivesTies) {
    auto judge = [](const llm::ChatRequest&) { return verdict("A"); };
    nlohmann::ordered_json c;
    EXPECT_DOUBLE_EQ(win_rate(judge, &c), 0.5);
    EXPECT_EQ(c["ties"], 2);
    EXPECT_EQ(c["wins"], 0);
}

TEST_F(AuthorshipEval, ARerunMakesNoModelCallsAndKeepsTheResult) {
    auto judge_script = [](const llm::ChatRequest& r) {
        return verdict(first_shown(r) == 'P' ? "A" : "B");
    };
    ScriptedBackend gen(generator_script), judge(judge_script);
    {
        llm::Client g(gen), j(judge);
        auto out = run_authorship(g, j, config());
        ASSERT_TRUE(out.ok()) << out.error().describe();
    }
    // 2 tasks x 2 methods; 2 tasks x 2 orders.
    EXPECT_EQ(gen.requests.size(), 4u);
    EXPECT_EQ(judge.requests.size(), 4u);
    llm::Client g(gen), j(judge);
    auto again = run_authorship(g, j, config());
    ASSERT_TRUE(again.ok()) << again.error().describe();
    EXPECT_EQ(gen.requests.size(), 4u);
    EXPECT_EQ(judge.requests.size(), 4u);
    EXPECT_DOUBLE_EQ(
        again.value().results["datasets"][0]["comparisons"][0]["win_rate"].get<double>(), 1.0);
}

TEST_F(AuthorshipEval, OtherSettingsInTheSameFolderAreRefused) {
    ScriptedBackend gen(generator_script),
        judge([](const llm::ChatRequest&) { return verdict("A"); });
    llm::Client g(gen), j(judge);
    ASSERT_TRUE(run_authorship(g, j, config()).ok());
    auto c = config();
    c.seed = 7;
    auto out = run_authorship(g, j, c);
    ASSERT_FALSE(out.ok());
    EXPECT_EQ(out.error().code, ErrorCode::invalid_input);
    EXPECT_EQ(out.error().field, "seed");
}

TEST_F(AuthorshipEval, ANestedSettingIsNamedWithItsOldAndNewValue) {
    ScriptedBackend gen(generator_script),
        judge([](const llm::ChatRequest&) { return verdict("A"); });
    llm::Client g(gen), j(judge);
    auto c = config();
    c.generation.sampling.max_tokens = 100;
    ASSERT_TRUE(run_authorship(g, j, c).ok());
    c.generation.sampling.max_tokens = 77;
    auto out = run_authorship(g, j, c);
    ASSERT_FALSE(out.ok());
    EXPECT_EQ(out.error().field, "generation");
    EXPECT_NE(out.error().message.find("'generation.max_tokens' was 100, now 77"),
              std::string::npos)
        << out.error().message;
}

TEST_F(AuthorshipEval, AFolderOfAnotherExperimentOrAFileIsRefusedBeforeAnyCall) {
    fs::create_directories(dir_);
    std::ofstream(dir_ / "run.json") << R"({"experiment": "safety", "seed": 42})";
    auto st = check_authorship(config());
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().field, "experiment");
    EXPECT_NE(st.error().message.find("safety"), std::string::npos);

    fs::remove_all(dir_);
    std::ofstream(dir_) << "a file";
    st = check_authorship(config());
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().file, dir_.string());
}

TEST_F(AuthorshipEval, ChangedDataUnderTheSameNameIsRefused) {
    fs::create_directories(dir_ / "data");
    const fs::path data = dir_ / "data" / "tiny.jsonl";
    fs::copy_file(kFixtures + "tiny.jsonl", data);
    ScriptedBackend gen(generator_script),
        judge([](const llm::ChatRequest&) { return verdict("A"); });
    llm::Client g(gen), j(judge);
    auto c = config();
    c.out = dir_ / "run";
    c.datasets = {data.string()};
    ASSERT_TRUE(run_authorship(g, j, c).ok());
    // Another dataset joins the folder...
    fs::copy_file(kFixtures + "tiny.jsonl", dir_ / "data" / "second.jsonl");
    c.datasets = {data.string(), (dir_ / "data" / "second.jsonl").string()};
    ASSERT_TRUE(run_authorship(g, j, c).ok());
    // ...but the first one's file may not change under it.
    std::ofstream(data, std::ios::app)
        << R"({"split": "train", "author": "ann", "text": "A third text."})"
        << "\n";
    const size_t calls = gen.requests.size() + judge.requests.size();
    auto out = run_authorship(g, j, c);
    ASSERT_FALSE(out.ok());
    EXPECT_EQ(out.error().field, "inputs.dataset:tiny");
    EXPECT_EQ(gen.requests.size() + judge.requests.size(), calls);
}

TEST_F(AuthorshipEval, SpendIsSummedOverInvocations) {
    ScriptedBackend gen(generator_script),
        judge([](const llm::ChatRequest&) { return verdict("A"); });
    auto calls = [](const nlohmann::ordered_json& rows) {
        int64_t n = 0;
        for (const auto& r : rows)
            n += r["calls"].get<int64_t>();
        return n;
    };
    {
        llm::Client g(gen), j(judge);
        auto first = run_authorship(g, j, config());
        ASSERT_TRUE(first.ok()) << first.error().describe();
        EXPECT_EQ(calls(first.value().results["spend"]), 8);
        EXPECT_EQ(first.value().results["invocations"], 1);
    }
    llm::Client g(gen), j(judge);
    auto again = run_authorship(g, j, config());
    ASSERT_TRUE(again.ok()) << again.error().describe();
    EXPECT_EQ(calls(again.value().results["spend"]), 0);
    EXPECT_EQ(again.value().results["invocations"], 2);
    EXPECT_EQ(calls(again.value().results["spend_all_invocations"]), 8);
}

TEST_F(AuthorshipEval, AStoppedInvocationsSpendStillCounts) {
    ScriptedBackend gen(generator_script),
        judge([](const llm::ChatRequest&) { return verdict("A"); });
    {
        llm::Client g(gen, llm::ClientOptions{.max_calls = 3}), j(judge);
        auto stopped = run_authorship(g, j, config());
        ASSERT_FALSE(stopped.ok());
        EXPECT_EQ(stopped.error().code, ErrorCode::budget_exceeded);
    }
    EXPECT_EQ(gen.requests.size(), 3u);
    llm::Client g(gen), j(judge);
    auto again = run_authorship(g, j, config());
    ASSERT_TRUE(again.ok()) << again.error().describe();
    int64_t calls = 0;
    for (const auto& r : again.value().results["spend_all_invocations"])
        calls += r["calls"].get<int64_t>();
    // 3 generations before the cap, the fourth and 4 verdicts after it.
    EXPECT_EQ(calls, 8);
    EXPECT_EQ(again.value().results["invocations"], 2);
}

TEST_F(AuthorshipEval, ADamagedRecordIsRedone) {
    auto judge_script = [](const llm::ChatRequest& r) {
        return verdict(first_shown(r) == 'P' ? "A" : "B");
    };
    ScriptedBackend gen(generator_script), judge(judge_script);
    {
        llm::Client g(gen), j(judge);
        ASSERT_TRUE(run_authorship(g, j, config()).ok());
    }
    // One generation loses its text, one verdict its outcome (a record that still has a key).
    std::ofstream(dir_ / "records.jsonl", std::ios::app)
        << R"({"key": "generation/tiny/zero_shot/t1", "txt": "plain answer"})"
        << "\n"
        << R"({"key": "verdict/tiny/zero_shot/few_shot/t2", "outcome": 5})"
        << "\n";
    llm::Client g(gen), j(judge);
    auto again = run_authorship(g, j, config());
    ASSERT_TRUE(again.ok()) << again.error().describe();
    EXPECT_EQ(gen.requests.size(), 5u);    // the lost generation, made again
    EXPECT_EQ(judge.requests.size(), 6u);  // the lost verdict, in both orders
    const auto& c = again.value().results["datasets"][0]["comparisons"][0];
    EXPECT_DOUBLE_EQ(c["win_rate"].get<double>(), 1.0);
    EXPECT_EQ(c["not_judged"], 0);
}

TEST_F(AuthorshipEval, OneAuthorCannotBeContrastedWithOthers) {
    fs::create_directories(dir_);
    const fs::path data = dir_ / "solo.jsonl";
    std::ofstream(data) << R"({"split": "train", "author": "ann", "text": "One."})"
                        << "\n"
                        << R"({"split": "train", "author": "ann", "text": "Two."})"
                        << "\n"
                        << R"({"split": "test", "author": "ann", "prompt": "Write."})"
                        << "\n";
    auto c = config({"hyperalign", "few_shot"});
    c.datasets = {data.string()};
    c.profile.contrast = learn::ContrastSource::others;
    auto st = check_authorship(c);
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.error().message.find("--contrast base_model"), std::string::npos);
    c.profile.contrast = learn::ContrastSource::base_model;
    EXPECT_TRUE(check_authorship(c).ok());
}

TEST_F(AuthorshipEval, ExternalFilesWithDuplicateOrMissingIdsNameTheLine) {
    fs::create_directories(dir_);
    std::ofstream(dir_ / "dup.jsonl") << R"({"id": "t1", "text": "a"})"
                                      << "\n"
                                      << R"({"id": "t1", "text": "b"})"
                                      << "\n";
    auto dup = load_external_generations((dir_ / "dup.jsonl").string());
    ASSERT_FALSE(dup.ok());
    EXPECT_EQ(dup.error().line, 2);
    EXPECT_EQ(dup.error().field, "id");
    EXPECT_NE(dup.error().message.find("line 1"), std::string::npos);
    std::ofstream(dir_ / "float.jsonl") << R"({"id": 1.5, "text": "a"})"
                                        << "\n";
    auto fractional = load_external_generations((dir_ / "float.jsonl").string());
    ASSERT_FALSE(fractional.ok());
    EXPECT_EQ(fractional.error().field, "id");
    auto empty = load_external_generations("");
    ASSERT_FALSE(empty.ok());
    EXPECT_NE(empty.error().message.find("external:FILE"), std::string::npos);
}

TEST_F(AuthorshipEval, ExternalGenerationsAreJudgedLikeAMethod) {
    // The external texts contain neither marker: a judge preferring "external" wins for it.
    auto judge = [](const llm::ChatRequest& r) {
        const std::string s = all_text(r);
        const size_t a = s.find("Candidate A:");
        return verdict(s.find("external", a) < s.find("styled answer", a) ? "A" : "B");
    };
    ScriptedBackend gen(generator_script), j(judge);
    llm::Client gc(gen), jc(j);
    auto out =
        run_authorship(gc, jc, config({"external:" + kFixtures + "external.jsonl", "few_shot"}));
    ASSERT_TRUE(out.ok()) << out.error().describe();
    const auto& c = out.value().results["datasets"][0]["comparisons"][0];
    EXPECT_DOUBLE_EQ(c["win_rate"].get<double>(), 1.0);
    EXPECT_EQ(gen.requests.size(), 2u);  // only few_shot is generated
}

TEST_F(AuthorshipEval, AnExternalMethodIsTheDefaultBaseline) {
    ScriptedBackend gen(generator_script),
        judge([](const llm::ChatRequest&) { return verdict("A"); });
    llm::Client g(gen), j(judge);
    auto c = config({"few_shot", "external:" + kFixtures + "external.jsonl"});
    c.baseline.clear();
    auto out = run_authorship(g, j, c);
    ASSERT_TRUE(out.ok()) << out.error().describe();
    const auto& comps = out.value().results["datasets"][0]["comparisons"];
    ASSERT_EQ(comps.size(), 1u);
    EXPECT_EQ(comps[0]["method"], "few_shot");
    EXPECT_EQ(comps[0]["opponent"], "external:" + kFixtures + "external.jsonl");
}

TEST_F(AuthorshipEval, MissingExternalRowsFailBeforeAnyModelCall) {
    ScriptedBackend gen(generator_script),
        judge([](const llm::ChatRequest&) { return verdict("A"); });
    llm::Client g(gen), j(judge);
    auto out = run_authorship(
        g, j, config({"external:" + kFixtures + "external_partial.jsonl", "few_shot"}));
    ASSERT_FALSE(out.ok());
    EXPECT_EQ(out.error().field, "id");
    EXPECT_NE(out.error().message.find("t2"), std::string::npos);
    EXPECT_TRUE(gen.requests.empty());
    auto bad = load_external_generations(kFixtures + "external_bad.jsonl");
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.error().line, 1);
    EXPECT_EQ(bad.error().field, "text");
}

TEST_F(AuthorshipEval, GarbageVerdictsAreTiesNotErrors) {
    nlohmann::ordered_json c;
    EXPECT_DOUBLE_EQ(win_rate([](const llm::ChatRequest&) { return std::string("no idea {"); }, &c),
                     0.5);
    EXPECT_EQ(c["ties"], 2);
    EXPECT_EQ(c["invalid_verdicts"], 4);
}

TEST_F(AuthorshipEval, ReportHasTheTablesAndCharts) {
    ScriptedBackend gen(generator_script),
        judge([](const llm::ChatRequest&) { return verdict("A"); });
    llm::Client g(gen), j(judge);
    auto out = run_authorship(g, j, config());
    ASSERT_TRUE(out.ok()) << out.error().describe();
    const Report& r = out.value().report;
    ASSERT_EQ(r.bars.size(), 2u);
    ASSERT_EQ(r.bars[0].points.size(), 1u);
    EXPECT_EQ(r.bars[0].points[0].series, "zero_shot");
    // Stylometry: the real texts, then each method.
    ASSERT_EQ(r.bars[1].points.size(), 3u);
    EXPECT_EQ(r.bars[1].points[0].series, "real texts");
    ASSERT_EQ(r.heatmaps.size(), 1u);
    EXPECT_EQ(r.heatmaps[0].rows, (std::vector<std::string>{"ann", "bob"}));
    // Stylometry ran over the two authors' training texts; t2 has no gold text.
    const auto& s = out.value().results["datasets"][0]["stylometry"];
    EXPECT_EQ(s["candidate_authors"], 2);
    EXPECT_EQ(s["real_texts"]["n"], 1);
    EXPECT_EQ(s["methods"]["zero_shot"]["n"], 2);
}

}  // namespace
}  // namespace hyperalign::eval
