#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "llm/openai/httplib_include.hpp"

extern char** environ;

namespace hyperalign::testing {

// A llama-server child process for the tests (the binary scripts/setup.sh builds, passed in as
// HYPERALIGN_LLAMA_SERVER), serving the tests' model on a free loopback port with one thread,
// a 4096-token context and two slots. Its output goes to a log file under the temp directory.
// The destructor stops it (SIGTERM, then SIGKILL after 5 s), reaps it and removes the log.
class LlamaServerProcess {
  public:
    // nullptr with `why` set when the binary or the model is missing (a reason to skip) or the
    // server did not answer GET /health with 200 within 30 s (`failed` set: a test failure).
    static std::unique_ptr<LlamaServerProcess> start(std::string& why, bool& failed) {
        failed = false;
        const std::string binary = HYPERALIGN_LLAMA_SERVER;
        if (binary.empty() || !std::filesystem::exists(binary)) {
            why = "llama-server not built (run scripts/setup.sh): '" + binary + "'";
            return nullptr;
        }
        if (!std::filesystem::exists(HYPERALIGN_TEST_MODEL)) {
            why = std::string("test model missing: ") + HYPERALIGN_TEST_MODEL;
            return nullptr;
        }
        // The free port can be taken between our probe and the server's bind: try a few.
        for (int attempt = 0; attempt < 3; ++attempt) {
            auto server = std::unique_ptr<LlamaServerProcess>(new LlamaServerProcess());
            if (server->launch(binary, why) && server->wait_healthy(why))
                return server;
        }
        failed = true;
        return nullptr;
    }

    // Start-up failures quote the log's tail, so the file itself is not kept.
    ~LlamaServerProcess() {
        stop();
        std::error_code ignored;
        std::filesystem::remove(log_path_, ignored);
    }
    LlamaServerProcess(const LlamaServerProcess&) = delete;
    LlamaServerProcess& operator=(const LlamaServerProcess&) = delete;

    int port() const { return port_; }
    std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1"; }
    const std::string& log_path() const { return log_path_; }

  private:
    LlamaServerProcess() = default;

    static int free_port() {
        int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0)
            return 0;
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof(addr);
        int port = 0;
        if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
            ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
            port = ntohs(addr.sin_port);
        }
        ::close(fd);
        return port;
    }

    bool launch(const std::string& binary, std::string& why) {
        port_ = free_port();
        if (port_ == 0) {
            why = "no free loopback port";
            return false;
        }
        log_path_ = (std::filesystem::temp_directory_path() /
                     ("hyperalign-llama-server-" + std::to_string(::getpid()) + "-" +
                      std::to_string(port_) + ".log"))
                        .string();
        std::vector<std::string> args = {binary, "-m", HYPERALIGN_TEST_MODEL, "--host",
                                         "127.0.0.1"};
        for (const char* a : {"-t", "1", "-c", "4096", "-np", "2", "--no-ui", "--port"})
            args.emplace_back(a);
        args.push_back(std::to_string(port_));
        std::vector<char*> argv;
        for (auto& a : args)
            argv.push_back(a.data());
        argv.push_back(nullptr);

        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log_path_.c_str(),
                                         O_WRONLY | O_CREAT | O_TRUNC, 0644);
        posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
        const int rc = posix_spawn(&pid_, binary.c_str(), &actions, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&actions);
        if (rc != 0) {
            pid_ = -1;
            why = "posix_spawn failed for " + binary + ": " + std::to_string(rc);
            return false;
        }
        return true;
    }

    bool wait_healthy(std::string& why) {
        httplib::Client client("127.0.0.1", port_);
        client.set_connection_timeout(std::chrono::milliseconds(200));
        client.set_read_timeout(std::chrono::seconds(2));
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
        while (std::chrono::steady_clock::now() < deadline) {
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;
                why = "llama-server exited during start-up; log: " + log_tail();
                return false;
            }
            auto res = client.Get("/health");
            if (res && res->status == 200)
                return true;
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        why = "llama-server did not become healthy within 30 s; log: " + log_tail();
        stop();
        return false;
    }

    std::string log_tail() const {
        std::ifstream in(log_path_);
        std::stringstream ss;
        ss << in.rdbuf();
        std::string text = ss.str();
        return text.size() > 2000 ? text.substr(text.size() - 2000) : text;
    }

    void stop() {
        if (pid_ <= 0)
            return;
        ::kill(pid_, SIGTERM);
        for (int i = 0; i < 100; ++i) {  // 5 s
            if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
                pid_ = -1;
                return;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
        pid_ = -1;
    }

    pid_t pid_ = -1;
    int port_ = 0;
    std::string log_path_;
};

}  // namespace hyperalign::testing
