#include "run_support.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "hyperalign/core/hash.hpp"
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

Json model_settings(const llm::ModelInfo& info) {
    Json j = model_identity(info);
    if (!info.model_sha256.empty())
        j.erase("model");  // a local file: its hash names it, wherever it lies
    return j;
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
// `was` and `now` point into the old and new settings and follow the narrowing (`was` is
// nullptr where the old settings lack the key).
bool first_difference(const Json*& was, const Json*& now, std::string& where) {
    if (was && *was == *now)
        return false;
    if (was && was->is_object() && now->is_object()) {
        for (const auto& [key, value] : now->items()) {
            const Json* inner_was = was->contains(key) ? &(*was)[key] : nullptr;
            const Json* inner_now = &value;
            std::string path = where + "." + key;
            if (first_difference(inner_was, inner_now, path)) {
                was = inner_was;
                now = inner_now;
                where = path;
                return true;
            }
        }
    }
    return true;
}

Error folder_error(const fs::path& path, std::string field, std::string message) {
    Error e = make_error(ErrorCode::invalid_input, std::move(message));
    e.file = path.string();
    e.field = std::move(field);
    return e;
}

Result<Json> read_run_description(const fs::path& path) {
    HA_ASSIGN_OR_RETURN(std::string text, read_whole(path));
    Json old = Json::parse(text, nullptr, false);
    if (old.is_discarded() || !old.is_object())
        return folder_error(path, "", "not a run description; delete it or use another --out");
    return old;
}

// Fails when the run description `old` (at `path`) names another experiment; one that names
// none predates the key and passes.
Status same_experiment(const fs::path& path, const Json& old, std::string_view experiment) {
    if (!old.contains("experiment") || old["experiment"] == experiment)
        return {};
    const std::string was = old["experiment"].is_string() ? old["experiment"].get<std::string>()
                                                          : short_text(old["experiment"]);
    return folder_error(path, "experiment",
                        fmt::format("this folder holds a run of the {} experiment, not of the {} "
                                    "one; use another --out",
                                    was, experiment));
}

}  // namespace

Status check_out_folder(const fs::path& out, std::string_view experiment) {
    if (out.empty())
        return {};
    std::error_code ec;
    if (fs::exists(out, ec) && !fs::is_directory(out, ec))
        return folder_error(out, "", "the output folder is a file; name another --out");
    if (!fs::exists(out, ec)) {
        // It will be made: its nearest existing ancestor must be a folder we may write in.
        fs::path up = fs::absolute(out, ec).parent_path();
        while (!up.empty() && !fs::exists(up, ec) && up != up.parent_path())
            up = up.parent_path();
        if (!fs::is_directory(up, ec) || ::access(up.c_str(), W_OK) != 0) {
            return folder_error(out, "",
                                fmt::format("cannot make the output folder ({} is not a "
                                            "writable folder); name another --out",
                                            up.string()));
        }
        return {};
    }
    const fs::path path = out / "run.json";
    if (!fs::exists(path, ec))
        return {};
    HA_ASSIGN_OR_RETURN(Json old, read_run_description(path));
    return same_experiment(path, old, experiment);
}

Status check_settings(const fs::path& out, const Json& settings) {
    const fs::path path = out / "run.json";
    if (!fs::exists(path))
        return write_atomically(path, settings.dump(2) + "\n");
    HA_ASSIGN_OR_RETURN(Json old, read_run_description(path));
    if (settings.contains("experiment") && settings["experiment"].is_string())
        HA_TRY(same_experiment(path, old, settings["experiment"].get<std::string>()));
    for (const auto& [key, value] : settings.items()) {
        if (key == "experiment")
            continue;
        const Json* was = old.contains(key) ? &old[key] : nullptr;
        const Json* now = &value;
        std::string where = key;
        if (!first_difference(was, now, where))
            continue;
        return folder_error(path, key,
                            fmt::format("this folder holds a run with other settings ('{}' was "
                                        "{}, now {}); use another --out to keep both",
                                        where, was_text(was), short_text(*now)));
    }
    return {};
}

Result<std::string> content_fingerprint(const std::set<std::string>& files) {
    std::vector<std::string> hashes;
    for (const auto& f : files) {
        HA_ASSIGN_OR_RETURN(std::string h, sha256_file(f));
        hashes.push_back(std::move(h));
    }
    std::sort(hashes.begin(), hashes.end());
    std::string joined;
    for (const auto& h : hashes)
        joined += h + "\n";
    return sha256_hex(joined);
}

Status check_inputs(const fs::path& out, const std::map<std::string, std::string>& inputs) {
    const fs::path path = out / "run.json";
    HA_ASSIGN_OR_RETURN(Json run, read_run_description(path));
    Json& known = run["inputs"];
    if (!known.is_object())
        known = Json::object();
    bool added = false;
    for (const auto& [name, fingerprint] : inputs) {
        if (!known.contains(name)) {
            known[name] = fingerprint;
            added = true;
        } else if (known[name] != fingerprint) {
            return folder_error(path, "inputs." + name,
                                fmt::format("this folder holds results for '{}' made from other "
                                            "data (its files changed, or another file has the "
                                            "same name); use another --out",
                                            name));
        }
    }
    return added ? write_atomically(path, run.dump(2) + "\n") : Status{};
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

namespace {

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

// The record of an invocation's spend.
std::string spend_key(size_t invocation) {
    return fmt::format("spend/{}", invocation);
}

Json spend_row(const std::string& stage, const llm::CallStats& s, double wall_ms) {
    return Json{{"stage", stage},
                {"calls", s.calls},
                {"cache_hits", s.cache_hits},
                {"failures", s.failures},
                {"tokens_prompt", s.tokens_prompt},
                {"tokens_completion", s.tokens_completion},
                {"wall_ms", wall_ms}};
}

Json spend_rows(const std::vector<StageSpend>& spend) {
    Json rows = Json::array();
    for (const auto& s : spend)
        rows.push_back(spend_row(s.stage, s.stats, s.wall_ms));
    return rows;
}

Table spend_table(std::string title, const Json& rows) {
    Table t{std::move(title),
            {"stage", "calls", "cache hits", "failed", "tokens in", "tokens out", "seconds"},
            {}};
    for (const auto& r : rows) {
        t.rows.push_back({r["stage"].get<std::string>(), r["calls"].dump(), r["cache_hits"].dump(),
                          r["failures"].dump(), r["tokens_prompt"].dump(),
                          r["tokens_completion"].dump(),
                          fmt::format("{:.1f}", r["wall_ms"].get<double>() / 1000)});
    }
    return t;
}

}  // namespace

size_t next_invocation(const RunRecords& records) {
    size_t n = 0;
    while (records.find(spend_key(n)))
        ++n;
    return n;
}

Status SpendLog::stage(const std::string& name, const std::function<Status()>& body) {
    const llm::CallStats before = spent(a_, b_);
    const auto start = std::chrono::steady_clock::now();
    Status st = body();
    const auto end = std::chrono::steady_clock::now();
    stages_.push_back({name, minus(spent(a_, b_), before),
                       std::chrono::duration<double, std::milli>(end - start).count()});
    // Stored at once, so that an invocation stopped by an error or Ctrl-C still counts.
    Status kept = records_.put(spend_key(invocation_), {{"stages", spend_rows(stages_)}});
    return st.ok() ? kept : st;
}

void SpendLog::report(Report& report, Json& results) const {
    // Every invocation's spend, summed per stage in order of first appearance.
    Json totals = Json::array();
    size_t invocations = 0;
    for (size_t i = 0;; ++i) {
        const auto* rec = records_.find(spend_key(i));
        if (!rec)
            break;
        ++invocations;
        if (!rec->contains("stages") || !(*rec)["stages"].is_array())
            continue;
        for (const auto& r : (*rec)["stages"]) {
            if (!r.is_object() || !r.contains("stage") || !r["stage"].is_string())
                continue;
            auto it = std::find_if(totals.begin(), totals.end(),
                                   [&](const Json& t) { return t["stage"] == r["stage"]; });
            if (it == totals.end()) {
                totals.push_back(spend_row(r["stage"].get<std::string>(), {}, 0));
                it = totals.end() - 1;
            }
            for (const char* k :
                 {"calls", "cache_hits", "failures", "tokens_prompt", "tokens_completion"}) {
                if (r.contains(k) && r[k].is_number_integer())
                    (*it)[k] = (*it)[k].get<int64_t>() + r[k].get<int64_t>();
            }
            if (r.contains("wall_ms") && r["wall_ms"].is_number())
                (*it)["wall_ms"] = (*it)["wall_ms"].get<double>() + r["wall_ms"].get<double>();
        }
    }
    Json rows = spend_rows(stages_);
    report.tables.push_back(
        spend_table("Model calls, tokens and time per stage, this invocation", rows));
    if (invocations > 1) {
        report.tables.push_back(spend_table(
            fmt::format("Model calls, tokens and time per stage, all {} invocations in this "
                        "folder",
                        invocations),
            totals));
    }
    results["spend"] = std::move(rows);
    results["invocations"] = invocations;
    results["spend_all_invocations"] = std::move(totals);
}

}  // namespace hyperalign::eval::detail
