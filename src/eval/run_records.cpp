#include "hyperalign/eval/run_records.hpp"

#include <sys/file.h>

#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "hyperalign/core/log.hpp"

namespace hyperalign::eval {

namespace fs = std::filesystem;

namespace {

Error file_error(const fs::path& path, std::string message, int line = 0) {
    Error e = make_error(ErrorCode::invalid_input, std::move(message));
    e.file = path.string();
    e.line = line;
    return e;
}

bool is_record(const nlohmann::json& j) {
    return !j.is_discarded() && j.is_object() && j.contains("key") && j["key"].is_string();
}

}  // namespace

Result<std::unique_ptr<RunRecords>> RunRecords::open(const fs::path& path) {
    std::unique_ptr<RunRecords> r(new RunRecords());
    r->path_ = path;
    std::error_code ec;
    if (path.has_parent_path())
        fs::create_directories(path.parent_path(), ec);
    // Opened (and locked) before it is read: one run at a time writes a folder.
    r->file_ = std::fopen(path.string().c_str(), "ab");
    if (!r->file_)
        return file_error(path, "cannot open the file for appending");
    if (::flock(fileno(r->file_), LOCK_EX | LOCK_NB) != 0) {
        return file_error(path,
                          "another run is using this folder; wait for it to finish or use "
                          "another --out");
    }
    std::string content;
    {
        std::ifstream in(path, std::ios::binary);
        std::ostringstream buffer;
        buffer << in.rdbuf();
        content = buffer.str();
    }
    // A crash while writing leaves a last line without its newline: drop it. So is a broken
    // last line (an editor may have added the newline); a broken line before it is an error.
    size_t keep = content.rfind('\n');
    keep = keep == std::string::npos ? 0 : keep + 1;
    if (keep > 0) {
        // The last complete line spans [last, keep - 1).
        const size_t prev = keep >= 2 ? content.rfind('\n', keep - 2) : std::string::npos;
        const size_t last = prev == std::string::npos ? 0 : prev + 1;
        std::string_view line(content.data() + last, keep - 1 - last);
        if (!line.empty() && !is_record(nlohmann::json::parse(line, nullptr, false)))
            keep = last;
    }
    if (keep < content.size()) {
        log::warn("{}: the last line is not a whole run record; it is dropped", path.string());
        content.resize(keep);
        fs::resize_file(path, keep, ec);
        if (ec)
            return file_error(path, "cannot drop the unfinished last line: " + ec.message());
    }
    int line_no = 0;
    size_t start = 0;
    while (start < content.size()) {
        size_t end = content.find('\n', start);
        std::string_view line(content.data() + start, end - start);
        start = end + 1;
        ++line_no;
        if (line.empty())
            continue;
        auto j = nlohmann::json::parse(line, nullptr, false);
        if (!is_record(j)) {
            return file_error(path,
                              "not a run record (a JSON object with a string 'key'); fix or "
                              "remove this line, and the records around it are kept",
                              line_no);
        }
        std::string key = j["key"].get<std::string>();
        r->records_[std::move(key)] = std::move(j);
    }
    return r;
}

RunRecords::~RunRecords() {
    if (file_)
        std::fclose(file_);
}

const nlohmann::json* RunRecords::find(std::string_view key) const {
    std::lock_guard lock(mutex_);
    auto it = records_.find(key);
    return it == records_.end() ? nullptr : &it->second;
}

Status RunRecords::put(const std::string& key, nlohmann::json record) {
    record["key"] = key;
    const std::string line =
        record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    std::lock_guard lock(mutex_);
    if (std::fwrite(line.data(), 1, line.size(), file_) != line.size() || std::fflush(file_) != 0) {
        Error e = make_error(ErrorCode::invalid_input, "cannot write a run record");
        e.file = path_.string();
        return e;
    }
    records_[key] = std::move(record);
    return {};
}

size_t RunRecords::size() const {
    std::lock_guard lock(mutex_);
    return records_.size();
}

}  // namespace hyperalign::eval
