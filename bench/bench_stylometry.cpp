// The stylometric judge on CCAT50 beside the scikit-learn reference (tools/stylometry_reference.py
// in the shared folder), in the same run: both train on every train_raw article of the 50
// authors and attribute every test_raw article (40 authors) 50-way. Prints accuracy and times;
// the goal is the reference's accuracy or better in a fifth of its wall time. Asserts nothing.

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "bench.hpp"
#include "hyperalign/core/log.hpp"
#include "hyperalign/data/demonstration_loader.hpp"
#include "hyperalign/eval/stylometry.hpp"

namespace hyperalign::bench {
namespace {

namespace fs = std::filesystem;
using eval::LabelledText;

struct Args {
    std::string data_dir;  // empty: data::default_data_dir()
    std::string python = "/usr/bin/python3";
    bool reference = true;
    int runs = 3;
    eval::StylometryOptions options;
};

// The `author` and `text` of every row of a CCAT50 JSONL file.
std::optional<std::vector<LabelledText>> load_rows(const fs::path& path) {
    std::ifstream in(path);
    if (!in) {
        fmt::print(stderr, "cannot read {}\n", path.string());
        return std::nullopt;
    }
    std::vector<LabelledText> rows;
    std::string line;
    for (int number = 1; std::getline(in, line); ++number) {
        if (line.find_first_not_of(" \t\r") == std::string::npos)
            continue;
        auto row = nlohmann::json::parse(line, nullptr, false);
        if (!row.is_object() || !row.contains("author") || !row["author"].is_string() ||
            !row.contains("text") || !row["text"].is_string()) {
            fmt::print(stderr, "{}:{}: expected an object with string fields author and text\n",
                       path.string(), number);
            return std::nullopt;
        }
        rows.push_back({row["author"].get<std::string>(), row["text"].get<std::string>()});
    }
    return rows;
}

size_t author_count(const std::vector<LabelledText>& rows) {
    std::set<std::string> authors;
    for (const auto& row : rows)
        authors.insert(row.author);
    return authors.size();
}

struct OurRun {
    double ms_load = 0, ms_train = 0, ms_predict = 0;
    eval::StylometricJudge::Evaluation evaluation;
    size_t features = 0;
    size_t n_train = 0, n_test = 0, authors_train = 0, authors_test = 0;
};

// One whole run of ours, from reading the files to the last attribution.
std::optional<OurRun> run_ours(const fs::path& data, const eval::StylometryOptions& options) {
    OurRun run;
    const auto t0 = Clock::now();
    auto train = load_rows(data / "ccat50" / "ccat50_train_raw.jsonl");
    auto test = load_rows(data / "ccat50" / "ccat50_test_raw.jsonl");
    if (!train || !test)
        return std::nullopt;
    const auto t1 = Clock::now();
    auto judge = eval::StylometricJudge::train(*train, options);
    if (!judge.ok()) {
        fmt::print(stderr, "training failed: {}\n", judge.error().describe());
        return std::nullopt;
    }
    const auto t2 = Clock::now();
    run.evaluation = judge->evaluate(*test);
    const auto t3 = Clock::now();

    run.ms_load = ms_between(t0, t1);
    run.ms_train = ms_between(t1, t2);
    run.ms_predict = ms_between(t2, t3);
    run.features = judge->feature_count();
    run.n_train = train->size();
    run.n_test = test->size();
    run.authors_train = author_count(*train);
    run.authors_test = author_count(*test);
    return run;
}

struct ReferenceRun {
    double accuracy = 0;
    double seconds_reported = 0;  // its own timing: vectorise, fit, predict (no loading)
    double ms_wall = 0;           // the whole process
    std::string output;
};

// Runs the reference script and reads "accuracy A, S s" from its last line.
std::optional<ReferenceRun> run_reference(const Args& args, const fs::path& data) {
    const fs::path script = data / ".." / "tools" / "stylometry_reference.py";
    if (!fs::exists(script)) {
        fmt::print(stderr, "reference script not found: {}\n", script.string());
        return std::nullopt;
    }
    const std::string command =
        fmt::format("'{}' '{}' '{}' 2>&1", args.python, script.string(), data.string());
    ReferenceRun run;
    const auto start = Clock::now();
    FILE* pipe = popen(command.c_str(), "r");
    if (pipe == nullptr) {
        fmt::print(stderr, "cannot start {}\n", command);
        return std::nullopt;
    }
    std::array<char, 4096> buffer{};
    while (fgets(buffer.data(), static_cast<int>(buffer.size()), pipe) != nullptr)
        run.output += buffer.data();
    const int status = pclose(pipe);
    run.ms_wall = ms_between(start, Clock::now());

    const auto at = run.output.rfind("accuracy ");
    if (status != 0 || at == std::string::npos ||
        std::sscanf(run.output.c_str() + at, "accuracy %lf, %lf s", &run.accuracy,
                    &run.seconds_reported) != 2) {
        fmt::print(stderr, "the reference failed (exit status {}):\n{}", status, run.output);
        return std::nullopt;
    }
    return run;
}

// The machine's load, since the two sides run one after the other on shared cores.
void print_loadavg(const char* when) {
    std::ifstream in("/proc/loadavg");
    double one = 0, five = 0, fifteen = 0;
    if (in >> one >> five >> fifteen)
        fmt::print("load {}: {:.2f} {:.2f} {:.2f} (1, 5, 15 min)\n", when, one, five, fifteen);
}

int run(const Args& args) {
    std::optional<fs::path> data =
        args.data_dir.empty() ? data::default_data_dir() : fs::path(args.data_dir);
    if (!data) {
        fmt::print(stderr, "no data folder: pass --data-dir or set HYPERALIGN_DATA_DIR\n");
        return 1;
    }
    print_loadavg("before");

    std::vector<OurRun> runs;
    for (int i = 0; i < args.runs; ++i) {
        auto r = run_ours(*data, args.options);
        if (!r)
            return 1;
        runs.push_back(*r);
    }
    const OurRun& first = runs.front();
    auto median_of = [&](double OurRun::*field) {
        std::vector<double> v;
        for (const auto& r : runs)
            v.push_back(r.*field);
        return median(v);
    };
    const double load = median_of(&OurRun::ms_load) / 1000;
    const double train = median_of(&OurRun::ms_train) / 1000;
    const double predict = median_of(&OurRun::ms_predict) / 1000;
    const double total = load + train + predict;
    const auto& o = args.options;
    fmt::print("data: train {} texts ({} authors), test {} texts ({} authors), 50-way\n",
               first.n_train, first.authors_train, first.n_test, first.authors_test);
    fmt::print(
        "ours: char {}-{} + word {}-{} tf-idf, min_df {}, {} features, multi-class linear "
        "SVM C={} tolerance {}, threads {}\n",
        o.char_min, o.char_max, o.word_min, o.word_max, o.min_df, first.features, o.c, o.tolerance,
        o.threads);
    fmt::print("ours: n {}, correct {}, accuracy {:.4f}\n", first.evaluation.n,
               first.evaluation.correct, first.evaluation.accuracy());
    fmt::print(
        "ours: load {:.2f} s, train {:.2f} s, predict {:.2f} s, total {:.2f} s "
        "(median of {} runs)\n",
        load, train, predict, total, runs.size());
    if (!args.reference)
        return 0;

    auto ref = run_reference(args, *data);
    if (!ref)
        return 1;
    fmt::print(
        "reference: accuracy {:.4f}, {:.2f} s by its own clock (fit + predict), "
        "{:.2f} s wall (whole process)\n",
        ref->accuracy, ref->seconds_reported, ref->ms_wall / 1000);
    fmt::print(
        "ratio: reference wall / our total = {:.1f}x; reference fit+predict / our "
        "train+predict = {:.1f}x\n",
        ref->ms_wall / 1000 / total, ref->seconds_reported / (train + predict));
    fmt::print("accuracy: ours {:.4f} vs reference {:.4f} (printed with 3 digits by the script)\n",
               first.evaluation.accuracy(), ref->accuracy);
    print_loadavg("after");
    return 0;
}

}  // namespace
}  // namespace hyperalign::bench

int main(int argc, char** argv) {
    hyperalign::bench::Args a;
    auto& o = a.options;
    CLI::App app{"Stylometric judge against the scikit-learn reference on CCAT50 (prints figures)"};
    app.add_option("--data-dir", a.data_dir,
                   "shared data folder (default: found as the library "
                   "finds it)");
    app.add_option("--python", a.python, "Python with scikit-learn (Debian's python3-sklearn)")
        ->capture_default_str();
    app.add_flag("!--no-reference", a.reference, "skip the scikit-learn reference");
    app.add_option("--runs", a.runs, "runs of ours (times are medians)")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    app.add_option("--char-min", o.char_min, "")->capture_default_str();
    app.add_option("--char-max", o.char_max, "0: no character n-grams")->capture_default_str();
    app.add_option("--word-min", o.word_min, "")->capture_default_str();
    app.add_option("--word-max", o.word_max, "0: no word n-grams")->capture_default_str();
    app.add_option("--min-df", o.min_df, "")->capture_default_str();
    app.add_option("--max-features", o.max_features, "")->capture_default_str();
    app.add_option("--c", o.c, "SVM cost")->capture_default_str();
    app.add_option("--tolerance", o.tolerance, "solver stopping tolerance")->capture_default_str();
    app.add_option("--threads", o.threads, "0: all cores")->capture_default_str();

    bool verbose = false;
    app.add_flag("--verbose", verbose, "print the judge's time per training step");
    CLI11_PARSE(app, argc, argv);

    namespace log = hyperalign::log;
    log::set_level(verbose ? log::Level::debug : log::Level::warn);
    log::set_sink(
        [](log::Level, std::string_view message) { fmt::print(stderr, "{}\n", message); });
    return hyperalign::bench::run(a);
}
