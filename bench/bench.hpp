#pragma once

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

namespace hyperalign::bench {

// Command-line settings shared by the modes of bench_inprocess.
struct BenchArgs {
    std::string model;
    int threads = 2;
    int runs = 7;      // alternating pairs for generation speed
    int ctx = 0;       // 0: 2048 for the generation modes, 4096 for the profile mode
    int tokens = 128;  // generated tokens per run, lowered to where greedy decoding hits EOS
    int calls = 500;   // rounds of 1-token calls (each variant once) for the per-call overhead
    std::string prompt_file;
    int prompt_repeat = 1;  // the generation prompt is this many copies of the file's text
    std::string short_prompt_file;

    // Profile mode.
    std::string dataset = "ccat50";
    std::string author = "FumikoFujisaki";
    std::string chat_template;  // empty: the model's own, else ChatML (as the CLI does)
    int per_batch = 3;
    int max_hypotheses = 20;
    int max_tokens_generate = 1024;
    int max_tokens_predict = 256;
    int max_tokens_attributes = 2048;
    int max_tokens_contrast = 512;
};

using Clock = std::chrono::steady_clock;

inline double ms_between(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double, std::milli>(b - a).count();
}

// Median of a copy: the summary statistic for every figure, since one run disturbed by another
// process on a 2-core machine would drag a mean far off.
inline double median(std::vector<double> v) {
    if (v.empty())
        return 0;
    std::sort(v.begin(), v.end());
    const size_t mid = v.size() / 2;
    return v.size() % 2 == 1 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

// The whole file with trailing whitespace removed; empty when it cannot be read.
std::string read_text(const std::string& path);

// Prints the machine load (from /proc/loadavg) so every figure comes with its conditions.
void print_load(const char* when);

// Parts 1 and 2 of issue #2: generation speed ours vs a raw llama.cpp loop, and per-call overhead.
int run_generation(const BenchArgs& args);

// Part 3: model calls, tokens and time to build one author's profile.
int run_profile(const BenchArgs& args);

}  // namespace hyperalign::bench
