#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "hyperalign/core/profile.hpp"
#include "hyperalign/core/result.hpp"

namespace hyperalign::store {

// One line of ProfileStore::list().
struct PersonSummary {
    std::string name;
    int latest_version = 0;  // 0 when the person has no profile yet (only runs)
    int hypotheses = 0;      // in the latest profile
    int demonstrations = 0;  // stored for the person, across every version
    std::string updated_at;  // UTC, ISO 8601: the latest profile's, else when the person was added
};

// Rows removed by ProfileStore::delete_person, per table.
struct RemovedRows {
    int64_t people = 0;
    int64_t demonstrations = 0;
    int64_t profiles = 0;
    int64_t runs = 0;

    int64_t total() const { return people + demonstrations + profiles + runs; }
};

// The profiles of the people a user works with, every version kept, in one SQLite file that the
// user can read (list, show, export) and from which a person can be deleted completely.
//
// Tables: meta(name, value) holding "kind" and "schema_version"; people(name, created_at);
// demonstrations(person, id, prompt, prompt_derived, text, sha256, added_at);
// profiles(person, version, created_at, json) with the profile document as to_json() writes it;
// runs(id, person, command, started_at, finished_at, status, summary_json). Every row but meta's
// names its person, so that deleting a person deletes everything about them.
//
// The file is created readable by its owner only, in WAL mode with a busy timeout, so several
// processes on one machine may use it at once; it is not meant for network file systems.
//
// Every function returns failures as values with Error::file naming the store file; nothing
// throws. invalid_input: the file is not a usable store (not SQLite, damaged, another kind of
// SQLite file, a schema version this build does not read) or an argument is wrong; not_found:
// no such person, version or run; internal: any other SQLite failure. Person names are personal
// data: logged at trace level only. A not_found message quotes the name the caller passed, so
// that a person can act on it; a caller that logs errors must treat it as personal data.
//
// Thread-safe: calls on one object are serialised by a mutex. Move-only; a moved-from store
// must not be used.
class ProfileStore {
  public:
    // $XDG_DATA_HOME/hyperalign/store.sqlite when XDG_DATA_HOME is an absolute path, else
    // ~/.local/share/hyperalign/store.sqlite; invalid_input when neither can be determined.
    static Result<std::filesystem::path> default_path();

    // Opens the store at `path`, creating missing parent directories, the file (mode 0600) and
    // its schema.
    static Result<ProfileStore> open(const std::filesystem::path& path);

    ProfileStore(ProfileStore&&) noexcept;
    ProfileStore& operator=(ProfileStore&&) noexcept;
    ~ProfileStore();

    // Stores `profile` as the next version of its person's profile (1 for a new person, else
    // the highest stored version + 1) and returns that number. The stored document is `profile`
    // with its `version` field set to the number returned; its demonstrations are added to the
    // person's, replacing stored ones with the same id. invalid_input when `profile.person` is
    // empty or not UTF-8.
    Result<int> put_profile(const Profile& profile);

    // The person's newest profile, or version `n` of it; not_found when there is none.
    Result<Profile> latest(const std::string& person);
    Result<Profile> version(const std::string& person, int n);

    // Everyone in the store, by name.
    Result<std::vector<PersonSummary>> list();

    // Everything the store holds about `person` as one JSON document (format
    // "hyperalign.person-export", version 1): the person, every profile version (the documents
    // themselves), every demonstration and every run. not_found for an unknown person.
    Result<std::string> export_person(const std::string& person);

    // Deletes every row about `person` from every table, in one transaction, and returns how
    // many went from each. Deleted content is zeroed (secure_delete) and the write-ahead log
    // checkpointed, so the person's texts do not linger in the files; while another process is
    // reading, the checkpoint completes later (SQLite's automatic one). not_found when the
    // store holds nothing about `person`.
    Result<RemovedRows> delete_person(const std::string& person);

    // Records that `command` started for `person` (adding the person when new) with status
    // "running"; returns the run's id. invalid_input for an empty person.
    Result<int64_t> record_run(const std::string& person, std::string_view command);

    // Records how run `run_id` ended: `status` (such as "ok", "failed", "cancelled") and a JSON
    // summary. invalid_input when `summary_json` is not JSON; not_found for an unknown run.
    Status finish_run(int64_t run_id, std::string_view status, std::string_view summary_json);

    const std::filesystem::path& path() const;

  private:
    struct Impl;
    explicit ProfileStore(std::unique_ptr<Impl> impl);

    std::unique_ptr<Impl> impl_;
};

}  // namespace hyperalign::store
