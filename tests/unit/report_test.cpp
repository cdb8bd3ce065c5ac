#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "hyperalign/eval/report.hpp"

namespace hyperalign::eval {
namespace {

namespace fs = std::filesystem;

const std::string kHostile = "<script>alert(\"x\")</script> & 'q' #1 under_score";

std::string read(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

size_t count(const std::string& haystack, const std::string& needle) {
    size_t n = 0;
    for (size_t at = haystack.find(needle); at != std::string::npos;
         at = haystack.find(needle, at + needle.size()))
        ++n;
    return n;
}

bool gnuplot_installed() {
    return std::system("command -v gnuplot >/dev/null 2>&1") == 0;
}

// A small authorship-like report: a win-rate table, a grouped bar chart, and a heatmap with one
// cell without data.
Report sample() {
    Report r;
    r.title = "Authorship evaluation";
    r.paragraphs = {"Win rates against few_shot.", kHostile};
    r.tables.push_back({"Win rates",
                        {"method", "win rate", "95% interval"},
                        {{"hyperalign", "72.5%", "61.0-83.0%"}, {"few_shot", "50.0%"}}});
    r.bars.push_back({"win_rates",
                      "Win rate " + kHostile,
                      "win rate",
                      0,
                      1,
                      {{"ccat50", "hyperalign", 0.725, 0.61, 0.83},
                       {"ccat50", "zero_shot", 0.3, 0.2, 0.4},
                       {"cmcc", "hyperalign", 0.8, 0.7, 0.9}}});
    r.heatmaps.push_back({"authors_ccat50",
                          "Per author",
                          {"AaronPressman", kHostile},
                          {"hyperalign", "zero_shot"},
                          {{0.25, 0.75}, {std::nan(""), 0.5}},
                          0,
                          1});
    r.data = {{"experiment", "authorship"}, {"win_rate", 0.725}};
    return r;
}

class WriteReport : public ::testing::Test {
  protected:
    void SetUp() override {
        const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
        dir_ = fs::temp_directory_path() /
               fmt::format("hyperalign-report-{}-{}", getpid(), info->name());
        fs::remove_all(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }

    // write_report with PATH holding only `bin`: an empty folder, or one with a fake gnuplot.
    Status write_with_path(const Report& report, const std::string& fake_gnuplot = "") {
        const fs::path bin = dir_.string() + "-bin";
        fs::create_directories(bin);
        if (!fake_gnuplot.empty()) {
            std::ofstream(bin / "gnuplot") << fake_gnuplot;
            fs::permissions(bin / "gnuplot", fs::perms::owner_all);
        }
        const char* old = std::getenv("PATH");
        const std::optional<std::string> saved =
            old ? std::optional<std::string>(old) : std::nullopt;
        setenv("PATH", bin.c_str(), 1);
        Status st = write_report(report, dir_);
        if (saved)
            setenv("PATH", saved->c_str(), 1);
        else
            unsetenv("PATH");
        fs::remove_all(bin);
        return st;
    }

    fs::path dir_;
};

TEST_F(WriteReport, WritesJsonWithTheDataTablesAndCharts) {
    Report r = sample();
    r.bars.clear();
    r.heatmaps.clear();
    ASSERT_TRUE(write_report(r, dir_ / "nested").ok());

    auto j = nlohmann::json::parse(read(dir_ / "nested" / "report.json"));
    EXPECT_EQ(j["title"], "Authorship evaluation");
    EXPECT_EQ(j["data"]["experiment"], "authorship");
    EXPECT_DOUBLE_EQ(j["data"]["win_rate"].get<double>(), 0.725);
    EXPECT_EQ(j["paragraphs"][1], kHostile);
    ASSERT_EQ(j["tables"].size(), 1u);
    EXPECT_EQ(j["tables"][0]["title"], "Win rates");
    EXPECT_EQ(j["tables"][0]["header"][2], "95% interval");
    EXPECT_EQ(j["tables"][0]["rows"][0][2], "61.0-83.0%");
    EXPECT_EQ(j["tables"][0]["rows"][1].size(), 2u);
    EXPECT_TRUE(j["charts"].empty());
    EXPECT_TRUE(fs::exists(dir_ / "nested" / "report.md"));
    EXPECT_TRUE(fs::exists(dir_ / "nested" / "report.html"));
    EXPECT_FALSE(fs::exists(dir_ / "nested" / "charts"));
}

TEST_F(WriteReport, MarkdownHasOneTableLinePerRowWithEscapedCells) {
    Report r = sample();
    r.bars.clear();
    r.heatmaps.clear();
    r.tables[0].rows.push_back({"a|b", "x\ny", "*"});
    r.paragraphs.push_back("- not a list\n12. nor this\n\n=");
    ASSERT_TRUE(write_report(r, dir_).ok());

    const std::string md = read(dir_ / "report.md");
    EXPECT_EQ(md.rfind("# Authorship evaluation\n\nWin rates against few\\_shot.\n\n", 0), 0u);
    EXPECT_NE(md.find("\\<script\\>alert(\"x\")\\</script\\> \\& 'q' \\#1 under\\_score\n"),
              std::string::npos);
    EXPECT_NE(md.find("\n\\- not a list\n12\\. nor this\n\\=\n\n"), std::string::npos) << md;
    const std::string table =
        "## Win rates\n\n"
        "| method | win rate | 95% interval |\n"
        "| --- | --- | --- |\n"
        "| hyperalign | 72.5% | 61.0-83.0% |\n"
        "| few\\_shot | 50.0% |  |\n"
        "| a\\|b | x y | \\* |\n";
    EXPECT_NE(md.find(table), std::string::npos) << md;
}

TEST_F(WriteReport, HtmlEscapesEveryLabel) {
    Report r = sample();
    r.title = kHostile;
    r.tables[0].header[0] = kHostile;
    r.tables[0].rows[0][0] = kHostile;
    r.bars.clear();
    r.heatmaps.clear();
    ASSERT_TRUE(write_report(r, dir_).ok());

    const std::string page = read(dir_ / "report.html");
    const std::string escaped =
        "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;q&#39; #1 under_score";
    EXPECT_EQ(count(page, "<title>" + escaped + "</title>"), 1u);
    EXPECT_EQ(count(page, "<h1>" + escaped + "</h1>"), 1u);
    EXPECT_EQ(count(page, "<p>" + escaped + "</p>"), 1u);
    EXPECT_EQ(count(page, "<th>" + escaped + "</th>"), 1u);
    EXPECT_EQ(count(page, "<td>" + escaped + "</td>"), 1u);
    EXPECT_EQ(count(page, "<script>"), 1u);  // the page's own counting script only
    EXPECT_EQ(count(page, "alert(\""), 0u);
    EXPECT_NE(page.find("<body data-charts-expected=\"0\" data-charts-rendered=\"0\">"),
              std::string::npos);
}

TEST_F(WriteReport, InvalidUtf8InALabelBecomesAReplacementCharacter) {
    Report r;
    r.title = "bad \xff byte";
    r.tables.push_back({"t", {"h\xc3"}, {{"c"}}});
    ASSERT_TRUE(write_report(r, dir_).ok());

    auto j = nlohmann::json::parse(read(dir_ / "report.json"));
    EXPECT_EQ(j["title"], "bad \xef\xbf\xbd byte");
    EXPECT_EQ(j["tables"][0]["header"][0], "h");
    EXPECT_NE(read(dir_ / "report.html").find("<h1>bad \xef\xbf\xbd byte</h1>"), std::string::npos);
}

TEST_F(WriteReport, DrawsEachChartAsAnSvgWithGnuplot) {
    if (!gnuplot_installed())
        GTEST_SKIP() << "gnuplot is not installed (scripts/setup.sh installs gnuplot-nox)";
    const Status st = write_report(sample(), dir_);
    ASSERT_TRUE(st.ok()) << st.error().describe();

    for (const char* id : {"win_rates", "authors_ccat50"}) {
        const std::string svg = read(dir_ / "charts" / (std::string(id) + ".svg"));
        EXPECT_EQ(svg.rfind("<?xml", 0), 0u) << id;
        EXPECT_EQ(count(svg, "<svg"), 1u) << id;
        EXPECT_NE(svg.find("</svg>"), std::string::npos) << id;
        EXPECT_EQ(count(svg, "<g"), count(svg, "</g>")) << id;
        EXPECT_EQ(count(svg, "<script"), 0u) << id;
        EXPECT_TRUE(fs::exists(dir_ / "charts" / (std::string(id) + ".gp"))) << id;
        EXPECT_FALSE(fs::exists(dir_ / "charts" / (std::string(id) + ".log"))) << id;
    }
    const std::string bars = read(dir_ / "charts" / "win_rates.svg");
    // gnuplot escapes '<' and '&' in SVG text; a bare '>' is valid XML.
    EXPECT_NE(bars.find("<text>Win rate &lt;script>alert(\"x\")&lt;/script> &amp; 'q' #1 "
                        "under_score</text>"),
              std::string::npos);
    for (const char* label : {"<text>ccat50</text>", "<text>cmcc</text>", "<text>hyperalign</text>",
                              "<text>zero_shot</text>"})
        EXPECT_EQ(count(bars, label), 1u) << label;

    // Values are printed in the three cells with data; the empty cell shows none.
    const std::string heat = read(dir_ / "charts" / "authors_ccat50.svg");
    for (const char* value : {"<text>0.25</text>", "<text>0.75</text>", "<text>0.50</text>"})
        EXPECT_EQ(count(heat, value), 1u) << value;
    EXPECT_EQ(count(heat, "<text>nan</text>") + count(heat, "<text>NaN</text>"), 0u);
    EXPECT_EQ(count(heat, "<text>AaronPressman</text>"), 1u);

    auto j = nlohmann::json::parse(read(dir_ / "report.json"));
    ASSERT_EQ(j["charts"].size(), 2u);
    EXPECT_EQ(j["charts"][0]["file"], "charts/win_rates.svg");
    EXPECT_EQ(j["charts"][1]["kind"], "heatmap");
    const std::string page = read(dir_ / "report.html");
    EXPECT_EQ(count(page, "<img class=\"chart\" src=\"charts/"), 2u);
    EXPECT_NE(page.find("data-charts-expected=\"2\""), std::string::npos);
    EXPECT_NE(read(dir_ / "report.md").find("](charts/authors_ccat50.svg)"), std::string::npos);
}

TEST_F(WriteReport, DrawsAChartWithoutDataAsAnEmptyFrame) {
    if (!gnuplot_installed())
        GTEST_SKIP() << "gnuplot is not installed (scripts/setup.sh installs gnuplot-nox)";
    Report r;
    r.bars.push_back({"empty", "Nothing judged", "win rate", 0, 1, {}});
    r.heatmaps.push_back({"empty_map", "No authors", {}, {}, {}, 0, 1});
    const Status st = write_report(r, dir_);
    ASSERT_TRUE(st.ok()) << st.error().describe();
    EXPECT_EQ(count(read(dir_ / "charts" / "empty.svg"), "<text>no data</text>"), 1u);
    EXPECT_EQ(count(read(dir_ / "charts" / "empty_map.svg"), "<text>no data</text>"), 1u);
}

TEST_F(WriteReport, WithoutGnuplotWritesEverythingElseAndReturnsNotFound) {
    // A chart from an earlier run must not stay linked.
    fs::create_directories(dir_ / "charts");
    std::ofstream(dir_ / "charts" / "win_rates.svg") << "<svg/>";

    const Status st = write_with_path(sample());
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().code, ErrorCode::not_found);
    EXPECT_NE(st.error().message.find("gnuplot"), std::string::npos);

    EXPECT_FALSE(fs::exists(dir_ / "charts" / "win_rates.svg"));
    auto j = nlohmann::json::parse(read(dir_ / "report.json"));
    EXPECT_EQ(j["data"]["experiment"], "authorship");
    ASSERT_EQ(j["charts"].size(), 2u);
    EXPECT_TRUE(j["charts"][0]["file"].is_null());
    EXPECT_TRUE(j["charts"][1]["file"].is_null());
    const std::string page = read(dir_ / "report.html");
    EXPECT_EQ(count(page, "<img"), 0u);
    EXPECT_NE(page.find("<p class=\"notice\">Some charts were not drawn: cannot run gnuplot"),
              std::string::npos);
    EXPECT_NE(page.find("data-charts-expected=\"2\""), std::string::npos);
    EXPECT_NE(page.find("<td>72.5%</td>"), std::string::npos);
    const std::string md = read(dir_ / "report.md");
    EXPECT_NE(md.find("Some charts were not drawn: cannot run gnuplot"), std::string::npos);
    EXPECT_NE(md.find("| hyperalign | 72.5% |"), std::string::npos);
}

TEST_F(WriteReport, AFailingGnuplotIsReportedWithItsOutputAndTheRestIsWritten) {
    const Status st = write_with_path(sample(), "#!/bin/sh\necho 'line 3: bad plot' >&2\nexit 3\n");
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().code, ErrorCode::backend_unavailable);
    EXPECT_NE(st.error().message.find("gnuplot failed on"), std::string::npos);
    EXPECT_NE(st.error().message.find("line 3: bad plot"), std::string::npos);

    // Every chart was tried and none linked; the scripts stay for a person to rerun.
    EXPECT_TRUE(fs::exists(dir_ / "charts" / "win_rates.gp"));
    EXPECT_TRUE(fs::exists(dir_ / "charts" / "authors_ccat50.gp"));
    EXPECT_FALSE(fs::exists(dir_ / "charts" / "win_rates.log"));
    const std::string page = read(dir_ / "report.html");
    EXPECT_EQ(count(page, "<img"), 0u);
    EXPECT_EQ(count(page, "<p class=\"notice\">Chart not drawn: "), 2u);
    EXPECT_TRUE(nlohmann::json::parse(read(dir_ / "report.json"))["charts"][1]["file"].is_null());
}

TEST_F(WriteReport, RejectsAChartIdThatIsNotAFileNameBeforeWritingAnything) {
    Report r = sample();
    r.heatmaps[0].id = "../escape";
    const Status st = write_report(r, dir_);
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().code, ErrorCode::invalid_input);
    EXPECT_EQ(st.error().field, "heatmaps[0].id");
    EXPECT_FALSE(fs::exists(dir_));
}

TEST_F(WriteReport, RejectsAChartIdUsedTwice) {
    Report r = sample();
    r.heatmaps[0].id = "win_rates";
    const Status st = write_report(r, dir_);
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().field, "heatmaps[0].id");
    EXPECT_NE(st.error().message.find("used twice"), std::string::npos);
}

TEST_F(WriteReport, RejectsHeatmapValuesThatDoNotMatchTheLabels) {
    Report r = sample();
    r.heatmaps[0].values[1].pop_back();
    const Status st = write_report(r, dir_);
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().code, ErrorCode::invalid_input);
    EXPECT_EQ(st.error().field, "heatmaps[0].values[1]");
    EXPECT_EQ(st.error().message, "1 values for 2 columns");

    r = sample();
    r.bars[0].y_max = 0;
    const Status range = write_report(r, dir_);
    ASSERT_FALSE(range.ok());
    EXPECT_EQ(range.error().field, "bars[0]");
}

}  // namespace
}  // namespace hyperalign::eval
