#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "hyperalign/data/demonstration_loader.hpp"
#include "hyperalign/generate/generator.hpp"
#include "hyperalign/learn/profile_builder.hpp"
#include "hyperalign/llm/json_schema.hpp"
#include "support/model.hpp"

namespace hyperalign {
namespace {

constexpr const char* kAuthor = "FumikoFujisaki";

std::string read(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

learn::ProfileOptions small_options() {
    learn::ProfileOptions o;
    o.person = kAuthor;
    o.seed = 11;
    o.engine.init_batch_size = 3;
    o.engine.hypotheses_per_batch = 2;
    return o;
}

// Builds one CCAT50 author's profile from three of their real articles with the tiny model.
class CcatPipeline : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        data::LoadOptions lo;
        lo.author = kAuthor;
        lo.limit = 3;
        auto demos = data::load_demonstrations("ccat50", lo);
        if (!demos.ok()) {
            skip_reason_ = "CCAT50 data not found: " + demos.error().describe();
            return;
        }
        demos_ = new std::vector<Demonstration>(std::move(demos).value());
        backend_ = testing::open_test_model(2048).release();
        if (backend_ == nullptr)
            return;
        llm::Client client(*backend_);
        auto profile = learn::build_profile(client, *demos_, small_options());
        ASSERT_TRUE(profile.ok()) << profile.error().describe();
        profile_ = new Profile(std::move(profile).value());
    }
    static void TearDownTestSuite() {
        delete profile_;
        delete demos_;
        delete backend_;
    }
    void SetUp() override {
        // The shared datasets are part of the project's test data: without them these tests fail
        // (with what to do), rather than pass without running.
        if (!skip_reason_.empty())
            FAIL() << skip_reason_ << " (set HYPERALIGN_DATA_DIR to the shared data folder)";
        ASSERT_NE(profile_, nullptr);
    }

    static inline std::string skip_reason_;
    static inline std::vector<Demonstration>* demos_ = nullptr;
    static inline llm::LlamaBackend* backend_ = nullptr;
    static inline Profile* profile_ = nullptr;
};

TEST_F(CcatPipeline, TheProfileConformsToItsSchema) {
    auto schema =
        llm::JsonSchema::parse(read(HYPERALIGN_SOURCE_DIR "/schemas/profile.schema.json"));
    ASSERT_TRUE(schema.ok()) << schema.error().describe();
    Status valid = schema->validate(to_json(*profile_));
    EXPECT_TRUE(valid.ok()) << valid.error().describe();
}

TEST_F(CcatPipeline, TheProfileRecordsItsScoresEvidenceAndProvenance) {
    ASSERT_FALSE(profile_->hypotheses.empty());
    for (const auto& h : profile_->hypotheses) {
        EXPECT_EQ(h.visits, 3);  // every hypothesis scored on the three rows
        EXPECT_EQ(h.correct, int(h.evidence.size()));
        EXPECT_DOUBLE_EQ(h.accuracy, h.correct / 3.0);
    }
    for (size_t i = 1; i < profile_->hypotheses.size(); ++i) {
        EXPECT_GE(profile_->hypotheses[i - 1].accuracy, profile_->hypotheses[i].accuracy);
    }
    const Provenance& pv = profile_->provenance;
    EXPECT_EQ(pv.model_sha256, testing::kModelSha256);
    EXPECT_EQ(pv.seed, 11u);
    EXPECT_EQ(pv.context_size, 2048);
    EXPECT_EQ(pv.spend.at("contrast").calls, 3);
    EXPECT_EQ(pv.spend.at("hypothesis_generation").calls, 1);
    EXPECT_EQ(pv.spend.at("scoring").calls,
              int64_t(3 * profile_->hypotheses.size()) + pv.spend.at("scoring").failures);
    EXPECT_EQ(pv.prompt_versions.count("predict_pair"), 1u);
    ASSERT_EQ(profile_->demonstrations.size(), 3u);
    EXPECT_EQ(profile_->demonstrations[0].id, demos_->at(0).id);
    EXPECT_EQ(profile_->demonstrations[0].sha256.size(), 64u);
}

TEST_F(CcatPipeline, TheSameSeedGivesTheSameProfileApartFromItsCreationTime) {
    llm::Client client(*backend_);
    auto again = learn::build_profile(client, *demos_, small_options());
    ASSERT_TRUE(again.ok()) << again.error().describe();
    Profile a = *profile_;
    Profile b = std::move(again).value();
    EXPECT_NE(a.provenance.created_at, "");
    a.provenance.created_at = b.provenance.created_at = "";
    EXPECT_EQ(to_json(a), to_json(b));
}

TEST_F(CcatPipeline, GenerationWithEachMethodStopsWithinItsTokenLimit) {
    llm::Client client(*backend_);
    for (generate::Method m : generate::all_methods()) {
        generate::GenerateOptions o;
        o.method = m;
        o.sampling.max_tokens = 48;
        auto reply = generate::write(client, *profile_, o,
                                     "Write an article that starts with the following: Tokyo "
                                     "stocks rose on Monday.");
        ASSERT_TRUE(reply.ok()) << generate::to_string(m) << ": " << reply.error().describe();
        EXPECT_LE(reply->usage.tokens_completion, 48);
        EXPECT_GT(reply->usage.tokens_completion, 0);
    }
}

TEST(Pipeline, OtherAuthorsCanBeTheContrasts) {
    data::LoadOptions lo;
    lo.author = "custom_user_0";
    auto demos = data::load_demonstrations("custom", lo);
    auto pool = data::load_demonstrations("cmcc", {});
    ASSERT_TRUE(demos.ok() && pool.ok())
        << "shared data not found (set HYPERALIGN_DATA_DIR to the shared data folder)";
    auto backend = testing::open_test_model(2048);
    ASSERT_TRUE(backend);
    llm::Client client(*backend);
    learn::ProfileOptions o = small_options();
    o.attributes = false;
    o.contrast = learn::ContrastSource::others;
    o.contrast_pool = std::move(pool).value();
    auto profile = learn::build_profile(client, *demos, o);
    ASSERT_TRUE(profile.ok()) << profile.error().describe();
    auto spend = client.accounting().by_purpose;
    EXPECT_EQ(spend.count("contrast"), 0u);  // no model call for contrasts
    EXPECT_EQ(spend.count("attributes"), 0u);
    EXPECT_TRUE(profile->attributes.empty());
    EXPECT_FALSE(profile->hypotheses.empty());
}

}  // namespace
}  // namespace hyperalign

namespace hyperalign {
namespace {

// HypoGenic's online phase on real authors: the first rows initialise the bank, the rest are
// predicted by the top hypotheses by reward, and every hypothesis's record stays consistent.
void run_online_loop(const std::string& dataset, const std::string& author) {
    data::LoadOptions lo;
    lo.author = author;
    lo.limit = 5;
    auto demos = data::load_demonstrations(dataset, lo);
    ASSERT_TRUE(demos.ok()) << demos.error().describe()
                            << " (set HYPERALIGN_DATA_DIR to the shared data folder)";
    ASSERT_EQ(demos->size(), 5u);
    auto backend = testing::open_test_model(2048);
    ASSERT_TRUE(backend);
    llm::Client client(*backend);
    learn::ProfileOptions o;
    o.person = author;
    o.attributes = false;
    o.engine.num_init = 3;
    o.engine.init_batch_size = 3;
    o.engine.hypotheses_per_batch = 2;
    o.max_tokens_contrast = 160;  // shorter contrasts keep the test quick
    auto profile = learn::build_profile(client, *demos, o);
    ASSERT_TRUE(profile.ok()) << profile.error().describe();
    ASSERT_FALSE(profile->hypotheses.empty());
    int most_visits = 0;
    for (const auto& h : profile->hypotheses) {
        EXPECT_GE(h.visits, h.origin.rfind("init", 0) == 0 ? 3 : 1) << h.origin;
        EXPECT_LE(h.visits, 5);
        EXPECT_EQ(h.correct, int(h.evidence.size()));
        most_visits = std::max(most_visits, h.visits);
    }
    // Initial hypotheses were tested on the two rows after initialisation as well.
    EXPECT_EQ(most_visits, 5);
    EXPECT_EQ(profile->provenance.parameters.at("num_init"), "3");
}

TEST(Pipeline, TheOnlineLoopRunsOnARealCcat50Author) {
    run_online_loop("ccat50/ccat50_train_raw", "FumikoFujisaki");
}

TEST(Pipeline, TheOnlineLoopRunsOnARealCmccAuthor) {
    run_online_loop("cmcc", "S4");
}

}  // namespace
}  // namespace hyperalign
