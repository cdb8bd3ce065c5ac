#include "hyperalign/llm/llama_backend.hpp"

#include <llama.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <optional>
#include <thread>

#include "hyperalign/core/hash.hpp"
#include "hyperalign/core/log.hpp"
#include "hyperalign/core/text.hpp"
#include "hyperalign/llm/json_schema.hpp"
#include "llm/llama/sampler.hpp"

namespace hyperalign::llm {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point start) {
    return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

void llama_log_to_facade(ggml_log_level level, const char* text, void*) {
    std::string_view msg(text);
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == '\r'))
        msg.remove_suffix(1);
    if (msg.empty() || msg == ".")
        return;
    if (level == GGML_LOG_LEVEL_ERROR) {
        log::warn("llama.cpp: {}", msg);
    } else if (level == GGML_LOG_LEVEL_WARN) {
        log::info("llama.cpp: {}", msg);
    } else if (log::enabled(log::Level::debug)) {
        log::debug("llama.cpp: {}", msg);
    }
}

void init_llama_once() {
    static std::once_flag once;
    std::call_once(once, [] {
        route_llama_log();
        llama_backend_init();
    });
}

int default_threads() {
    unsigned n = std::thread::hardware_concurrency();
    return n == 0 ? 2 : int(n);
}

// Holds back the bytes that may still turn into a stop string or complete a UTF-8 sequence, so
// that streamed text never shows something the final reply does not contain.
size_t safe_emit_end(const std::string& text, size_t max_stop_len) {
    size_t end = text.size();
    size_t hold = max_stop_len > 0 ? max_stop_len - 1 : 0;
    end = end > hold ? end - hold : 0;
    while (end > 0 && (static_cast<unsigned char>(text[end - 1]) & 0xC0) == 0x80)
        --end;
    if (end > 0 && (static_cast<unsigned char>(text[end - 1]) & 0x80) != 0) {
        unsigned char lead = static_cast<unsigned char>(text[end - 1]);
        if (lead >= 0xC0)
            --end;  // a lead byte without its continuation yet
    }
    return end;
}

}  // namespace

void route_llama_log() {
    llama_log_set(llama_log_to_facade, nullptr);
}

std::vector<std::string> builtin_chat_templates() {
    std::vector<const char*> names(128);
    int32_t n = llama_chat_builtin_templates(names.data(), names.size());
    std::vector<std::string> out;
    for (int32_t i = 0; i < n && i < int32_t(names.size()); ++i)
        out.emplace_back(names[size_t(i)]);
    out.emplace_back("plain");
    std::sort(out.begin(), out.end());
    return out;
}

struct LlamaBackend::Impl {
    llama_model* model = nullptr;
    llama_context* ctx = nullptr;
    const llama_vocab* vocab = nullptr;
    std::string template_text;  // passed to llama_chat_apply_template; empty for "plain"
    bool plain_template = false;
    int batch_size = 512;
    ModelInfo info;
    std::mutex mutex;

    ~Impl() {
        if (ctx)
            llama_free(ctx);
        if (model)
            llama_model_free(model);
    }

    Result<std::vector<llama_token>> tokenize(std::string_view text, bool add_special) const {
        int32_t n = -llama_tokenize(vocab, text.data(), int32_t(text.size()), nullptr, 0,
                                    add_special, true);
        std::vector<llama_token> tokens(size_t(std::max(n, 0)));
        int32_t got = llama_tokenize(vocab, text.data(), int32_t(text.size()), tokens.data(),
                                     int32_t(tokens.size()), add_special, true);
        if (got < 0)
            return make_error(ErrorCode::internal, "llama.cpp failed to tokenize");
        tokens.resize(size_t(got));
        return tokens;
    }

    std::string piece(llama_token token) const {
        char buf[256];
        int32_t n = llama_token_to_piece(vocab, token, buf, sizeof(buf), 0, false);
        if (n < 0) {
            std::string big(size_t(-n), '\0');
            n = llama_token_to_piece(vocab, token, big.data(), int32_t(big.size()), 0, false);
            big.resize(size_t(std::max(n, 0)));
            return big;
        }
        return std::string(buf, size_t(n));
    }

    // The prompt text of `messages`; with add_assistant false, the text of a conversation
    // prefix (no assistant header), which for the usual templates starts the full prompt.
    Result<std::string> render(const std::vector<Message>& messages,
                               bool add_assistant = true) const {
        if (plain_template) {
            std::string out;
            for (size_t i = 0; i < messages.size(); ++i) {
                if (i > 0)
                    out += '\n';
                out += messages[i].content;
            }
            if (!add_assistant)
                out += '\n';
            return out;
        }
        std::vector<llama_chat_message> chat;
        size_t total = 0;
        for (const auto& m : messages) {
            chat.push_back({m.role.c_str(), m.content.c_str()});
            total += m.role.size() + m.content.size();
        }
        std::string buf(total * 2 + 512, '\0');
        int32_t n = llama_chat_apply_template(template_text.c_str(), chat.data(), chat.size(),
                                              add_assistant, buf.data(), int32_t(buf.size()));
        if (n < 0) {
            return make_error(ErrorCode::invalid_input,
                              fmt::format("chat template '{}' is not supported by llama.cpp",
                                          info.chat_template));
        }
        if (size_t(n) > buf.size()) {
            buf.resize(size_t(n));
            n = llama_chat_apply_template(template_text.c_str(), chat.data(), chat.size(),
                                          add_assistant, buf.data(), int32_t(buf.size()));
        }
        buf.resize(size_t(n));
        return buf;
    }

    Status decode(std::vector<llama_token>& tokens) {
        for (size_t start = 0; start < tokens.size(); start += size_t(batch_size)) {
            size_t n = std::min(tokens.size() - start, size_t(batch_size));
            llama_batch batch = llama_batch_get_one(tokens.data() + start, int32_t(n));
            int32_t rc = llama_decode(ctx, batch);
            if (rc != 0) {
                Error e = make_error(ErrorCode::backend_unavailable,
                                     fmt::format("llama_decode failed with code {}", rc));
                e.upstream_status = rc;
                return e;
            }
        }
        return {};
    }

    // The prompt as tokens, split where the request's shared prefix ends. The two parts are
    // always tokenised separately, so a prompt gets the same tokens whether or not its prefix
    // is cached.
    struct PromptTokens {
        std::vector<llama_token> prefix;
        std::vector<llama_token> rest;
        size_t size() const { return prefix.size() + rest.size(); }
    };
    Result<PromptTokens> prompt_tokens(const ChatRequest& request) const;

    // Brings the KV cache to exactly prompt.prefix (reusing it when it is already there) and
    // decodes prompt.rest after it. Returns the number of prefix tokens reused.
    Result<size_t> load_prompt(PromptTokens& prompt);

    Result<ChatResponse> chat(const ChatRequest& request);

    // The tokens of the standalone prefix held at the start of the KV cache, if any.
    std::vector<llama_token> cached_prefix;
};

Result<LlamaBackend::Impl::PromptTokens> LlamaBackend::Impl::prompt_tokens(
    const ChatRequest& request) const {
    HA_ASSIGN_OR_RETURN(std::string full, render(request.messages));
    PromptTokens out;
    const size_t k = request.prefix_messages;
    if (k > 0 && k < request.messages.size()) {
        std::vector<Message> head(request.messages.begin(), request.messages.begin() + long(k));
        HA_ASSIGN_OR_RETURN(std::string prefix, render(head, false));
        if (full.compare(0, prefix.size(), prefix) == 0 && prefix.size() < full.size()) {
            HA_ASSIGN_OR_RETURN(out.prefix, tokenize(prefix, true));
            HA_ASSIGN_OR_RETURN(out.rest,
                                tokenize(std::string_view(full).substr(prefix.size()), false));
            return out;
        }
    }
    HA_ASSIGN_OR_RETURN(out.rest, tokenize(full, true));
    return out;
}

Result<size_t> LlamaBackend::Impl::load_prompt(PromptTokens& prompt) {
    llama_memory_t mem = llama_get_memory(ctx);
    // Clearing only resets the cache's bookkeeping; the stale values are never read.
    if (!prompt.prefix.empty() && prompt.prefix == cached_prefix &&
        llama_memory_seq_rm(mem, 0, llama_pos(cached_prefix.size()), -1)) {
        HA_TRY(decode(prompt.rest));
        return cached_prefix.size();
    }
    llama_memory_clear(mem, false);
    cached_prefix.clear();
    if (!prompt.prefix.empty()) {
        HA_TRY(decode(prompt.prefix));
        cached_prefix = prompt.prefix;
    }
    HA_TRY(decode(prompt.rest));
    return 0;
}

Result<ChatResponse> LlamaBackend::Impl::chat(const ChatRequest& request) {
    auto started = Clock::now();
    HA_ASSIGN_OR_RETURN(PromptTokens tokens, prompt_tokens(request));

    const int n_ctx = int(llama_n_ctx(ctx));
    if (tokens.size() == 0)
        return make_error(ErrorCode::invalid_input, "the prompt is empty");
    if (int(tokens.size()) >= n_ctx) {
        return make_error(
            ErrorCode::context_overflow,
            fmt::format("the prompt takes {} tokens; the context holds {}", tokens.size(), n_ctx));
    }

    std::optional<JsonSchema> schema;
    if (!request.json_schema.empty()) {
        HA_ASSIGN_OR_RETURN(schema, JsonSchema::parse(request.json_schema));
    }
    auto grammar_start = Clock::now();
    HA_ASSIGN_OR_RETURN(
        SamplerChain chain,
        SamplerChain::make(vocab, request.sampling, schema ? schema->to_gbnf() : std::string()));
    if (schema)
        log::debug("grammar built in {:.1f} ms", ms_since(grammar_start));

    HA_ASSIGN_OR_RETURN(size_t reused, load_prompt(tokens));
    auto prompt_done = Clock::now();

    ChatResponse response;
    response.usage.tokens_prompt = int64_t(tokens.size());
    response.usage.tokens_prompt_cached = int64_t(reused);
    size_t max_stop = 0;
    for (const auto& s : request.sampling.stop)
        max_stop = std::max(max_stop, s.size());
    const int budget = std::min(request.sampling.max_tokens, n_ctx - int(tokens.size()));
    response.finish = FinishReason::length;
    size_t emitted = 0;
    std::string& text = response.text;

    for (int i = 0; i < budget; ++i) {
        if (request.cancel != nullptr && request.cancel->load()) {
            return make_error(ErrorCode::cancelled, "the call was cancelled");
        }
        llama_token token = chain.sample(ctx);
        if (llama_vocab_is_eog(vocab, token)) {
            response.finish = FinishReason::stop;
            break;
        }
        ++response.usage.tokens_completion;
        text += piece(token);

        bool stopped = false;
        for (const auto& s : request.sampling.stop) {
            size_t from = text.size() > s.size() + 64 ? text.size() - s.size() - 64 : 0;
            size_t at = s.empty() ? std::string::npos : text.find(s, from);
            if (at != std::string::npos) {
                text.resize(at);
                stopped = true;
                break;
            }
        }
        if (request.on_text) {
            size_t end = stopped ? text.size() : safe_emit_end(text, max_stop);
            if (end > emitted) {
                request.on_text(std::string_view(text).substr(emitted, end - emitted));
                emitted = end;
            }
        }
        if (stopped) {
            response.finish = FinishReason::stop;
            break;
        }
        if (i + 1 == budget)
            break;  // the last token's state would never be used
        std::vector<llama_token> next{token};
        HA_TRY(decode(next));
    }
    if (request.on_text && text.size() > emitted) {
        request.on_text(std::string_view(text).substr(emitted));
    }
    // Byte-level tokens can end a reply mid-character or, sampled wildly, form invalid
    // sequences; callers get valid UTF-8 always.
    text = text::to_valid_utf8(text);

    response.timings.ms_prompt =
        std::chrono::duration<double, std::milli>(prompt_done - started).count();
    response.timings.ms_completion = ms_since(prompt_done);
    response.timings.ms_total = ms_since(started);
    return response;
}

LlamaBackend::LlamaBackend(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
LlamaBackend::~LlamaBackend() = default;

Result<std::unique_ptr<LlamaBackend>> LlamaBackend::open(const LlamaOptions& options) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (!fs::is_regular_file(options.model_path, ec)) {
        Error e = make_error(ErrorCode::not_found, "no such model file");
        e.file = options.model_path;
        return e;
    }
    if (options.context_size < 0 || options.threads < 0 || options.batch_size <= 0) {
        return make_error(ErrorCode::invalid_input,
                          "context size and threads must be >= 0, batch size > 0");
    }
    init_llama_once();

    auto impl = std::make_unique<Impl>();
    llama_model_params mparams = llama_model_default_params();
    impl->model = llama_model_load_from_file(options.model_path.c_str(), mparams);
    if (!impl->model) {
        Error e = make_error(ErrorCode::backend_unavailable,
                             "llama.cpp could not load the model (is it a GGUF file?)");
        e.file = options.model_path;
        return e;
    }
    impl->vocab = llama_model_get_vocab(impl->model);

    const int n_ctx_train = llama_model_n_ctx_train(impl->model);
    const int n_ctx = options.context_size > 0 ? options.context_size : n_ctx_train;
    const int threads = options.threads > 0 ? options.threads : default_threads();
    impl->batch_size = std::min(options.batch_size, n_ctx);

    llama_context_params cparams = llama_context_default_params();
    cparams.n_ctx = uint32_t(n_ctx);
    cparams.n_batch = uint32_t(impl->batch_size);
    cparams.n_ubatch = uint32_t(impl->batch_size);
    cparams.n_seq_max = 1;
    cparams.n_threads = threads;
    cparams.n_threads_batch = threads;
    cparams.no_perf = true;
    if (options.flash_attn == "on") {
        cparams.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_ENABLED;
    } else if (options.flash_attn == "off") {
        cparams.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    } else if (options.flash_attn == "auto" || options.flash_attn.empty()) {
        cparams.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_AUTO;
    } else {
        return make_error(
            ErrorCode::invalid_input,
            fmt::format("flash attention must be auto, on or off, not '{}'", options.flash_attn));
    }
    impl->ctx = llama_init_from_model(impl->model, cparams);
    if (!impl->ctx) {
        return make_error(ErrorCode::backend_unavailable,
                          fmt::format("llama.cpp could not create a context of {} tokens", n_ctx));
    }

    // Chat template: the override, else the model's own, else ChatML like llama-server.
    const char* own = llama_model_chat_template(impl->model, nullptr);
    std::string name = options.chat_template;
    if (name == "plain") {
        impl->plain_template = true;
    } else if (!name.empty()) {
        impl->template_text = name;
    } else if (own != nullptr) {
        impl->template_text = own;
        name = "model";
    } else {
        impl->template_text = "chatml";
        name = "chatml";
    }

    impl->info.backend = "llama.cpp";
    impl->info.model = options.model_path;
    impl->info.chat_template = name;
    impl->info.context_size = n_ctx;
    HA_ASSIGN_OR_RETURN(impl->info.model_sha256, sha256_file(options.model_path));

    // Fail at open time, not on the first call, when the template is unusable.
    HA_TRY(impl->render({{"user", "x"}}));
    log::info("loaded {} (context {} tokens, {} threads, template {})", options.model_path, n_ctx,
              threads, name);
    return std::unique_ptr<LlamaBackend>(new LlamaBackend(std::move(impl)));
}

Result<ChatResponse> LlamaBackend::chat(const ChatRequest& request) {
    std::lock_guard lock(impl_->mutex);
    return impl_->chat(request);
}

Result<int> LlamaBackend::count_tokens(std::string_view text) {
    HA_ASSIGN_OR_RETURN(auto tokens, impl_->tokenize(text, false));
    return int(tokens.size());
}

const ModelInfo& LlamaBackend::info() const {
    return impl_->info;
}

Result<std::string> LlamaBackend::render(const std::vector<Message>& messages) const {
    return impl_->render(messages);
}

}  // namespace hyperalign::llm
