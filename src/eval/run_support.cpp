#include "run_support.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "hyperalign/prompts/library.hpp"

namespace hyperalign::eval::detail {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;

Status write_atomically(const fs::path& path, const std::string& content) {
    std::error_code ec;
    fs::create_directories(path.parent_path(), ec);
    const fs::path tmp = path.string() + ".tmp";
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        out << content;
        if (!out) {
            Error e = make_error(ErrorCode::invalid_input, "cannot write the file");
            e.file = tmp.string();
            return e;
        }
    }
    fs::rename(tmp, path, ec);
    if (ec) {
        Error e = make_error(ErrorCode::invalid_input, "cannot write the file: " + ec.message());
        e.file = path.string();
        return e;
    }
    return {};
}

Result<std::string> read_whole(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        Error e = make_error(ErrorCode::not_found, "cannot open the file for reading");
        e.file = path.string();
        return e;
    }
    std::ostringstream buffer;
    buffer << in.rdbuf();
    return buffer.str();
}

Json model_identity(const llm::ModelInfo& info) {
    return Json{{"backend", info.backend},
                {"model", info.model},
                {"model_sha256", info.model_sha256},
                {"chat_template", info.chat_template},
                {"context_size", info.context_size}};
}

Json prompt_versions(const std::vector<std::string>& ids) {
    Json out = Json::object();
    for (const auto& id : ids) {
        auto t = prompts::find(id);
        if (t.ok())
            out[id] = {{"version", t.value()->version}, {"sha256", t.value()->sha256}};
    }
    return out;
}

namespace {

std::string short_text(const Json& j) {
    std::string s = j.dump(-1, ' ', false, Json::error_handler_t::replace);
    return s.size() > 80 ? s.substr(0, 77) + "..." : s;
}

std::string was_text(const Json* j) {
    return j ? short_text(*j) : "absent";
}

// Narrows `where` (a key path) down to the first setting that differs; false when none does.
// `was` points into the old settings and is updated to the differing value (nullptr: absent).
bool first_difference(const Json*& was, const Json& now, std::string& where) {
    if (was && *was == now)
        return false;
    if (was && was->is_object() && now.is_object()) {
        for (const auto& [key, value] : now.items()) {
            const Json* inner = was->contains(key) ? &(*was)[key] : nullptr;
            std::string path = where + "." + key;
            if (first_difference(inner, value, path)) {
                was = inner;
                where = path;
                return true;
            }
        }
    }
    return true;
}

}  // namespace

Status check_settings(const fs::path& out, const Json& settings) {
    const fs::path path = out / "run.json";
    if (fs::exists(path)) {
        HA_ASSIGN_OR_RETURN(std::string text, read_whole(path));
        Json old = Json::parse(text, nullptr, false);
        if (old.is_discarded() || !old.is_object()) {
            Error e = make_error(ErrorCode::invalid_input,
                                 "not a run description; delete it or use another --out");
            e.file = path.string();
            return e;
        }
        for (const auto& [key, value] : settings.items()) {
            const Json* was = old.contains(key) ? &old[key] : nullptr;
            std::string where = key;
            if (!first_difference(was, value, where))
                continue;
            Error e = make_error(ErrorCode::invalid_input,
                                 fmt::format("this folder holds a run with other settings ('{}' "
                                             "was {}, now {}); use another --out to keep both",
                                             where, was_text(was), short_text(value)));
            e.file = path.string();
            e.field = key;
            return e;
        }
        return {};
    }
    return write_atomically(path, settings.dump(2) + "\n");
}

// Runs fn(i) for i in [0, n) on `workers` threads; the first error stops the rest.
Status for_each(size_t n, int workers, const std::function<Status(size_t)>& fn) {
    std::atomic<size_t> next{0};
    std::atomic<bool> failed{false};
    std::mutex mutex;
    Status first;
    auto work = [&] {
        while (!failed) {
            size_t i = next++;
            if (i >= n)
                return;
            Status st = fn(i);
            if (!st.ok()) {
                std::lock_guard lock(mutex);
                if (!failed.exchange(true))
                    first = std::move(st);
            }
        }
    };
    const size_t threads =
        std::clamp<size_t>(size_t(std::max(workers, 1)), 1, std::max<size_t>(n, 1));
    if (threads == 1) {
        work();
    } else {
        std::vector<std::thread> pool;
        for (size_t t = 0; t < threads; ++t)
            pool.emplace_back(work);
        for (auto& t : pool)
            t.join();
    }
    return first;
}

// Adds up the spend of both clients (once when they are the same).
llm::CallStats spent(const llm::Client& a, const llm::Client& b) {
    llm::CallStats s = a.accounting().total();
    if (&a != &b)
        s.add(b.accounting().total());
    return s;
}

llm::CallStats minus(llm::CallStats a, const llm::CallStats& b) {
    a.calls -= b.calls;
    a.cache_hits -= b.cache_hits;
    a.failures -= b.failures;
    a.tokens_prompt -= b.tokens_prompt;
    a.tokens_prompt_cached -= b.tokens_prompt_cached;
    a.tokens_completion -= b.tokens_completion;
    a.ms -= b.ms;
    return a;
}

Status run_stage(const std::string& name, const llm::Client& a, const llm::Client& b,
                 std::vector<StageSpend>& spend, const std::function<Status()>& body) {
    const llm::CallStats before = spent(a, b);
    const auto start = std::chrono::steady_clock::now();
    Status st = body();
    const auto end = std::chrono::steady_clock::now();
    spend.push_back({name, minus(spent(a, b), before),
                     std::chrono::duration<double, std::milli>(end - start).count()});
    return st;
}

void add_spend(const std::vector<StageSpend>& spend, Report& report, Json& results) {
    Table cost{"Model calls, tokens and time per stage",
               {"stage", "calls", "cache hits", "failed", "tokens in", "tokens out", "seconds"},
               {}};
    Json rows = Json::array();
    for (const auto& s : spend) {
        cost.rows.push_back(
            {s.stage, std::to_string(s.stats.calls), std::to_string(s.stats.cache_hits),
             std::to_string(s.stats.failures), std::to_string(s.stats.tokens_prompt),
             std::to_string(s.stats.tokens_completion), fmt::format("{:.1f}", s.wall_ms / 1000)});
        rows.push_back({{"stage", s.stage},
                        {"calls", s.stats.calls},
                        {"cache_hits", s.stats.cache_hits},
                        {"failures", s.stats.failures},
                        {"tokens_prompt", s.stats.tokens_prompt},
                        {"tokens_completion", s.stats.tokens_completion},
                        {"wall_ms", s.wall_ms}});
    }
    report.tables.push_back(std::move(cost));
    results["spend"] = std::move(rows);
}

}  // namespace hyperalign::eval::detail
