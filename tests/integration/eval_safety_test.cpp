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

// The safety experiment end to end on the tiny model: a specification learned from six XSTest
// rows, two requests of every set, both methods, the same model answering and judging.
class EvalSafety : public hyperalign::testing::EvalRunSuite<EvalSafety> {
  public:
    static constexpr const char* kFolder = "hyperalign-safety";

    static std::string arguments() {
        const std::string model = hyperalign::testing::test_model_path();
        return "eval safety --train xstest --eval strongreject,advbench,harmbench,jailbreakbench,"
               "xstest --limit 2 --train-limit 6 --num-init 4 --max-hypotheses 5 --model " +
               model + " --judge " + model +
               " --threads 1 --ctx 2048 --max-tokens 32 --max-tokens-reasoning 64 "
               "--judge-max-tokens 96 --bootstrap 200";
    }
};

TEST_F(EvalSafety, WritesEveryArtifact) {
    ASSERT_EQ(first_->exit_code, 0) << first_->err;
    for (const char* f : {"report.json", "report.md", "report.html", "records.jsonl", "run.json",
                          "specification.json", "charts/harm_by_set.svg"}) {
        EXPECT_TRUE(fs::exists(out() / f)) << f;
    }
    auto report = nlohmann::json::parse(slurp(out() / "report.json"), nullptr, false);
    ASSERT_FALSE(report.is_discarded());
    const auto& data = report["data"];
    EXPECT_EQ(data["train_rows"], 6);
    ASSERT_EQ(data["sets"].size(), 5u);
    for (const auto& s : data["sets"]) {
        EXPECT_EQ(s["prompts"], 2) << s["name"];
        EXPECT_TRUE(s["methods"].contains("plain"));
        EXPECT_TRUE(s["methods"].contains("spec_guided"));
    }
    // HarmBench's copyright rows are left out by default, and the report says so.
    EXPECT_GT(data["sets"][2]["copyright_left_out"].get<int>(), 0);
    EXPECT_NE(slurp(out() / "report.md").find("copyright rows left out"), std::string::npos);
    EXPECT_EQ(data["string_match_vs_human"]["n"], 1800);
    // Reasoning is stored apart from every spec-guided answer.
    std::istringstream records(slurp(out() / "records.jsonl"));
    size_t guided = 0;
    for (std::string line; std::getline(records, line);) {
        auto rec = nlohmann::json::parse(line);
        if (rec["key"].get<std::string>().starts_with("answer/") &&
            rec["method"] == "spec_guided" && rec.contains("answer")) {
            ++guided;
            EXPECT_TRUE(rec.contains("reasoning"));
        }
    }
    EXPECT_EQ(guided, 10u);
}

TEST_F(EvalSafety, ARerunMakesNoModelCalls) {
    ASSERT_EQ(first_->exit_code, 0) << first_->err;
    CliRun again = run("second.json");
    ASSERT_EQ(again.exit_code, 0) << again.err;
    EXPECT_EQ(run_log("second.json")["generator"]["calls"], 0);
}

TEST_F(EvalSafety, TheReportRendersInHeadlessChromium) {
    ASSERT_EQ(first_->exit_code, 0) << first_->err;
    if (!hyperalign::testing::chromium_installed())
        GTEST_SKIP() << hyperalign::testing::kNoChromium;
    expect_report_renders();
}

}  // namespace
