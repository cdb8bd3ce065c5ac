#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "hyperalign/core/result.hpp"

namespace hyperalign::llm::openai {

// Where an OpenAI-compatible API lives: "http://host:8080" and the path prefix "/v1".
struct Endpoint {
    std::string origin;  // scheme://host[:port], as cpp-httplib's Client takes it
    std::string prefix;  // "" or "/segment/...", no trailing slash
};

// Splits a base URL. Fails with invalid_input for a scheme other than http/https, a missing
// host, user information, a query or a fragment.
Result<Endpoint> parse_base_url(std::string_view url);

// The prefix one level above `prefix` ("/v1" -> "", "/api/v1" -> "/api"): where llama-server
// keeps /props and /tokenize when the OpenAI routes sit under /v1.
std::string parent_prefix(std::string_view prefix);

// How an HTTP exchange ended below the level of status codes.
enum class Transport {
    ok,               // a status line arrived (any status)
    connect_failed,   // no connection (refused, unreachable, TLS handshake)
    connect_timeout,  // no connection within the connect timeout
    read_timeout,     // the server stayed silent longer than the read timeout
    io_error,         // the connection broke while sending or receiving
    tls_verify,       // the server's certificate did not verify
    cancelled,        // the body sink or the cancel flag stopped the exchange
};

struct HttpReply {
    Transport transport = Transport::ok;
    std::string detail;  // cpp-httplib's description of a transport failure
    int status = 0;
    // The body; empty for a 2xx reply that went to a BodySink.
    std::string body;
    // Retry-After in seconds (the delta-seconds form only), when the server sent one.
    std::optional<double> retry_after_s;
};

struct HttpSettings {
    std::vector<std::pair<std::string, std::string>> headers;  // sent with every request
    std::chrono::milliseconds connect_timeout{10'000};
    std::chrono::milliseconds read_timeout{600'000};
    size_t max_idle_connections = 4;
};

// Receives a 2xx reply's body as it arrives; returning false stops the exchange (cancelled).
using BodySink = std::function<bool(std::string_view chunk)>;

// The one place cpp-httplib is used for outgoing requests. Keeps a few idle keep-alive
// connections for reuse. Thread-safe: each exchange has a connection of its own.
class HttpTransport {
  public:
    HttpTransport(Endpoint endpoint, HttpSettings settings);
    ~HttpTransport();
    HttpTransport(const HttpTransport&) = delete;
    HttpTransport& operator=(const HttpTransport&) = delete;

    const Endpoint& endpoint() const { return endpoint_; }

    // `path` is absolute on the server (prefix included). Never throws.
    HttpReply get(const std::string& path, const std::atomic<bool>* cancel = nullptr);
    // A JSON body. With `sink`, a 2xx body goes to it instead of HttpReply::body.
    HttpReply post_json(const std::string& path, const std::string& body, const BodySink& sink = {},
                        const std::atomic<bool>* cancel = nullptr);

    struct Pool;

  private:
    HttpReply exchange(const std::string& method, const std::string& path, const std::string& body,
                       const BodySink& sink, const std::atomic<bool>* cancel);

    Endpoint endpoint_;
    HttpSettings settings_;
    std::unique_ptr<Pool> pool_;
};

}  // namespace hyperalign::llm::openai
