#include "hyperalign/store/profile_store.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cstdlib>
#include <exception>
#include <mutex>
#include <system_error>
#include <utility>

#include <SQLiteCpp/SQLiteCpp.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "hyperalign/core/log.hpp"
#include "hyperalign/core/text.hpp"

namespace hyperalign::store {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;

constexpr std::string_view kKind = "hyperalign.profile-store";
constexpr std::string_view kSchemaVersion = "1";
constexpr std::string_view kExportFormat = "hyperalign.person-export";
constexpr int kExportVersion = 1;
// Long enough to ride out another process's write or checkpoint, short enough that a wedged
// process surfaces as an error rather than a hang.
constexpr int kBusyTimeoutMs = 10000;
constexpr const char* kNow = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";

Error store_error(ErrorCode code, const fs::path& path, std::string message) {
    Error e = make_error(code, std::move(message));
    e.file = path.string();
    return e;
}

// A file that is not SQLite, is damaged or cannot be opened is the user's to fix (another path,
// a backup); anything else SQLite reports is unexpected.
Error sqlite_error(const fs::path& path, const SQLite::Exception& ex, std::string_view doing) {
    const int code = ex.getErrorCode() & 0xff;
    Error e;
    if (code == SQLITE_NOTADB || code == SQLITE_CORRUPT) {
        e = store_error(ErrorCode::invalid_input, path,
                        fmt::format("not a usable profile store ({}); restore it from a backup "
                                    "or choose another store path",
                                    ex.what()));
    } else if (code == SQLITE_CANTOPEN) {
        e = store_error(ErrorCode::invalid_input, path,
                        fmt::format("cannot open the profile store: {}", ex.what()));
    } else {
        e = store_error(ErrorCode::internal, path,
                        fmt::format("profile store failed while {}: {}", doing, ex.what()));
    }
    e.upstream_status = ex.getErrorCode();
    return e;
}

// Runs `body` (which may throw) and turns exceptions into errors, so nothing thrown by SQLiteCpp
// or the JSON library crosses the public API.
template <typename Body>
auto guarded(const fs::path& path, std::string_view doing, Body&& body) -> decltype(body()) {
    try {
        return body();
    } catch (const SQLite::Exception& ex) {
        return sqlite_error(path, ex, doing);
    } catch (const std::exception& ex) {
        return store_error(ErrorCode::internal, path,
                           fmt::format("profile store failed while {}: {}", doing, ex.what()));
    }
}

std::string single_text(SQLite::Database& db, const std::string& sql) {
    SQLite::Statement q(db, sql);
    return q.executeStep() ? q.getColumn(0).getString() : std::string();
}

Status check_person(const fs::path& path, const std::string& person) {
    if (person.empty()) {
        return store_error(ErrorCode::invalid_input, path,
                           "a profile in the store needs a person: set one (e.g. --person NAME)");
    }
    if (!text::is_valid_utf8(person))
        return store_error(ErrorCode::invalid_input, path, "the person's name is not UTF-8");
    return {};
}

Error no_person(const fs::path& path, const std::string& person) {
    return store_error(ErrorCode::not_found, path,
                       fmt::format("no such person in the profile store: '{}'", person));
}

// The store's own meta rows say what the file is; a SQLite file of another kind (such as the
// response cache, which also has a meta table) is refused before anything is written to it.
Status check_kind(SQLite::Database& db, const fs::path& path) {
    const bool has_tables =
        !single_text(db, "SELECT name FROM sqlite_master WHERE type = 'table' LIMIT 1").empty();
    if (!has_tables)
        return {};
    if (!db.tableExists("meta") ||
        single_text(db, "SELECT value FROM meta WHERE name = 'kind'") != kKind) {
        return store_error(ErrorCode::invalid_input, path,
                           "a SQLite file but not a hyperalign profile store; choose another "
                           "store path");
    }
    return {};
}

Status create_schema(SQLite::Database& db, const fs::path& path) {
    // WAL lets readers proceed while one process writes; it must be set outside a transaction.
    // This is also the first statement to read the file, so garbage fails here.
    if (single_text(db, "PRAGMA journal_mode=WAL") != "wal") {
        return store_error(ErrorCode::internal, path,
                           "the profile store could not switch to write-ahead logging");
    }
    // Zeroes deleted content, so delete_person leaves no text in free pages or cells.
    db.exec("PRAGMA secure_delete=ON");
    db.exec("PRAGMA synchronous=NORMAL");

    // IMMEDIATE takes the write lock up front: two processes creating the schema at once then
    // queue on the busy timeout instead of failing on a lock upgrade.
    SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
    HA_TRY(check_kind(db, path));
    db.exec(
        "CREATE TABLE IF NOT EXISTS meta(name TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "CREATE TABLE IF NOT EXISTS people(name TEXT PRIMARY KEY, created_at TEXT NOT NULL);"
        "CREATE TABLE IF NOT EXISTS demonstrations(person TEXT NOT NULL, id TEXT NOT NULL, "
        "prompt TEXT NOT NULL, prompt_derived INTEGER NOT NULL, text TEXT NOT NULL, "
        "sha256 TEXT NOT NULL, added_at TEXT NOT NULL, PRIMARY KEY(person, id));"
        "CREATE TABLE IF NOT EXISTS profiles(person TEXT NOT NULL, version INTEGER NOT NULL, "
        "created_at TEXT NOT NULL, json TEXT NOT NULL, PRIMARY KEY(person, version));"
        "CREATE TABLE IF NOT EXISTS runs(id INTEGER PRIMARY KEY, person TEXT NOT NULL, "
        "command TEXT NOT NULL, started_at TEXT NOT NULL, finished_at TEXT, "
        "status TEXT NOT NULL, summary_json TEXT);"
        "CREATE INDEX IF NOT EXISTS runs_person ON runs(person);");
    SQLite::Statement meta(db, "INSERT OR IGNORE INTO meta(name, value) VALUES(?, ?)");
    using Row = std::pair<const char*, std::string_view>;
    for (const auto& [name, value] : {Row{"kind", kKind}, Row{"schema_version", kSchemaVersion}}) {
        meta.bind(1, name);
        meta.bind(2, std::string(value));
        meta.exec();
        meta.reset();
    }

    const std::string version =
        single_text(db, "SELECT value FROM meta WHERE name = 'schema_version'");
    if (version != kSchemaVersion) {
        return store_error(ErrorCode::invalid_input, path,
                           fmt::format("profile store schema version {} is not the {} this "
                                       "build reads",
                                       version, kSchemaVersion));
    }
    tx.commit();
    return {};
}

// Creates the file readable by its owner only before SQLite opens it (SQLite gives its WAL and
// shared-memory files the same mode): the store holds people's texts. An empty file is a valid
// empty database. Failures are left for SQLite to report.
void create_private_file(const fs::path& path) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0)
        ::close(fd);
}

// Until a checkpoint, the pages holding deleted rows still sit in the WAL file. Another process
// reading at this moment keeps the checkpoint from finishing; SQLite's next automatic
// checkpoint completes it. The deletion has committed, so a failure here is not one of
// delete_person.
void checkpoint_after_delete(SQLite::Database& db) {
    try {
        SQLite::Statement q(db, "PRAGMA wal_checkpoint(TRUNCATE)");
        if (q.executeStep() && q.getColumn(0).getInt() != 0)
            log::debug("profile store: the checkpoint after a deletion was blocked by a reader");
    } catch (const SQLite::Exception& ex) {
        log::debug("profile store: the checkpoint after a deletion failed: {}", ex.what());
    }
}

// A stored JSON text as a JSON value; text that does not parse (which the store never writes)
// is exported as a string rather than dropped, so an export is always complete.
Json stored_json(const std::string& text) {
    Json value = Json::parse(text, nullptr, false);
    return value.is_discarded() ? Json(text) : value;
}

Json nullable_text(const SQLite::Column& column) {
    return column.isNull() ? Json(nullptr) : Json(column.getString());
}

}  // namespace

struct ProfileStore::Impl {
    Impl(fs::path p, SQLite::Database d) : path(std::move(p)), db(std::move(d)) {}

    // The profile stored in the row `q` points at (columns: version, json).
    Result<Profile> read_profile(SQLite::Statement& q, const std::string& person) {
        const int n = q.getColumn(0).getInt();
        auto profile = profile_from_json(q.getColumn(1).getString(), path.string());
        if (!profile.ok()) {
            Error e = profile.take_error();
            e.message = fmt::format("stored profile version {}: {}", n, e.message);
            return e;
        }
        profile->person = person;
        profile->version = n;
        return profile;
    }

    bool has_person(const std::string& person) {
        SQLite::Statement q(db, "SELECT 1 FROM people WHERE name = ?");
        q.bind(1, person);
        return q.executeStep();
    }

    void add_person(const std::string& person) {
        SQLite::Statement q(
            db, fmt::format("INSERT OR IGNORE INTO people(name, created_at) VALUES(?, {})", kNow));
        q.bind(1, person);
        q.exec();
    }

    int64_t delete_rows(const char* table, const char* column, const std::string& person) {
        SQLite::Statement q(db, fmt::format("DELETE FROM {} WHERE {} = ?", table, column));
        q.bind(1, person);
        return q.exec();
    }

    Json export_profiles(const std::string& person);
    Json export_demonstrations(const std::string& person);
    Json export_runs(const std::string& person);

    fs::path path;
    SQLite::Database db;
    std::mutex mutex;
};

Json ProfileStore::Impl::export_profiles(const std::string& person) {
    SQLite::Statement q(db,
                        "SELECT version, created_at, json FROM profiles WHERE person = ? "
                        "ORDER BY version");
    q.bind(1, person);
    Json out = Json::array();
    while (q.executeStep()) {
        out.push_back(Json{{"version", q.getColumn(0).getInt()},
                           {"created_at", q.getColumn(1).getString()},
                           {"profile", stored_json(q.getColumn(2).getString())}});
    }
    return out;
}

Json ProfileStore::Impl::export_demonstrations(const std::string& person) {
    SQLite::Statement q(db,
                        "SELECT id, prompt, prompt_derived, text, sha256, added_at "
                        "FROM demonstrations WHERE person = ? ORDER BY added_at, id");
    q.bind(1, person);
    Json out = Json::array();
    while (q.executeStep()) {
        out.push_back(Json{{"id", q.getColumn(0).getString()},
                           {"prompt", q.getColumn(1).getString()},
                           {"prompt_derived", q.getColumn(2).getInt() != 0},
                           {"text", q.getColumn(3).getString()},
                           {"sha256", q.getColumn(4).getString()},
                           {"added_at", q.getColumn(5).getString()}});
    }
    return out;
}

Json ProfileStore::Impl::export_runs(const std::string& person) {
    SQLite::Statement q(db,
                        "SELECT id, command, started_at, finished_at, status, summary_json "
                        "FROM runs WHERE person = ? ORDER BY id");
    q.bind(1, person);
    Json out = Json::array();
    while (q.executeStep()) {
        const SQLite::Column summary = q.getColumn(5);
        out.push_back(
            Json{{"id", q.getColumn(0).getInt64()},
                 {"command", q.getColumn(1).getString()},
                 {"started_at", q.getColumn(2).getString()},
                 {"finished_at", nullable_text(q.getColumn(3))},
                 {"status", q.getColumn(4).getString()},
                 {"summary", summary.isNull() ? Json(nullptr) : stored_json(summary.getString())}});
    }
    return out;
}

ProfileStore::ProfileStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ProfileStore::ProfileStore(ProfileStore&&) noexcept = default;
ProfileStore& ProfileStore::operator=(ProfileStore&&) noexcept = default;
ProfileStore::~ProfileStore() = default;

const fs::path& ProfileStore::path() const {
    return impl_->path;
}

Result<fs::path> ProfileStore::default_path() {
    // The XDG base directory spec ignores relative values.
    if (const char* d = std::getenv("XDG_DATA_HOME"); d && *d && fs::path(d).is_absolute())
        return fs::path(d) / "hyperalign" / "store.sqlite";
    if (const char* h = std::getenv("HOME"); h && *h)
        return fs::path(h) / ".local" / "share" / "hyperalign" / "store.sqlite";
    return make_error(ErrorCode::invalid_input,
                      "neither $XDG_DATA_HOME nor $HOME is set; name the profile store with "
                      "--store PATH");
}

Result<ProfileStore> ProfileStore::open(const fs::path& path) {
    if (path.has_parent_path()) {
        std::error_code ec;
        // A folder made here is private, as the XDG spec asks of data folders.
        if (fs::create_directories(path.parent_path(), ec))
            fs::permissions(path.parent_path(), fs::perms::owner_all, ec);
        if (ec) {
            return store_error(ErrorCode::invalid_input, path,
                               "cannot create the profile store's folder: " + ec.message());
        }
    }
    create_private_file(path);
    return guarded(path, "opening", [&]() -> Result<ProfileStore> {
        SQLite::Database db(path.string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE,
                            kBusyTimeoutMs);
        HA_TRY(create_schema(db, path));
        log::debug("profile store: {}", path.string());
        return ProfileStore(std::make_unique<Impl>(path, std::move(db)));
    });
}

Result<int> ProfileStore::put_profile(const Profile& profile) {
    HA_TRY(check_person(impl_->path, profile.person));
    std::lock_guard lock(impl_->mutex);
    return guarded(impl_->path, "storing a profile", [&]() -> Result<int> {
        SQLite::Database& db = impl_->db;
        SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
        impl_->add_person(profile.person);

        SQLite::Statement max(db,
                              "SELECT COALESCE(MAX(version), 0) FROM profiles WHERE person = ?");
        max.bind(1, profile.person);
        max.executeStep();
        Profile stored = profile;
        stored.version = max.getColumn(0).getInt() + 1;

        SQLite::Statement put(db,
                              fmt::format("INSERT INTO profiles(person, version, created_at, json) "
                                          "VALUES(?, ?, {}, ?)",
                                          kNow));
        put.bind(1, stored.person);
        put.bind(2, stored.version);
        put.bind(3, to_json(stored));
        put.exec();

        // A demonstration whose text changed counts as added again.
        SQLite::Statement demo(
            db, fmt::format(
                    "INSERT INTO demonstrations(person, id, prompt, prompt_derived, text, sha256, "
                    "added_at) VALUES(?, ?, ?, ?, ?, ?, {0}) "
                    "ON CONFLICT(person, id) DO UPDATE SET prompt = excluded.prompt, "
                    "prompt_derived = excluded.prompt_derived, text = excluded.text, "
                    "added_at = CASE WHEN sha256 = excluded.sha256 THEN added_at ELSE {0} END, "
                    "sha256 = excluded.sha256",
                    kNow));
        for (const ProfileDemonstration& d : stored.demonstrations) {
            demo.bind(1, stored.person);
            demo.bind(2, d.id);
            demo.bind(3, d.prompt);
            demo.bind(4, d.prompt_derived ? 1 : 0);
            demo.bind(5, d.text);
            demo.bind(6, d.sha256);
            demo.exec();
            demo.reset();
        }
        tx.commit();
        log::debug("profile store: stored profile version {} with {} demonstrations",
                   stored.version, stored.demonstrations.size());
        log::trace("profile store: the profile is {}'s", stored.person);
        return stored.version;
    });
}

Result<Profile> ProfileStore::latest(const std::string& person) {
    std::lock_guard lock(impl_->mutex);
    return guarded(impl_->path, "reading a profile", [&]() -> Result<Profile> {
        SQLite::Statement q(impl_->db,
                            "SELECT version, json FROM profiles WHERE person = ? "
                            "ORDER BY version DESC LIMIT 1");
        q.bind(1, person);
        if (q.executeStep())
            return impl_->read_profile(q, person);
        if (impl_->has_person(person)) {
            return store_error(ErrorCode::not_found, impl_->path,
                               fmt::format("'{}' has no profile yet", person));
        }
        return no_person(impl_->path, person);
    });
}

Result<Profile> ProfileStore::version(const std::string& person, int n) {
    std::lock_guard lock(impl_->mutex);
    return guarded(impl_->path, "reading a profile", [&]() -> Result<Profile> {
        SQLite::Statement q(impl_->db,
                            "SELECT version, json FROM profiles WHERE person = ? AND version = ?");
        q.bind(1, person);
        q.bind(2, n);
        if (q.executeStep())
            return impl_->read_profile(q, person);
        if (!impl_->has_person(person))
            return no_person(impl_->path, person);
        SQLite::Statement max(impl_->db, "SELECT MAX(version) FROM profiles WHERE person = ?");
        max.bind(1, person);
        max.executeStep();
        return store_error(ErrorCode::not_found, impl_->path,
                           fmt::format("'{}' has no profile version {} (the latest is {})", person,
                                       n, max.getColumn(0).getInt()));
    });
}

Result<std::vector<PersonSummary>> ProfileStore::list() {
    std::lock_guard lock(impl_->mutex);
    return guarded(impl_->path, "listing", [&]() -> Result<std::vector<PersonSummary>> {
        SQLite::Statement q(
            impl_->db,
            "SELECT p.name, p.created_at, l.version, l.created_at, l.json, "
            "(SELECT COUNT(*) FROM demonstrations d WHERE d.person = p.name) "
            "FROM people p LEFT JOIN profiles l ON l.person = p.name AND l.version = "
            "(SELECT MAX(version) FROM profiles WHERE person = p.name) ORDER BY p.name");
        std::vector<PersonSummary> people;
        while (q.executeStep()) {
            PersonSummary s;
            s.name = q.getColumn(0).getString();
            s.updated_at = q.getColumn(1).getString();
            s.demonstrations = q.getColumn(5).getInt();
            if (!q.getColumn(2).isNull()) {
                s.latest_version = q.getColumn(2).getInt();
                s.updated_at = q.getColumn(3).getString();
                const Json doc = Json::parse(q.getColumn(4).getString(), nullptr, false);
                if (doc.is_object() && doc.contains("hypotheses") && doc["hypotheses"].is_array())
                    s.hypotheses = int(doc["hypotheses"].size());
            }
            people.push_back(std::move(s));
        }
        return people;
    });
}

Result<std::string> ProfileStore::export_person(const std::string& person) {
    std::lock_guard lock(impl_->mutex);
    return guarded(impl_->path, "exporting", [&]() -> Result<std::string> {
        // One read transaction, so the export is a consistent snapshot.
        SQLite::Transaction tx(impl_->db, SQLite::TransactionBehavior::DEFERRED);
        SQLite::Statement q(impl_->db, "SELECT created_at FROM people WHERE name = ?");
        q.bind(1, person);
        if (!q.executeStep())
            return no_person(impl_->path, person);
        Json doc{{"format", kExportFormat},
                 {"format_version", kExportVersion},
                 {"person", person},
                 {"created_at", q.getColumn(0).getString()},
                 {"profiles", impl_->export_profiles(person)},
                 {"demonstrations", impl_->export_demonstrations(person)},
                 {"runs", impl_->export_runs(person)}};
        tx.commit();
        return doc.dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
    });
}

Result<RemovedRows> ProfileStore::delete_person(const std::string& person) {
    std::lock_guard lock(impl_->mutex);
    return guarded(impl_->path, "deleting a person", [&]() -> Result<RemovedRows> {
        SQLite::Transaction tx(impl_->db, SQLite::TransactionBehavior::IMMEDIATE);
        RemovedRows removed;
        removed.demonstrations = impl_->delete_rows("demonstrations", "person", person);
        removed.profiles = impl_->delete_rows("profiles", "person", person);
        removed.runs = impl_->delete_rows("runs", "person", person);
        removed.people = impl_->delete_rows("people", "name", person);
        if (removed.total() == 0)
            return no_person(impl_->path, person);
        tx.commit();

        checkpoint_after_delete(impl_->db);
        log::debug("profile store: deleted a person ({} rows)", removed.total());
        return removed;
    });
}

Result<int64_t> ProfileStore::record_run(const std::string& person, std::string_view command) {
    HA_TRY(check_person(impl_->path, person));
    std::lock_guard lock(impl_->mutex);
    return guarded(impl_->path, "recording a run", [&]() -> Result<int64_t> {
        SQLite::Transaction tx(impl_->db, SQLite::TransactionBehavior::IMMEDIATE);
        impl_->add_person(person);
        SQLite::Statement q(impl_->db,
                            fmt::format("INSERT INTO runs(person, command, started_at, status) "
                                        "VALUES(?, ?, {}, 'running')",
                                        kNow));
        q.bind(1, person);
        q.bind(2, std::string(command));
        q.exec();
        const int64_t id = impl_->db.getLastInsertRowid();
        tx.commit();
        return id;
    });
}

Status ProfileStore::finish_run(int64_t run_id, std::string_view status,
                                std::string_view summary_json) {
    if (!Json::accept(summary_json)) {
        return store_error(ErrorCode::invalid_input, impl_->path, "a run's summary must be JSON");
    }
    std::lock_guard lock(impl_->mutex);
    return guarded(impl_->path, "recording a run", [&]() -> Status {
        SQLite::Statement q(impl_->db, fmt::format("UPDATE runs SET finished_at = {}, status = ?, "
                                                   "summary_json = ? WHERE id = ?",
                                                   kNow));
        q.bind(1, std::string(status));
        q.bind(2, std::string(summary_json));
        q.bind(3, run_id);
        if (q.exec() == 0) {
            return store_error(ErrorCode::not_found, impl_->path,
                               fmt::format("no run {} in the profile store", run_id));
        }
        return {};
    });
}

}  // namespace hyperalign::store
