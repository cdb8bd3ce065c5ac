#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "hyperalign/core/hash.hpp"
#include "hyperalign/llm/llama_backend.hpp"

namespace hyperalign::testing {

// The tests' model: shared/models/stories260K.gguf, copied under tests/fixtures so a fresh
// clone has it; its hash is checked before use.
inline constexpr const char* kModelSha256 =
    "270cba1bd5109f42d03350f60406024560464db173c0e387d91f0426d3bd256d";

inline std::string test_model_path() {
    return HYPERALIGN_TEST_MODEL;
}

// One thread: tests run in parallel on two cores, and llama.cpp's threads spin at barriers.
inline std::unique_ptr<llm::LlamaBackend> open_test_model(int context_size = 4096,
                                                          std::string chat_template = "") {
    auto hash = sha256_file(test_model_path());
    EXPECT_TRUE(hash.ok());
    if (!hash.ok() || *hash != kModelSha256) {
        ADD_FAILURE() << "test model missing or altered: " << test_model_path();
        return nullptr;
    }
    llm::LlamaOptions o;
    o.model_path = test_model_path();
    o.threads = 1;
    o.context_size = context_size;
    o.chat_template = std::move(chat_template);
    auto backend = llm::LlamaBackend::open(o);
    EXPECT_TRUE(backend.ok()) << (backend.ok() ? "" : backend.error().describe());
    return backend.ok() ? std::move(backend).value() : nullptr;
}

}  // namespace hyperalign::testing
