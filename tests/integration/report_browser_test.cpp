#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <fmt/format.h>

#include "hyperalign/eval/report.hpp"
#include "support/cli.hpp"

namespace hyperalign::eval {
namespace {

namespace fs = std::filesystem;
using hyperalign::testing::slurp;

struct CheckRun {
    int exit_code = -1;
    std::string output;
};

// Runs scripts/check-report.sh on `dir` (Chromium headless), output and errors together.
CheckRun check_report(const fs::path& dir) {
    const fs::path out = dir.string() + ".check.txt";
    const std::string cmd = fmt::format("{}/scripts/check-report.sh '{}' >'{}' 2>&1 </dev/null",
                                        HYPERALIGN_SOURCE_DIR, dir.string(), out.string());
    const int status = std::system(cmd.c_str());
    CheckRun r{WIFEXITED(status) ? WEXITSTATUS(status) : -1, slurp(out)};
    fs::remove(out);
    return r;
}

bool is_png(const std::string& bytes) {
    return bytes.rfind("\x89PNG\r\n\x1a\n", 0) == 0;
}

// A report shaped like the evaluations': win rates per dataset and method, harm scores per set
// and method, and a per-author heatmap with a gap; one label is hostile to HTML and gnuplot.
Report evaluation_report() {
    Report r;
    r.title = "Evaluation <report> & \"friends\"";
    r.paragraphs = {"Each method is judged against few_shot, in both orders.",
                    "Labels with quotes ' \" and # _ & < > survive."};
    BarChart wins{"win_rates", "Win rate against few_shot (95% interval)", "win rate", 0, 1, {}};
    BarChart harm{"harm", "Harm score per set", "mean harm (0-10)", 0, 10, {}};
    const std::vector<std::string> methods = {"zero_shot", "attributes", "hyperalign",
                                              "o'brien & <co> #1"};
    for (size_t d = 0; d < 3; ++d) {
        for (size_t m = 0; m < methods.size(); ++m) {
            const double v = 0.3 + 0.1 * double(m) + 0.05 * double(d);
            wins.points.push_back({fmt::format("dataset_{}", d), methods[m], v, v - 0.1, v + 0.1});
            harm.points.push_back({fmt::format("set {}", d), methods[m], 8 - 2 * double(m), 0, 0});
        }
    }
    Heatmap authors{"authors", "Win rate per author", {}, methods, {}, 0, 1};
    for (size_t a = 0; a < 10; ++a) {
        authors.rows.push_back(fmt::format("author_{}", a));
        std::vector<double> row;
        for (size_t m = 0; m < methods.size(); ++m)
            row.push_back(a == 3 && m == 1 ? std::nan("") : double((a + m) % 11) / 10);
        authors.values.push_back(row);
    }
    r.bars = {wins, harm};
    r.heatmaps = {authors};
    r.tables.push_back({"Model calls, tokens and time per stage",
                        {"stage", "calls", "tokens in", "tokens out", "seconds"},
                        {{"profiles", "120", "240000", "12000", "310.5"},
                         {"judging", "480", "960000", "4800", "95.0"}}});
    r.data = {{"experiment", "browser check"}};
    return r;
}

class ReportBrowser : public ::testing::Test {
  protected:
    void SetUp() override {
        if (std::system("command -v chromium >/dev/null 2>&1") != 0)
            GTEST_SKIP() << "chromium is not installed (scripts/setup.sh installs it)";
        const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
        dir_ = fs::temp_directory_path() /
               fmt::format("hyperalign-report-browser-{}-{}", getpid(), info->name());
        fs::remove_all(dir_);
        const Status st = write_report(evaluation_report(), dir_);
        ASSERT_TRUE(st.ok()) << st.error().describe();
    }
    void TearDown() override {
        if (!dir_.empty())
            fs::remove_all(dir_);
    }

    fs::path dir_;
};

TEST_F(ReportBrowser, ChartsRenderWithoutConsoleErrorsAndAScreenshotIsSaved) {
    const CheckRun run = check_report(dir_);
    EXPECT_EQ(run.exit_code, 0) << run.output;
    EXPECT_EQ(run.output.rfind("check-report: ok: rendered 3/3 charts, 0 console errors", 0), 0u)
        << run.output;

    // The same page without charts or tables gives the size of a nearly blank screenshot.
    const fs::path blank = dir_ / "blank";
    fs::create_directories(blank);
    std::ofstream(blank / "report.html") << "<!DOCTYPE html><html><body><p>x</p></body></html>";
    const CheckRun blank_run = check_report(blank);
    EXPECT_EQ(blank_run.exit_code, 1) << blank_run.output;  // no charts expected: not a pass

    const std::string png = slurp(dir_ / "report.png");
    const std::string blank_png = slurp(blank / "report.png");
    ASSERT_TRUE(is_png(png));
    ASSERT_TRUE(is_png(blank_png));
    EXPECT_GT(png.size(), 5 * blank_png.size()) << png.size() << " vs " << blank_png.size();
}

TEST_F(ReportBrowser, FailsOnAPageThatLogsAConsoleError) {
    // Charts that render, counted as such, and one console.error.
    std::ofstream(dir_ / "report.html")
        << "<!DOCTYPE html><html><head><meta charset=\"utf-8\"></head>"
           "<body data-charts-expected=\"1\" data-charts-rendered=\"1\">"
           "<img class=\"chart\" src=\"charts/harm.svg\">"
           "<script>console.error('chart data is stale');</script></body></html>";
    const CheckRun run = check_report(dir_);
    EXPECT_EQ(run.exit_code, 1) << run.output;
    EXPECT_NE(run.output.find("check-report: FAIL: rendered 1/1 charts, 1 console errors"),
              std::string::npos)
        << run.output;
    EXPECT_NE(run.output.find("console.error: chart data is stale"), std::string::npos)
        << run.output;
}

TEST_F(ReportBrowser, FailsOnAPageWhoseChartImageIsMissing) {
    fs::remove(dir_ / "charts" / "harm.svg");
    const CheckRun run = check_report(dir_);
    EXPECT_EQ(run.exit_code, 1) << run.output;
    EXPECT_NE(run.output.find("check-report: FAIL: rendered 2/3 charts"), std::string::npos)
        << run.output;
    EXPECT_NE(run.output.find("ERR_FILE_NOT_FOUND"), std::string::npos) << run.output;
}

}  // namespace
}  // namespace hyperalign::eval
