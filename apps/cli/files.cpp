#include "files.hpp"

#include <fstream>
#include <sstream>

namespace hyperalign::cli {

Result<std::string> read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        Error e = make_error(ErrorCode::not_found, "cannot open file");
        e.file = path;
        return e;
    }
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

Status write_file(const std::string& path, const std::string& content) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    if (!(out << content)) {
        Error e = make_error(ErrorCode::invalid_input, "cannot write file");
        e.file = path;
        return e;
    }
    return {};
}

}  // namespace hyperalign::cli
