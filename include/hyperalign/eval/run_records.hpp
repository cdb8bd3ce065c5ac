#pragma once

#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "hyperalign/core/result.hpp"

namespace hyperalign::eval {

// The finished work of an evaluation run, one JSON object per line, so that a run stopped at
// any point resumes without redoing anything. Each record has a unique "key"; a later record
// with the same key replaces the earlier one. Thread-safe.
class RunRecords {
  public:
    // Opens `path`, creating it and its folder when missing, and reads what it holds. A last
    // line without its newline (a write cut short) is dropped from the file; any other line that
    // is not a JSON object with a string "key" fails with invalid_input naming file and line.
    static Result<std::unique_ptr<RunRecords>> open(const std::filesystem::path& path);
    ~RunRecords();
    RunRecords(const RunRecords&) = delete;
    RunRecords& operator=(const RunRecords&) = delete;

    // The record stored under `key`, or nullptr.
    const nlohmann::json* find(std::string_view key) const;

    // Stores `record` (an object; "key" is set to `key`) and flushes it to the file.
    Status put(const std::string& key, nlohmann::json record);

    size_t size() const;
    const std::filesystem::path& path() const { return path_; }

  private:
    RunRecords() = default;

    std::filesystem::path path_;
    std::FILE* file_ = nullptr;
    mutable std::mutex mutex_;
    std::map<std::string, nlohmann::json, std::less<>> records_;
};

}  // namespace hyperalign::eval
