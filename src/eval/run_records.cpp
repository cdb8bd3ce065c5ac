#include "hyperalign/eval/run_records.hpp"

#include <fstream>
#include <sstream>

#include <fmt/format.h>

namespace hyperalign::eval {

namespace fs = std::filesystem;

Result<std::unique_ptr<RunRecords>> RunRecords::open(const fs::path& path) {
    std::unique_ptr<RunRecords> r(new RunRecords());
    r->path_ = path;
    std::error_code ec;
    if (path.has_parent_path())
        fs::create_directories(path.parent_path(), ec);
    std::string content;
    if (fs::exists(path)) {
        std::ifstream in(path, std::ios::binary);
        std::ostringstream buffer;
        buffer << in.rdbuf();
        content = buffer.str();
    }
    // A crash while writing leaves a last line without its newline: drop it.
    size_t complete = content.rfind('\n');
    complete = complete == std::string::npos ? 0 : complete + 1;
    if (complete < content.size()) {
        content.resize(complete);
        fs::resize_file(path, complete, ec);
        if (ec) {
            Error e = make_error(ErrorCode::invalid_input,
                                 "cannot drop the unfinished last line: " + ec.message());
            e.file = path.string();
            return e;
        }
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
        if (j.is_discarded() || !j.is_object() || !j.contains("key") || !j["key"].is_string()) {
            Error e = make_error(ErrorCode::invalid_input,
                                 "not a run record (a JSON object with a string 'key'); delete "
                                 "the file to start the run afresh");
            e.file = path.string();
            e.line = line_no;
            return e;
        }
        std::string key = j["key"].get<std::string>();
        r->records_[std::move(key)] = std::move(j);
    }
    r->file_ = std::fopen(path.string().c_str(), "ab");
    if (!r->file_) {
        Error e = make_error(ErrorCode::invalid_input, "cannot open the file for appending");
        e.file = path.string();
        return e;
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
