#include "hyperalign/core/hash.hpp"

#include <openssl/evp.h>
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <fstream>
#include <memory>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace hyperalign {
namespace {

using DigestContext = std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)>;

std::string to_hex(const unsigned char* bytes, unsigned int n) {
    std::string out;
    out.reserve(n * 2);
    for (unsigned int i = 0; i < n; ++i)
        out += fmt::format("{:02x}", bytes[i]);
    return out;
}

std::filesystem::path hash_memo_path() {
    return cache_dir() / "file-hashes.json";
}

// The memo is an optimisation only: any failure to read or write it is ignored.
nlohmann::json read_memo() {
    std::ifstream in(hash_memo_path());
    if (!in)
        return nlohmann::json::object();
    auto memo = nlohmann::json::parse(in, nullptr, false);
    return memo.is_object() ? memo : nlohmann::json::object();
}

}  // namespace

std::filesystem::path cache_dir() {
    if (const char* d = std::getenv("HYPERALIGN_CACHE"); d && *d)
        return d;
    if (const char* d = std::getenv("XDG_CACHE_HOME"); d && *d) {
        return std::filesystem::path(d) / "hyperalign";
    }
    if (const char* h = std::getenv("HOME"); h && *h) {
        return std::filesystem::path(h) / ".cache" / "hyperalign";
    }
    return std::filesystem::temp_directory_path() / "hyperalign-cache";
}

std::string sha256_hex(std::string_view data) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int n = 0;
    EVP_Digest(data.data(), data.size(), digest.data(), &n, EVP_sha256(), nullptr);
    return to_hex(digest.data(), n);
}

Result<std::string> sha256_file(const std::filesystem::path& path) {
    namespace fs = std::filesystem;
    std::error_code ec;
    auto canonical = fs::canonical(path, ec);
    auto size = fs::file_size(path, ec);
    auto mtime = fs::last_write_time(path, ec);
    if (ec) {
        Error e = make_error(ErrorCode::not_found, "cannot read file: " + ec.message());
        e.file = path.string();
        return e;
    }
    const std::string key =
        fmt::format("{}|{}|{}", canonical.string(), size, mtime.time_since_epoch().count());
    nlohmann::json memo = read_memo();
    if (auto it = memo.find(key); it != memo.end() && it->is_string())
        return it->get<std::string>();

    std::ifstream in(path, std::ios::binary);
    if (!in) {
        Error e = make_error(ErrorCode::not_found, "cannot open file");
        e.file = path.string();
        return e;
    }
    DigestContext ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
    EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
    std::vector<char> buf(1 << 20);
    while (in.read(buf.data(), std::streamsize(buf.size())) || in.gcount() > 0) {
        EVP_DigestUpdate(ctx.get(), buf.data(), size_t(in.gcount()));
    }
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int n = 0;
    EVP_DigestFinal_ex(ctx.get(), digest.data(), &n);
    std::string hex = to_hex(digest.data(), n);

    memo[key] = hex;
    fs::create_directories(cache_dir(), ec);
    // Write then rename, so a concurrent reader never sees half a file.
    const fs::path tmp = hash_memo_path().string() + fmt::format(".{}", ::getpid());
    {
        std::ofstream out(tmp, std::ios::trunc);
        if (out)
            out << memo.dump(1, ' ', false, nlohmann::json::error_handler_t::replace);
    }
    fs::rename(tmp, hash_memo_path(), ec);
    return hex;
}

}  // namespace hyperalign
