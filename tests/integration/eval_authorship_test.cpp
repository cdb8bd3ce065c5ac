#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "support/cli.hpp"
#include "support/eval_run.hpp"
#include "support/model.hpp"

namespace {

namespace fs = std::filesystem;
using hyperalign::testing::CliRun;
using hyperalign::testing::slurp;

// A CCAT50 subset evaluated on the tiny model: two authors, one task each, two methods, the
// same model generating and judging. Shared by the suite: the run is the expensive part.
class EvalAuthorship : public hyperalign::testing::EvalRunSuite<EvalAuthorship> {
  public:
    static constexpr const char* kFolder = "hyperalign-eval";

    static std::string arguments() {
        const std::string model = hyperalign::testing::test_model_path();
        return "eval authorship --dataset ccat50 --authors FumikoFujisaki,SarahDavison "
               "--tasks-per-author 1 --demos 3 --methods few_shot,hyperalign --baseline few_shot "
               "--generator " +
               model + " --judge " + model +
               " --threads 1 --ctx 2048 --max-tokens 48 --bootstrap 200";
    }
};

TEST_F(EvalAuthorship, WritesEveryArtifact) {
    ASSERT_EQ(first_->exit_code, 0) << first_->err;
    EXPECT_NE(first_->out.find("ccat50 hyperalign vs few_shot: win rate"), std::string::npos)
        << first_->out;
    for (const char* f :
         {"report.json", "report.md", "report.html", "records.jsonl", "run.json",
          "charts/win_rates.svg", "charts/authors_ccat50.svg", "charts/stylometry.svg",
          "profiles/ccat50/FumikoFujisaki.json", "profiles/ccat50/SarahDavison.json"}) {
        EXPECT_TRUE(fs::exists(out() / f)) << f;
    }
    auto report = nlohmann::json::parse(slurp(out() / "report.json"), nullptr, false);
    ASSERT_FALSE(report.is_discarded());
    const auto& d = report["data"]["datasets"][0];
    EXPECT_EQ(d["name"], "ccat50");
    EXPECT_EQ(d["tasks"], 2);
    EXPECT_EQ(d["prompt_check"]["reproduced"], 266);
    const auto& c = d["comparisons"][0];
    EXPECT_EQ(c["wins"].get<int>() + c["losses"].get<int>() + c["ties"].get<int>(), 2);
    const double w = c["win_rate"].get<double>();
    EXPECT_GE(w, c["low"].get<double>());
    EXPECT_LE(w, c["high"].get<double>());
    // 50 candidate authors for the stylometric judge; two real texts and two generations.
    EXPECT_EQ(d["stylometry"]["candidate_authors"], 50);
    EXPECT_EQ(d["stylometry"]["real_texts"]["n"], 2);
    // Every verdict is recorded with both raw replies.
    size_t verdicts = 0;
    std::istringstream records(slurp(out() / "records.jsonl"));
    for (std::string line; std::getline(records, line);) {
        auto rec = nlohmann::json::parse(line);
        if (rec["key"].get<std::string>().starts_with("verdict/")) {
            ++verdicts;
            EXPECT_TRUE(rec["method_as_a"].contains("raw"));
            EXPECT_TRUE(rec["method_as_b"].contains("raw"));
        }
    }
    EXPECT_EQ(verdicts, 2u);
    EXPECT_GT(run_log("first.json")["generator"]["calls"].get<int>(), 0);
}

TEST_F(EvalAuthorship, ARerunMakesNoModelCalls) {
    ASSERT_EQ(first_->exit_code, 0) << first_->err;
    const std::string before = slurp(out() / "report.json");
    CliRun again = run("second.json");
    ASSERT_EQ(again.exit_code, 0) << again.err;
    EXPECT_EQ(run_log("second.json")["generator"]["calls"], 0);
    auto a = nlohmann::json::parse(before);
    auto b = nlohmann::json::parse(slurp(out() / "report.json"));
    EXPECT_EQ(a["data"]["datasets"], b["data"]["datasets"]);
}

TEST_F(EvalAuthorship, TheReportRendersInHeadlessChromium) {
    ASSERT_EQ(first_->exit_code, 0) << first_->err;
    if (!hyperalign::testing::chromium_installed())
        GTEST_SKIP() << hyperalign::testing::kNoChromium;
    expect_report_renders();
    EXPECT_GT(fs::file_size(out() / "report.png"), 10000u);
}

TEST_F(EvalAuthorship, BadArgumentsFailWithTheirExitCodes) {
    const std::string model = hyperalign::testing::test_model_path();
    CliRun r = hyperalign::testing::run_cli(
        "eval authorship --dataset ccat50 --authors Nobody --generator " + model + " --judge " +
            model + " --out " + (dir_ / "bad").string(),
        dir_ / "cli");
    EXPECT_EQ(r.exit_code, 4) << r.err;
    EXPECT_NE(r.err.find("Nobody"), std::string::npos) << r.err;
    CliRun m = hyperalign::testing::run_cli(
        "eval authorship --dataset ccat50 --methods few_shot,telepathy --generator " + model +
            " --judge " + model + " --out " + (dir_ / "bad2").string(),
        dir_ / "cli");
    EXPECT_EQ(m.exit_code, 3) << m.err;
    // A list that splits into nothing is refused; it does not take the next argument.
    CliRun e = hyperalign::testing::run_cli(
        "eval authorship --dataset ccat50 --authors , --generator " + model + " --judge " + model +
            " --out " + (dir_ / "bad3").string(),
        dir_ / "cli");
    EXPECT_EQ(e.exit_code, 2) << e.err;
    EXPECT_NE(e.err.find("--authors: an empty item"), std::string::npos) << e.err;
}

TEST_F(EvalAuthorship, NoGenerationFittingTheContextFailsWithItsCode) {
    const std::string model = hyperalign::testing::test_model_path();
    CliRun r = hyperalign::testing::run_cli(
        "eval authorship --dataset " + std::string(HYPERALIGN_TEST_FIXTURES) +
            "/authorship/tiny.jsonl --methods zero_shot,few_shot --ctx 40 --max-tokens 8 "
            "--judge-max-tokens 8 --generator " +
            model + " --judge " + model + " --out " + (dir_ / "small").string(),
        dir_ / "cli");
    EXPECT_EQ(r.exit_code, 5) << r.err;
    EXPECT_NE(r.err.find("2 of 2 tasks not judged"), std::string::npos) << r.err;
    // The report is written all the same.
    EXPECT_TRUE(fs::exists(dir_ / "small" / "report.md"));
}

}  // namespace
