#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "hyperalign/core/result.hpp"
#include "hyperalign/llm/backend.hpp"

namespace hyperalign::llm {

// The cache key of a request to a model: lower-case hex SHA-256 of a canonical serialisation of
// everything that decides the reply, and nothing else.
//
// Serialisation, version "hyperalign.response-key.v1": a sequence of fields, each written as
// "<decimal byte length>:<bytes>", in this order:
//   the version tag itself;
//   model: backend, model, model_sha256, chat_template, context_size;
//   the number of messages, then role and content of each;
//   sampling: seed, temperature, top_p, top_k, max_tokens, the number of stop strings, then each;
//   json_schema.
// Integers are decimal; floats are the shortest text that reads back as the same float, so
// 0.7f always gives "0.7". Because every field carries its length, no choice of contents can make
// two different requests serialise alike (a message "a" + "bc" differs from "ab" + "c").
//
// Left out because they never change the reply: on_text, cancel, prefix_messages (prefix reuse
// is computed the same way as a fresh prompt), person and purpose (bookkeeping only).
// Changing the serialisation changes every key; bump the version tag so old rows are never
// read as answers to new requests.
std::string response_key(const ModelInfo& model, const ChatRequest& request);

// hyperalign::cache_dir() / "responses.sqlite".
std::filesystem::path default_cache_path();

// Model replies stored in one SQLite file, so that an interrupted run resumes without repeating
// finished calls and several processes can share the work.
//
// Tables: meta(name, value) holding "schema_version"; responses(key, person, purpose, backend,
// model, reply, finish, tokens_prompt, tokens_completion, created_at) indexed on person. The
// file is in WAL mode with a busy timeout, so processes on one machine can read and write it at
// once; it is not meant for network file systems.
//
// Every function returns failures as values (ErrorCode::invalid_input when the file is not a
// usable cache, internal for other SQLite failures), with Error::file naming the file; nothing
// throws. Thread-safe: calls on one object are serialised by a mutex. Move-only; a moved-from
// cache must not be used.
class ResponseCache {
  public:
    // Opens the cache at `path`, creating missing parent directories, the file and its schema.
    // Fails with invalid_input when the file exists but is not SQLite or has a schema version
    // this build does not know, or when the directory cannot be created.
    static Result<ResponseCache> open(const std::filesystem::path& path);

    ResponseCache(ResponseCache&&) noexcept;
    ResponseCache& operator=(ResponseCache&&) noexcept;
    ~ResponseCache();

    // The stored reply for `key`, with from_cache set, usage as the original call reported it
    // (tokens_prompt_cached is not recorded: it describes state reuse inside the original
    // process) and zero timings; nullopt when there is none.
    Result<std::optional<ChatResponse>> lookup(const std::string& key);

    // Stores `response` as the reply to `request` (whose person and purpose are recorded) under
    // `key`. An existing row for the key gets the new reply; it keeps its person unless it had
    // none, since an identical request carries identical data.
    Status store(const std::string& key, const ModelInfo& model, const ChatRequest& request,
                 const ChatResponse& response);

    // Deletes every row made from `person`'s texts and returns how many went. Deleted pages are
    // zeroed and the write-ahead log checkpointed, so the reply text does not linger on disk;
    // while another process is reading, the checkpoint completes later (SQLite's automatic
    // one). Fails with invalid_input for an empty person (that would mean "rows of no one").
    Result<int64_t> delete_person(const std::string& person);

    // Number of stored replies.
    Result<int64_t> size();

    const std::filesystem::path& path() const;

  private:
    struct Impl;
    explicit ResponseCache(std::unique_ptr<Impl> impl);

    std::unique_ptr<Impl> impl_;
};

}  // namespace hyperalign::llm
