#include "hyperalign/llm/response_cache.hpp"

#include <sqlite3.h>

#include <exception>
#include <mutex>
#include <string_view>
#include <system_error>

#include <SQLiteCpp/SQLiteCpp.h>
#include <fmt/format.h>

#include "hyperalign/core/hash.hpp"
#include "hyperalign/core/log.hpp"

namespace hyperalign::llm {
namespace {

constexpr std::string_view kKeyVersion = "hyperalign.response-key.v1";
constexpr std::string_view kSchemaVersion = "1";
// Long enough to ride out another process's write (a row or a checkpoint), short enough that a
// wedged process surfaces as an error rather than a hang.
constexpr int kBusyTimeoutMs = 10000;

void append_field(std::string& out, std::string_view value) {
    out += fmt::format("{}:", value.size());
    out += value;
}

template <typename Number>
void append_number(std::string& out, Number value) {
    // fmt prints floats as the shortest text that reads back exactly, the same on every platform.
    append_field(out, fmt::format("{}", value));
}

std::string_view finish_name(FinishReason finish) {
    return finish == FinishReason::length ? "length" : "stop";
}

std::optional<FinishReason> parse_finish(std::string_view name) {
    if (name == "stop")
        return FinishReason::stop;
    if (name == "length")
        return FinishReason::length;
    return std::nullopt;
}

Error cache_error(ErrorCode code, const std::filesystem::path& path, std::string message) {
    Error e = make_error(code, std::move(message));
    e.file = path.string();
    return e;
}

// A file that is not SQLite, or is damaged, is the user's to fix (delete it or pick another
// path); anything else SQLite reports is unexpected.
Error sqlite_error(const std::filesystem::path& path, const SQLite::Exception& ex,
                   std::string_view doing) {
    const int code = ex.getErrorCode();
    Error e;
    if (code == SQLITE_NOTADB || code == SQLITE_CORRUPT) {
        e = cache_error(ErrorCode::invalid_input, path,
                        fmt::format("not a usable response cache ({}); delete the file or "
                                    "choose another cache path",
                                    ex.what()));
    } else if (code == SQLITE_CANTOPEN || code == SQLITE_READONLY || code == SQLITE_PERM ||
               code == SQLITE_FULL) {
        // The path or its file system, not a bug: the user can choose another --cache.
        e = cache_error(ErrorCode::invalid_input, path,
                        fmt::format("cannot use the response cache there ({}); choose another "
                                    "cache path",
                                    ex.what()));
    } else {
        e = cache_error(ErrorCode::internal, path,
                        fmt::format("response cache failed while {}: {}", doing, ex.what()));
    }
    e.upstream_status = code;
    return e;
}

Error unexpected_error(const std::filesystem::path& path, const std::exception& ex,
                       std::string_view doing) {
    return cache_error(ErrorCode::internal, path,
                       fmt::format("response cache failed while {}: {}", doing, ex.what()));
}

// Runs `body` (which may throw SQLite::Exception) and turns exceptions into errors, so nothing
// thrown by the library crosses the public API.
template <typename Body>
auto guarded(const std::filesystem::path& path, std::string_view doing, Body&& body)
    -> decltype(body()) {
    try {
        return body();
    } catch (const SQLite::Exception& ex) {
        return sqlite_error(path, ex, doing);
    } catch (const std::exception& ex) {
        return unexpected_error(path, ex, doing);
    }
}

std::string single_text(SQLite::Database& db, const char* sql) {
    SQLite::Statement q(db, sql);
    return q.executeStep() ? q.getColumn(0).getString() : std::string();
}

Status create_schema(SQLite::Database& db, const std::filesystem::path& path) {
    // WAL lets readers proceed while one process writes; it must be set outside a transaction.
    // This is also the first statement to read the file, so garbage fails here.
    if (single_text(db, "PRAGMA journal_mode=WAL") != "wal") {
        return cache_error(ErrorCode::internal, path,
                           "the response cache could not switch to write-ahead logging");
    }
    // Zeroes deleted content, so delete_person leaves no reply text in free pages.
    db.exec("PRAGMA secure_delete=ON");
    db.exec("PRAGMA synchronous=NORMAL");

    // IMMEDIATE takes the write lock up front: two processes creating the schema at once then
    // queue on the busy timeout instead of failing on a lock upgrade.
    SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
    const bool has_tables =
        !single_text(db, "SELECT name FROM sqlite_master WHERE type = 'table' LIMIT 1").empty();
    if (has_tables && !db.tableExists("meta")) {
        return cache_error(ErrorCode::invalid_input, path,
                           "a SQLite file but not a hyperalign response cache; choose another "
                           "cache path");
    }
    db.exec(
        "CREATE TABLE IF NOT EXISTS meta(name TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "CREATE TABLE IF NOT EXISTS responses(key TEXT PRIMARY KEY, person TEXT, purpose TEXT, "
        "backend TEXT, model TEXT, reply TEXT, finish TEXT, tokens_prompt INTEGER, "
        "tokens_completion INTEGER, created_at TEXT);"
        "CREATE INDEX IF NOT EXISTS responses_person ON responses(person);");
    SQLite::Statement insert(db,
                             "INSERT OR IGNORE INTO meta(name, value) VALUES('schema_version', ?)");
    insert.bind(1, std::string(kSchemaVersion));
    insert.exec();

    const std::string version =
        single_text(db, "SELECT value FROM meta WHERE name = 'schema_version'");
    if (version != kSchemaVersion) {
        return cache_error(ErrorCode::invalid_input, path,
                           fmt::format("response cache schema version {} is not the {} this "
                                       "build reads; delete the file or choose another cache path",
                                       version, kSchemaVersion));
    }
    tx.commit();
    return {};
}

// Until a checkpoint, the pages holding deleted replies still sit in the WAL file. Another
// process reading at this moment keeps the checkpoint from finishing; SQLite's next automatic
// checkpoint completes it. The deletion itself has committed, so a failure here is not one of
// delete_person.
void checkpoint_after_delete(SQLite::Database& db) {
    try {
        SQLite::Statement q(db, "PRAGMA wal_checkpoint(TRUNCATE)");
        if (q.executeStep() && q.getColumn(0).getInt() != 0)
            log::debug("response cache: the checkpoint after a deletion was blocked by a reader");
    } catch (const SQLite::Exception& ex) {
        log::debug("response cache: the checkpoint after a deletion failed: {}", ex.what());
    }
}

}  // namespace

std::string response_key(const ModelInfo& model, const ChatRequest& request) {
    std::string s;
    append_field(s, kKeyVersion);

    append_field(s, model.backend);
    append_field(s, model.model);
    append_field(s, model.model_sha256);
    append_field(s, model.chat_template);
    append_number(s, model.context_size);

    append_number(s, request.messages.size());
    for (const Message& m : request.messages) {
        append_field(s, m.role);
        append_field(s, m.content);
    }

    const SamplingParams& p = request.sampling;
    append_number(s, p.seed);
    append_number(s, p.temperature);
    append_number(s, p.top_p);
    append_number(s, p.top_k);
    append_number(s, p.max_tokens);
    append_number(s, p.stop.size());
    for (const std::string& stop : p.stop)
        append_field(s, stop);

    append_field(s, request.json_schema);
    return sha256_hex(s);
}

std::filesystem::path default_cache_path() {
    return cache_dir() / "responses.sqlite";
}

struct ResponseCache::Impl {
    Impl(std::filesystem::path p, SQLite::Database d) : path(std::move(p)), db(std::move(d)) {}

    std::filesystem::path path;
    SQLite::Database db;
    std::mutex mutex;
};

ResponseCache::ResponseCache(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ResponseCache::ResponseCache(ResponseCache&&) noexcept = default;
ResponseCache& ResponseCache::operator=(ResponseCache&&) noexcept = default;
ResponseCache::~ResponseCache() = default;

const std::filesystem::path& ResponseCache::path() const {
    return impl_->path;
}

Result<ResponseCache> ResponseCache::open(const std::filesystem::path& path) {
    if (path.has_parent_path()) {
        std::error_code ec;
        std::filesystem::create_directories(path.parent_path(), ec);
        if (ec) {
            return cache_error(ErrorCode::invalid_input, path,
                               "cannot create the response cache's directory: " + ec.message());
        }
    }
    return guarded(path, "opening", [&]() -> Result<ResponseCache> {
        SQLite::Database db(path.string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE,
                            kBusyTimeoutMs);
        HA_TRY(create_schema(db, path));
        log::debug("response cache: {}", path.string());
        return ResponseCache(std::make_unique<Impl>(path, std::move(db)));
    });
}

Result<std::optional<ChatResponse>> ResponseCache::lookup(const std::string& key) {
    std::lock_guard lock(impl_->mutex);
    return guarded(impl_->path, "reading", [&]() -> Result<std::optional<ChatResponse>> {
        SQLite::Statement q(impl_->db,
                            "SELECT reply, finish, tokens_prompt, tokens_completion "
                            "FROM responses WHERE key = ?");
        q.bind(1, key);
        if (!q.executeStep())
            return std::optional<ChatResponse>();

        auto finish = parse_finish(q.getColumn(1).getString());
        if (!finish) {
            return cache_error(ErrorCode::internal, impl_->path,
                               "a cached reply has an unknown finish reason");
        }
        ChatResponse r;
        r.text = q.getColumn(0).getString();
        r.finish = *finish;
        r.usage.tokens_prompt = q.getColumn(2).getInt64();
        r.usage.tokens_completion = q.getColumn(3).getInt64();
        r.from_cache = true;
        return std::optional<ChatResponse>(std::move(r));
    });
}

Status ResponseCache::store(const std::string& key, const ModelInfo& model,
                            const ChatRequest& request, const ChatResponse& response) {
    std::lock_guard lock(impl_->mutex);
    return guarded(impl_->path, "writing", [&]() -> Status {
        SQLite::Statement q(
            impl_->db,
            "INSERT INTO responses(key, person, purpose, backend, model, reply, finish, "
            "tokens_prompt, tokens_completion, created_at) "
            "VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) "
            "ON CONFLICT(key) DO UPDATE SET "
            "person = CASE WHEN responses.person = '' THEN excluded.person "
            "ELSE responses.person END, "
            "purpose = excluded.purpose, backend = excluded.backend, model = excluded.model, "
            "reply = excluded.reply, finish = excluded.finish, "
            "tokens_prompt = excluded.tokens_prompt, "
            "tokens_completion = excluded.tokens_completion, created_at = excluded.created_at");
        q.bind(1, key);
        q.bind(2, request.person);
        q.bind(3, request.purpose);
        q.bind(4, model.backend);
        q.bind(5, model.model);
        q.bind(6, response.text);
        q.bind(7, std::string(finish_name(response.finish)));
        q.bind(8, response.usage.tokens_prompt);
        q.bind(9, response.usage.tokens_completion);
        q.exec();
        return {};
    });
}

Result<int64_t> ResponseCache::delete_person(const std::string& person) {
    if (person.empty()) {
        return cache_error(ErrorCode::invalid_input, impl_->path,
                           "delete_person needs a person; an empty one names no one's rows");
    }
    std::lock_guard lock(impl_->mutex);
    return guarded(impl_->path, "deleting a person's replies", [&]() -> Result<int64_t> {
        SQLite::Statement q(impl_->db, "DELETE FROM responses WHERE person = ?");
        q.bind(1, person);
        const int64_t removed = q.exec();

        checkpoint_after_delete(impl_->db);
        return removed;
    });
}

Result<int64_t> ResponseCache::size() {
    std::lock_guard lock(impl_->mutex);
    return guarded(impl_->path, "counting", [&]() -> Result<int64_t> {
        SQLite::Statement q(impl_->db, "SELECT COUNT(*) FROM responses");
        q.executeStep();
        return q.getColumn(0).getInt64();
    });
}

}  // namespace hyperalign::llm
