#pragma once

// What the evaluation runs share: their output folder, settings check, worker loop and spend.

#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "hyperalign/core/result.hpp"
#include "hyperalign/eval/authorship.hpp"
#include "hyperalign/eval/report.hpp"
#include "hyperalign/eval/run_records.hpp"
#include "hyperalign/llm/client.hpp"

namespace hyperalign::eval::detail {

// Writes through a temporary file and a rename, so a crash never leaves half a file.
Status write_atomically(const std::filesystem::path& path, const std::string& content);
Result<std::string> read_whole(const std::filesystem::path& path);

nlohmann::ordered_json model_identity(const llm::ModelInfo& info);
// The identity as a run setting: a local model is named by its file's hash alone, so the same
// file under another path (or a copy) resumes the run.
nlohmann::ordered_json model_settings(const llm::ModelInfo& info);

// Id, version and hash of each prompt template: a run's records are only reused under the
// prompts that made them.
nlohmann::ordered_json prompt_versions(const std::vector<std::string>& ids);

// Fails before any work when `out` is a file, cannot be made, or holds a run of another
// experiment than `experiment` ("authorship", "safety").
Status check_out_folder(const std::filesystem::path& out, std::string_view experiment);

// Records the settings a run's records depend on in <out>/run.json, or checks them against
// those recorded: a difference fails with invalid_input naming the setting (field), so that
// records made under other settings are never reused. A settings["experiment"] other than the
// recorded one is reported as another experiment.
Status check_settings(const std::filesystem::path& out, const nlohmann::ordered_json& settings);

// One hash of the contents of `files` (their paths and order aside): what a run's input was.
Result<std::string> content_fingerprint(const std::set<std::string>& files);

// Records each input's fingerprint (name -> content_fingerprint) under "inputs" in
// <out>/run.json, which check_settings wrote, or checks it against the one recorded: the same
// name with other contents fails with invalid_input (field "inputs.<name>"), so that records
// are never reused across changed data. New names are added: one folder may hold several
// datasets.
Status check_inputs(const std::filesystem::path& out,
                    const std::map<std::string, std::string>& inputs);

// Runs fn(i) for i in [0, n) on `workers` threads; the first error stops the rest.
Status for_each(size_t n, int workers, const std::function<Status(size_t)>& fn);

// Whether `record` holds a value of the type `is` accepts at `key` (records are read back in
// the shape this code writes them; a hand-edited or damaged one counts as absent and is
// redone).
inline bool field_is(const nlohmann::json& record, const char* key,
                     bool (nlohmann::json::*is)() const noexcept) {
    if (!record.is_object())
        return false;
    auto it = record.find(key);
    return it != record.end() && ((*it).*is)();
}

// The first free invocation number of a folder's records ("spend/<n>").
size_t next_invocation(const RunRecords& records);

// What an invocation spends, stage by stage, kept in the folder's records as each stage ends
// (under "spend/<invocation>"), so that a run stopped by an error or Ctrl-C still counts.
class SpendLog {
  public:
    SpendLog(const llm::Client& a, const llm::Client& b, RunRecords& records)
        : a_(a), b_(b), records_(records), invocation_(next_invocation(records)) {}

    // Runs `body` as the stage `name` and records what both clients spent in it; `body`'s
    // error comes first.
    Status stage(const std::string& name, const std::function<Status()>& body);

    // This invocation's spend as a report table and results["spend"]; the sum over every
    // invocation of the folder as results["spend_all_invocations"] (a table when there were
    // others), and their number as results["invocations"].
    void report(Report& report, nlohmann::ordered_json& results) const;

    const std::vector<StageSpend>& stages() const { return stages_; }

  private:
    const llm::Client& a_;
    const llm::Client& b_;
    RunRecords& records_;
    size_t invocation_;
    std::vector<StageSpend> stages_;
};

}  // namespace hyperalign::eval::detail
