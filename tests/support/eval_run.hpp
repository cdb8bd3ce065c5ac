#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "support/cli.hpp"

namespace hyperalign::testing {

inline bool chromium_installed() {
    return std::system("command -v chromium >/dev/null 2>&1") == 0;
}

inline constexpr const char* kNoChromium =
    "chromium is not installed (scripts/setup.sh installs it)";

// A suite sharing one run of an `eval` command, the expensive part, in a temporary folder of
// its own. `Suite` derives from EvalRunSuite<Suite> and declares
//   static constexpr const char* kFolder;  // the folder's name, before "-<pid>"
//   static std::string arguments();         // the command line but for --cache, --run-log, --out
// The suite's set-up empties the folder and runs the command once (first_, run log first.json);
// its tear-down removes the folder.
template <typename Suite>
class EvalRunSuite : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        dir_ = std::filesystem::temp_directory_path() /
               (std::string(Suite::kFolder) + "-" + std::to_string(::getpid()));
        std::filesystem::remove_all(dir_);
        first_ = new CliRun(run("first.json"));
    }

    static void TearDownTestSuite() {
        delete first_;
        first_ = nullptr;
        std::filesystem::remove_all(dir_);
    }

    // The command again, with the suite's cache and output folder and run log `run_log`.
    static CliRun run(const std::string& run_log) {
        return run_cli(Suite::arguments() + " --cache " + (dir_ / "cache.sqlite").string() +
                           " --run-log " + (dir_ / run_log).string() + " --out " + out().string(),
                       dir_ / "cli");
    }

    // The run log a run() wrote.
    static nlohmann::json run_log(const std::string& name) {
        return nlohmann::json::parse(slurp(dir_ / name));
    }

    static std::filesystem::path out() { return dir_ / "out"; }

    // Opens out()/report.html in headless Chromium with scripts/check-report.sh, which must pass
    // and leave a screenshot report.png. Check chromium_installed() first.
    static void expect_report_renders() {
        const std::string cmd = std::string(HYPERALIGN_SOURCE_DIR) + "/scripts/check-report.sh " +
                                out().string() + " >" + (dir_ / "check.txt").string() + " 2>&1";
        const int status = std::system(cmd.c_str());
        EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << slurp(dir_ / "check.txt");
        EXPECT_TRUE(std::filesystem::exists(out() / "report.png"));
    }

    static inline std::filesystem::path dir_;
    static inline CliRun* first_ = nullptr;
};

}  // namespace hyperalign::testing
