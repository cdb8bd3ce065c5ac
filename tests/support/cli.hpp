#pragma once

#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

namespace hyperalign::testing {

// What a run of the hyperalign binary printed and returned.
struct CliRun {
    int exit_code = -1;
    std::string out;
    std::string err;
};

inline std::string slurp(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Runs the binary (HYPERALIGN_CLI) with `args`, already shell-quoted where needed; stdin is
// /dev/null, so it is never a terminal. Output files go to `dir`, created if needed.
inline CliRun run_cli(const std::string& args, const std::filesystem::path& dir) {
    static int counter = 0;
    std::filesystem::create_directories(dir);
    const auto out = dir / ("out" + std::to_string(counter));
    const auto err = dir / ("err" + std::to_string(counter++));
    const std::string cmd = std::string(HYPERALIGN_CLI) + " " + args + " </dev/null >" +
                            out.string() + " 2>" + err.string();
    const int status = std::system(cmd.c_str());
    CliRun r;
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = slurp(out);
    r.err = slurp(err);
    return r;
}

}  // namespace hyperalign::testing
