#include "llm/openai/http_transport.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <mutex>

#include <fmt/format.h>

#include "llm/openai/httplib_include.hpp"

namespace hyperalign::llm::openai {
namespace {

using Clock = std::chrono::steady_clock;

// A reply body larger than this is not a chat completion; refusing it bounds the memory an
// unexpected (or hostile) server can make us use.
constexpr size_t kMaxBodyBytes = size_t(64) << 20;

Error url_error(std::string message) {
    Error e = make_error(ErrorCode::invalid_input, std::move(message));
    e.field = "base_url";
    return e;
}

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return char(std::tolower(c)); });
    return out;
}

bool valid_port(std::string_view port) {
    if (port.empty() || port.size() > 5)
        return false;
    if (!std::all_of(port.begin(), port.end(), [](unsigned char c) { return std::isdigit(c); }))
        return false;
    int value = std::atoi(std::string(port).c_str());
    return value > 0 && value <= 65535;
}

// Only the delta-seconds form: an HTTP date would need the server's clock to agree with ours.
std::optional<double> parse_retry_after(const std::string& value) {
    if (value.empty() || !std::isdigit(static_cast<unsigned char>(value[0])))
        return std::nullopt;
    char* end = nullptr;
    double seconds = std::strtod(value.c_str(), &end);
    if (end == nullptr || *end != '\0' || seconds < 0)
        return std::nullopt;
    return seconds;
}

// What went wrong, for a person; cpp-httplib's own names are single words ("Connection").
std::string describe(httplib::Error error) {
    switch (error) {
        case httplib::Error::Connection:
            return "could not connect: refused, or no such host";
        case httplib::Error::ConnectionTimeout:
            return "the connection timed out";
        case httplib::Error::Read:
            return "the connection failed while reading the reply";
        case httplib::Error::Write:
            return "the connection failed while sending the request";
        case httplib::Error::SSLConnection:
            return "the TLS connection failed";
        case httplib::Error::SSLServerVerification:
            return "the server's TLS certificate did not verify";
        default:
            return httplib::to_string(error);
    }
}

Transport classify(httplib::Error error, Clock::duration silent, std::chrono::milliseconds limit) {
    switch (error) {
        case httplib::Error::Success:
            return Transport::ok;
        case httplib::Error::Connection:
        case httplib::Error::BindIPAddress:
        case httplib::Error::SSLConnection:
        case httplib::Error::SSLLoadingCerts:
            return Transport::connect_failed;
        case httplib::Error::ConnectionTimeout:
            return Transport::connect_timeout;
        case httplib::Error::SSLServerVerification:
            return Transport::tls_verify;
        case httplib::Error::Canceled:
            return Transport::cancelled;
        case httplib::Error::Read:
            // cpp-httplib 0.11 reports a read timeout as a plain read error; the silence
            // before it tells the two apart (5% slack for the select granularity).
            return silent >= limit * 95 / 100 ? Transport::read_timeout : Transport::io_error;
        default:
            return Transport::io_error;
    }
}

}  // namespace

Result<Endpoint> parse_base_url(std::string_view url) {
    const size_t sep = url.find("://");
    if (sep == std::string_view::npos)
        return url_error("the base URL needs a scheme, as in http://127.0.0.1:8080/v1");
    const std::string scheme = lower(url.substr(0, sep));
    if (scheme != "http" && scheme != "https")
        return url_error("the base URL must start with http:// or https://");
    std::string_view rest = url.substr(sep + 3);
    if (rest.find_first_of("?#") != std::string_view::npos)
        return url_error("the base URL must not have a query or fragment");

    const size_t slash = rest.find('/');
    std::string_view authority = rest.substr(0, slash);
    std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash);
    if (authority.find('@') != std::string_view::npos)
        return url_error(
            "the base URL must not hold credentials; put the API key in the "
            "environment variable named by the API key option");
    const size_t bracket = authority.rfind(']');
    const size_t colon = authority.rfind(':');
    std::string_view host = authority;
    if (colon != std::string_view::npos && (bracket == std::string_view::npos || colon > bracket)) {
        if (!valid_port(authority.substr(colon + 1)))
            return url_error("the base URL has an invalid port");
        host = authority.substr(0, colon);
    }
    if (host.empty() || host == "[]")
        return url_error("the base URL has no host");

    while (!path.empty() && path.back() == '/')
        path.remove_suffix(1);
    return Endpoint{scheme + "://" + std::string(authority), std::string(path)};
}

std::string parent_prefix(std::string_view prefix) {
    const size_t slash = prefix.rfind('/');
    return slash == std::string_view::npos ? std::string() : std::string(prefix.substr(0, slash));
}

struct HttpTransport::Pool {
    std::mutex mutex;
    std::vector<std::unique_ptr<httplib::Client>> idle;
};

HttpTransport::HttpTransport(Endpoint endpoint, HttpSettings settings)
    : endpoint_(std::move(endpoint)),
      settings_(std::move(settings)),
      pool_(std::make_unique<Pool>()) {}

HttpTransport::~HttpTransport() = default;

HttpReply HttpTransport::get(const std::string& path, const std::atomic<bool>* cancel) {
    return exchange("GET", path, "", {}, cancel);
}

HttpReply HttpTransport::post_json(const std::string& path, const std::string& body,
                                   const BodySink& sink, const std::atomic<bool>* cancel) {
    return exchange("POST", path, body, sink, cancel);
}

HttpReply HttpTransport::exchange(const std::string& method, const std::string& path,
                                  const std::string& body, const BodySink& sink,
                                  const std::atomic<bool>* cancel) {
    // Reuse an idle keep-alive connection when there is one; cpp-httplib reconnects by itself
    // when the server has closed it meanwhile.
    std::unique_ptr<httplib::Client> client;
    {
        std::lock_guard lock(pool_->mutex);
        if (!pool_->idle.empty()) {
            client = std::move(pool_->idle.back());
            pool_->idle.pop_back();
        }
    }
    if (!client) {
        client = std::make_unique<httplib::Client>(endpoint_.origin);
        client->set_connection_timeout(settings_.connect_timeout);
        client->set_read_timeout(settings_.read_timeout);
        client->set_write_timeout(settings_.read_timeout);
        client->set_keep_alive(true);
        // Headers and body go out in separate writes; without this, Nagle and delayed ACKs add
        // about 40 ms to every request on a reused connection.
        client->set_tcp_nodelay(true);
    }

    httplib::Request req;
    req.method = method;
    req.path = path;
    req.body = body;
    for (const auto& [name, value] : settings_.headers)
        req.headers.emplace(name, value);
    if (method == "POST")
        req.headers.emplace("Content-Type", "application/json");

    HttpReply reply;
    auto last_activity = Clock::now();
    bool too_large = false;
    const auto cancelled = [cancel] { return cancel != nullptr && cancel->load(); };
    req.response_handler = [&](const httplib::Response& res) {
        last_activity = Clock::now();
        reply.status = res.status;
        if (res.has_header("Retry-After"))
            reply.retry_after_s = parse_retry_after(res.get_header_value("Retry-After"));
        return !cancelled();
    };
    req.content_receiver = [&](const char* data, size_t size, uint64_t, uint64_t) {
        last_activity = Clock::now();
        if (cancelled())
            return false;
        if (sink && reply.status >= 200 && reply.status < 300)
            return sink(std::string_view(data, size));
        if (reply.body.size() + size > kMaxBodyBytes) {
            too_large = true;
            return false;
        }
        reply.body.append(data, size);
        return true;
    };

    // cpp-httplib does not throw on network failures, but it allocates; nothing may escape.
    try {
        httplib::Result result = client->send(req);
        reply.transport =
            classify(result.error(), Clock::now() - last_activity, settings_.read_timeout);
        if (reply.transport != Transport::ok)
            reply.detail = describe(result.error());
    } catch (const std::exception& e) {
        reply.transport = Transport::io_error;
        reply.detail = e.what();
    }
    if (too_large) {
        reply.transport = Transport::io_error;
        reply.detail = fmt::format("the reply is larger than {} MiB", kMaxBodyBytes >> 20);
    }

    if (reply.transport == Transport::ok) {
        std::lock_guard lock(pool_->mutex);
        if (pool_->idle.size() < settings_.max_idle_connections)
            pool_->idle.push_back(std::move(client));
    }
    return reply;
}

}  // namespace hyperalign::llm::openai
