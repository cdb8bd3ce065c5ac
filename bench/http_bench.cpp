// Issue #3's figures for the OpenAI-compatible HTTP backend. Prints, never asserts: N threads
// looping OpenAiBackend::chat() against a llama-server with N slots, alternated with wrk sending
// the same request body over N connections, then the throughput ratio ours / wrk and the time
// each call costs us beyond what wrk spends. scripts/bench-http.sh starts the server and runs it.

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "hyperalign/core/log.hpp"
#include "hyperalign/llm/openai_backend.hpp"

namespace {

using hyperalign::llm::ChatRequest;
using hyperalign::llm::OpenAiBackend;
using Clock = std::chrono::steady_clock;

struct Args {
    std::string base_url;
    int concurrency = 4;
    int pairs = 5;
    int seconds = 8;  // per run; wrk takes whole seconds
    int warmup_seconds = 2;
    double pause_seconds = 1;  // between runs, so the server has finished the last one's requests
    int max_tokens = 64;
    std::string prompt_file = std::string(HYPERALIGN_BENCH_DATA_DIR) + "/prompt_generation.txt";
    std::string wrk = "wrk";
    std::string wrk_script = std::string(HYPERALIGN_BENCH_DATA_DIR) + "/chat_request.lua";
    bool print_body = false;
};

// What one run of either client did, over its measured window.
struct RunFigures {
    double seconds = 0;
    int64_t requests = 0;       // completed with a reply, within the window
    int64_t tokens = 0;         // completion tokens of those replies
    int64_t short_replies = 0;  // replies with fewer than max_tokens completion tokens
    int64_t errors = 0;         // failed calls, non-200 statuses, socket errors
    double latency_ms = 0;      // mean, as the client measured it
    double server_ms = 0;       // mean of llama-server's prompt_ms + predicted_ms

    double requests_per_s() const { return seconds > 0 ? double(requests) / seconds : 0; }
    double tokens_per_s() const { return seconds > 0 ? double(tokens) / seconds : 0; }
    // Time per call outside the server's own compute: HTTP, queueing, the client's work.
    double outside_ms() const { return latency_ms - server_ms; }
};

double median(std::vector<double> v) {
    if (v.empty())
        return 0;
    std::sort(v.begin(), v.end());
    const size_t mid = v.size() / 2;
    return v.size() % 2 == 1 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

std::string read_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string text = ss.str();
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())))
        text.pop_back();
    return text;
}

void print_load(const char* when) {
    std::ifstream in("/proc/loadavg");
    double one = 0, five = 0, fifteen = 0;
    std::string tasks;
    if (in >> one >> five >> fifteen >> tasks) {
        fmt::print("load {}: {:.2f} {:.2f} {:.2f} (1, 5, 15 min), runnable now {}\n", when, one,
                   five, fifteen, tasks.substr(0, tasks.find('/')));
    }
}

// A JSON string literal, escaped as nlohmann::json's dump() does, so the body below is the one
// OpenAiBackend sends byte for byte.
std::string json_string(std::string_view s) {
    constexpr std::pair<char, std::string_view> kNamed[] = {
        {'"', "\\\""}, {'\\', "\\\\"}, {'\b', "\\b"}, {'\f', "\\f"},
        {'\n', "\\n"}, {'\r', "\\r"},  {'\t', "\\t"}};
    std::string out = "\"";
    for (char c : s) {
        const auto named = std::find_if(std::begin(kNamed), std::end(kNamed),
                                        [c](const auto& e) { return e.first == c; });
        if (named != std::end(kNamed))
            out += named->second;
        else if (static_cast<unsigned char>(c) < 0x20)
            out += fmt::format("\\u{:04x}", static_cast<unsigned char>(c));
        else
            out += c;
    }
    return out + "\"";
}

// The body OpenAiBackend::chat() builds for `request` (one user message, greedy, no stop
// strings, no schema): keys in the sorted order nlohmann::json writes them.
std::string wire_body(const std::string& model, const ChatRequest& request) {
    const auto& s = request.sampling;
    return fmt::format(
        R"({{"max_tokens":{},"messages":[{{"content":{},"role":"user"}}],"model":{},)"
        R"("seed":{},"temperature":{:.1f},"top_p":{:.1f}}})",
        s.max_tokens, json_string(request.messages.front().content), json_string(model), s.seed,
        s.temperature, s.top_p);
}

// N threads each loop chat() until the window closes. As wrk does, a call that ends after the
// window is not counted, and the rate is over the window's length.
RunFigures run_ours(OpenAiBackend& backend, const ChatRequest& request, const Args& args,
                    std::chrono::seconds window) {
    struct PerThread {
        int64_t requests = 0, tokens = 0, short_replies = 0, errors = 0;
        double latency_ms = 0, server_ms = 0;
        std::string first_error;
    };
    std::vector<PerThread> per_thread(size_t(args.concurrency));
    const auto start = Clock::now();
    const auto deadline = start + window;
    {
        std::vector<std::jthread> threads;
        for (PerThread& mine : per_thread) {
            threads.emplace_back([&, deadline] {
                while (Clock::now() < deadline) {
                    const auto sent = Clock::now();
                    auto reply = backend.chat(request);
                    const auto done = Clock::now();
                    if (done > deadline)
                        break;
                    if (!reply.ok()) {
                        if (mine.errors++ == 0)
                            mine.first_error = reply.error().describe();
                        continue;
                    }
                    mine.requests++;
                    mine.tokens += reply->usage.tokens_completion;
                    mine.short_replies += reply->usage.tokens_completion < args.max_tokens;
                    mine.latency_ms +=
                        std::chrono::duration<double, std::milli>(done - sent).count();
                    mine.server_ms += reply->timings.ms_prompt + reply->timings.ms_completion;
                }
            });
        }
    }

    RunFigures f;
    f.seconds = std::chrono::duration<double>(window).count();
    for (const PerThread& t : per_thread) {
        f.requests += t.requests;
        f.tokens += t.tokens;
        f.short_replies += t.short_replies;
        f.errors += t.errors;
        f.latency_ms += t.latency_ms;
        f.server_ms += t.server_ms;
        if (!t.first_error.empty())
            fmt::print(stderr, "  our client: {}\n", t.first_error);
    }
    if (f.requests > 0) {
        f.latency_ms /= double(f.requests);
        f.server_ms /= double(f.requests);
    }
    return f;
}

// The key=value pairs of chat_request.lua's summary line.
std::map<std::string, double> parse_wrk_summary(const std::string& output) {
    std::map<std::string, double> values;
    const size_t at = output.find("hyperalign-wrk ");
    if (at == std::string::npos)
        return values;
    std::istringstream line(output.substr(at + 15, output.find('\n', at) - at - 15));
    std::string pair;
    while (line >> pair) {
        const size_t eq = pair.find('=');
        if (eq != std::string::npos)
            values[pair.substr(0, eq)] = std::strtod(pair.c_str() + eq + 1, nullptr);
    }
    return values;
}

// Fails (nullopt) when wrk could not run or printed no summary; its output then goes to stderr.
std::optional<RunFigures> run_wrk(const Args& args, const std::string& url,
                                  const std::string& body_path, std::chrono::seconds window) {
    const int threads = std::min(2, args.concurrency);
    const std::string command = fmt::format(
        "HYPERALIGN_WRK_BODY='{}' HYPERALIGN_WRK_MAX_TOKENS={} '{}' -t{} -c{} -d{}s --timeout 60s "
        "-s '{}' '{}' 2>&1",
        body_path, args.max_tokens, args.wrk, threads, args.concurrency, window.count(),
        args.wrk_script, url);
    FILE* pipe = popen(command.c_str(), "r");
    if (pipe == nullptr)
        return std::nullopt;
    std::string output;
    char buffer[4096];
    for (size_t n; (n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;)
        output.append(buffer, n);
    const int status = pclose(pipe);

    auto v = parse_wrk_summary(output);
    if (status != 0 || !v.count("duration_us")) {
        fmt::print(stderr, "wrk failed (status {}): {}\n{}\n", status, command, output);
        return std::nullopt;
    }
    RunFigures f;
    f.seconds = v["duration_us"] / 1e6;
    f.requests = int64_t(v["ok"]);
    f.tokens = int64_t(v["tokens"]);
    f.short_replies = int64_t(v["short"]);
    f.errors = int64_t(v["bad"] + v["socket_errors"]);
    f.latency_ms = v["latency_us"] / 1e3;
    f.server_ms = f.requests > 0 ? v["server_ms"] / double(f.requests) : 0;
    return f;
}

void print_run(std::string_view who, const RunFigures& f) {
    fmt::print(
        "  {:<4} {:7.2f} req/s {:8.1f} tok/s  latency {:6.2f} ms (server {:6.2f}, outside "
        "{:5.2f})  {} replies, {} short, {} errors\n",
        who, f.requests_per_s(), f.tokens_per_s(), f.latency_ms, f.server_ms, f.outside_ms(),
        f.requests, f.short_replies, f.errors);
}

struct Pair {
    RunFigures ours, wrk;
};

void print_summary(const Args& args, const std::vector<Pair>& pairs) {
    std::vector<double> req_ratio, tok_ratio, latency_delta, outside_delta, ours_outside,
        wrk_outside;
    int64_t short_replies = 0, errors = 0;
    for (const Pair& p : pairs) {
        req_ratio.push_back(p.ours.requests_per_s() / p.wrk.requests_per_s());
        tok_ratio.push_back(p.ours.tokens_per_s() / p.wrk.tokens_per_s());
        latency_delta.push_back(p.ours.latency_ms - p.wrk.latency_ms);
        outside_delta.push_back(p.ours.outside_ms() - p.wrk.outside_ms());
        ours_outside.push_back(p.ours.outside_ms());
        wrk_outside.push_back(p.wrk.outside_ms());
        short_replies += p.ours.short_replies + p.wrk.short_replies;
        errors += p.ours.errors + p.wrk.errors;
    }
    const auto [lo, hi] = std::minmax_element(req_ratio.begin(), req_ratio.end());
    fmt::print("\nmedians over {} alternating pairs, concurrency {}, {} tokens per reply:\n",
               pairs.size(), args.concurrency, args.max_tokens);
    fmt::print(
        "  throughput ours / wrk, completed requests per second: {:.3f} (pairs {:.3f}-{:.3f})\n",
        median(req_ratio), *lo, *hi);
    fmt::print("  throughput ours / wrk, generated tokens per second:   {:.3f}\n",
               median(tok_ratio));
    fmt::print("  overhead per call, our mean latency - wrk's:          {:+.2f} ms\n",
               median(latency_delta));
    fmt::print(
        "  overhead per call, outside the server's compute:      {:+.2f} ms "
        "(ours {:.2f} ms, wrk {:.2f} ms)\n",
        median(outside_delta), median(ours_outside), median(wrk_outside));
    fmt::print("  replies short of {} tokens: {}; errors: {}\n", args.max_tokens, short_replies,
               errors);
}

// The request body for wrk, in a temporary file; empty when it cannot be written.
std::string write_body_file(const std::string& body) {
    char path[] = "/tmp/hyperalign-bench-body-XXXXXX";
    const int fd = mkstemp(path);
    if (fd < 0)
        return {};
    const bool written = write(fd, body.data(), body.size()) == ssize_t(body.size());
    close(fd);
    return written ? path : std::string();
}

int run(const Args& args) {
    hyperalign::llm::OpenAiOptions options;
    options.base_url = args.base_url;
    options.max_concurrency = args.concurrency;
    // wrk does not retry; a retried call here would hide a failure that wrk counts.
    options.max_retries = 0;
    auto backend = OpenAiBackend::open(options);
    if (!backend.ok()) {
        fmt::print(stderr, "cannot open the backend: {}\n", backend.error().describe());
        return 1;
    }

    ChatRequest request;
    request.messages = {{"user", read_text(args.prompt_file)}};
    request.sampling.max_tokens = args.max_tokens;
    request.purpose = "generation";
    if (request.messages.front().content.empty()) {
        fmt::print(stderr, "the prompt file {} is empty or unreadable\n", args.prompt_file);
        return 1;
    }
    const std::string body = wire_body((*backend)->info().model, request);
    if (args.print_body) {
        fmt::print("{}\n", body);
        return 0;
    }
    const std::string body_path = write_body_file(body);
    if (body_path.empty()) {
        fmt::print(stderr, "cannot write the request body to /tmp\n");
        return 1;
    }
    const std::string url = args.base_url + "/chat/completions";

    fmt::print("OpenAiBackend vs wrk on {}: {} concurrent requests, {} s runs, {} pairs\n", url,
               args.concurrency, args.seconds, args.pairs);
    print_load("before");
    std::fflush(stdout);
    const auto pause = std::chrono::duration<double>(args.pause_seconds);

    // Warm-up (not counted): connections, the server's prompt cache in every slot, page cache.
    run_ours(**backend, request, args, std::chrono::seconds(args.warmup_seconds));
    std::this_thread::sleep_for(pause);
    if (!run_wrk(args, url, body_path, std::chrono::seconds(args.warmup_seconds))) {
        std::remove(body_path.c_str());
        return 1;
    }

    // Alternate which goes first, so a drift in the machine's load favours neither.
    std::vector<Pair> pairs;
    for (int i = 0; i < args.pairs; ++i) {
        Pair p;
        for (int half = 0; half < 2; ++half) {
            std::this_thread::sleep_for(pause);
            if ((i + half) % 2 == 0) {
                p.ours = run_ours(**backend, request, args, std::chrono::seconds(args.seconds));
                continue;
            }
            auto wrk = run_wrk(args, url, body_path, std::chrono::seconds(args.seconds));
            if (!wrk) {
                std::remove(body_path.c_str());
                return 1;
            }
            p.wrk = *wrk;
        }
        fmt::print("pair {} ({} first):\n", i + 1, i % 2 == 0 ? "ours" : "wrk");
        print_run("ours", p.ours);
        print_run("wrk", p.wrk);
        std::fflush(stdout);
        pairs.push_back(p);
    }
    std::remove(body_path.c_str());

    print_summary(args, pairs);
    print_load("after");
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    Args args;
    CLI::App app{"OpenAI-compatible backend vs wrk on one llama-server (prints figures)"};
    app.add_option("--base-url", args.base_url, "API root, e.g. http://127.0.0.1:8080/v1")
        ->required();
    app.add_option("--concurrency", args.concurrency,
                   "requests in flight (threads, wrk connections); the server's slots")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    app.add_option("--pairs", args.pairs, "alternating runs of each client")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    app.add_option("--seconds", args.seconds, "length of one run")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    app.add_option("--warmup-seconds", args.warmup_seconds, "uncounted first run of each")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    app.add_option("--pause", args.pause_seconds, "seconds between runs")
        ->capture_default_str()
        ->check(CLI::NonNegativeNumber);
    app.add_option("--max-tokens", args.max_tokens, "completion tokens per reply")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    app.add_option("--prompt", args.prompt_file, "prompt file (one user message)")
        ->capture_default_str();
    app.add_option("--wrk", args.wrk, "wrk binary")->capture_default_str();
    app.add_option("--wrk-script", args.wrk_script, "wrk Lua script")->capture_default_str();
    app.add_flag("--print-body", args.print_body,
                 "print the request body both clients send, and exit");
    CLI11_PARSE(app, argc, argv);

    hyperalign::log::set_level(hyperalign::log::Level::warn);
    return run(args);
}
