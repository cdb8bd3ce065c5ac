#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "hyperalign/generate/generator.hpp"
#include "hyperalign/learn/profile_builder.hpp"
#include "hyperalign/llm/cached_backend.hpp"
#include "hyperalign/llm/client.hpp"
#include "hyperalign/llm/llama_backend.hpp"
#include "hyperalign/llm/response_cache.hpp"

namespace hyperalign::cli {

// How the model is named on every command: --model FILE.gguf runs it in-process; with
// --base-url URL, --model names the model the OpenAI-compatible server serves.
struct ModelArgs {
    std::string model;
    std::string base_url;
    std::string api_key_env = "OPENAI_API_KEY";
    std::string json_mode = "auto";
    int max_concurrency = 4;
    double requests_per_second = 0;
    int max_retries = 3;
    double read_timeout_s = 600;
    int ctx = 0;
    int threads = 0;
    std::string chat_template;
    std::string flash_attn = "auto";
    int64_t max_calls = 0;
    bool no_cache = false;
    std::string cache_path;
};

struct ProfileArgs {
    std::string examples;
    std::string author;
    size_t limit = 0;
    uint32_t seed = 42;
    std::string output;
    std::string person;
    std::string contrast = "base_model";
    std::string contrast_pool;
    bool no_attributes = false;
    int num_init = 0;
    int batch_size = 4;
    int per_batch = 5;
    int max_hypotheses = 20;
    int k = 10;
    int update_batch_size = 2;
    float temperature = 0.0f;
    int max_tokens_predict = 256;
    int max_tokens_generate = 1024;
    int max_tokens_attributes = 2048;
    int max_tokens_contrast = 512;
    std::string user;                 // --user: store the profile as this person's next version
    std::string store;                // --store: the profile store (default: the user's)
    bool reinfer_attributes = false;  // profile update: infer attributes again over every text
};

struct GenerateArgs {
    std::string profile;
    std::string method = "hyperalign";
    int top = 5;
    std::string select = "top";  // top or relevance
    int relevance_pool = 10;
    uint32_t seed = 42;
    float temperature = 0.0f;
    float top_p = 1.0f;
    int top_k = 0;
    int max_tokens = 512;
    std::vector<std::string> stop;
    std::string task;
    std::string tasks_file;
    std::string output;
    bool stream = false;
};

struct CommonArgs {
    bool json = false;
    bool quiet = false;
    std::string run_log;
};

// The model a command talks to: the engine, the response cache in front of it (unless
// --no-cache), and the client every call goes through. Heap-allocated and never moved, since
// each layer refers to the one below.
struct Model {
    std::unique_ptr<llm::Backend> engine;
    std::optional<llm::ResponseCache> cache;
    std::unique_ptr<llm::CachedBackend> cached;
    std::unique_ptr<llm::Client> client;
};

Result<std::unique_ptr<llm::Backend>> open_engine(const ModelArgs& m);
Result<std::unique_ptr<Model>> open_model(const ModelArgs& m);

// The run's spend as JSON (run logs, reports), and as a table on stderr.
nlohmann::ordered_json spend_json(const llm::Accounting& a, double wall_ms);
void print_summary(const llm::Accounting& a, double wall_ms, const llm::ModelInfo& info);

// Fails before any model call when `path` cannot be written: its folder is missing or is not
// writable, or it is a folder itself. An empty path passes.
Status check_writable(const std::string& path);

// Set by the SIGINT handler: the run's model calls then stop with ErrorCode::cancelled, and
// the command still prints its summary and writes its run log.
std::atomic<bool>& interrupted();

// Each returns the process exit code.
int run_profile(const ModelArgs& m, const ProfileArgs& p, const CommonArgs& c);
// `profile update`: the latest stored profile of --user continued with new texts.
int run_profile_update(const ModelArgs& m, const ProfileArgs& p, const CommonArgs& c);
int run_generate(const ModelArgs& m, const GenerateArgs& g, const CommonArgs& c);
int run_personalize(const ModelArgs& m, const ProfileArgs& p, GenerateArgs g, const CommonArgs& c);
int run_chat_templates();

void add_model_options(CLI::App& app, ModelArgs& m);
void add_profile_options(CLI::App& app, ProfileArgs& p, bool output_required);
// Adds --user and --store to the `profile` command (making -o optional with --user) and its
// `update` subcommand, which takes the command's other options too; returns `update`.
CLI::App* add_profile_store_options(CLI::App& profile, ProfileArgs& p);
void add_generate_options(CLI::App& app, GenerateArgs& g, bool with_profile);
void add_common_options(CLI::App& app, CommonArgs& c);

}  // namespace hyperalign::cli
