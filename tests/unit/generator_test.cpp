#include "hyperalign/generate/generator.hpp"

#include <gtest/gtest.h>

#include "support/scripted_backend.hpp"

namespace hyperalign::generate {
namespace {

Profile sample_profile() {
    Profile p;
    p.person = "sam";
    p.attributes.writing_style = {"Short sentences.", "Lots of dashes."};
    p.attributes.personality = {"Cheerful."};
    p.attributes.communication = {"Asks the reader questions."};
    p.attributes.background = {"Works in a biology lab."};
    for (int i = 0; i < 7; ++i) {
        Hypothesis h;
        h.text = "Hypothesis number " + std::to_string(i + 1) + ".";
        h.accuracy = 1.0 - 0.1 * i;
        p.hypotheses.push_back(h);
    }
    p.demonstrations = {
        {"d1", "Write an email about lunch.", false, "Lunch is at noon - be there!", ""},
        {"d2", "Write an email about a seminar.", false, "Seminar moved - 3pm!", ""}};
    return p;
}

TEST(SystemPrefix, IsByteIdenticalAcrossTasks) {
    Profile p = sample_profile();
    for (Method m : all_methods()) {
        GenerateOptions o;
        o.method = m;
        auto a = compose(p, o, "Write an email about the picnic.");
        auto b = compose(p, o, "Write a tweet about a new paper.");
        ASSERT_TRUE(a.ok() && b.ok()) << to_string(m);
        if (m == Method::zero_shot) {
            EXPECT_EQ(a->messages.size(), 1u);
            continue;
        }
        ASSERT_EQ(a->messages.size(), 2u);
        EXPECT_EQ(a->messages[0].role, "system");
        EXPECT_EQ(a->messages[0].content, b->messages[0].content) << to_string(m);
        EXPECT_NE(a->messages[1].content, b->messages[1].content);
    }
}

TEST(SystemPrefix, EachMethodShowsExactlyItsParts) {
    Profile p = sample_profile();
    auto prefix = [&](Method m) {
        GenerateOptions o;
        o.method = m;
        o.top_hypotheses = 5;
        auto s = system_prefix(p, o);
        EXPECT_TRUE(s.ok());
        return s.ok() ? *s : std::string();
    };
    auto has = [](const std::string& s, const std::string& part) {
        return s.find(part) != std::string::npos;
    };
    EXPECT_EQ(prefix(Method::zero_shot), "");
    std::string attrs = prefix(Method::attributes);
    EXPECT_TRUE(has(attrs, "Lots of dashes."));
    EXPECT_FALSE(has(attrs, "Hypothesis number 1."));
    std::string hyps = prefix(Method::hypotheses);
    EXPECT_TRUE(has(hyps, "1. Hypothesis number 1."));
    EXPECT_TRUE(has(hyps, "5. Hypothesis number 5."));
    EXPECT_FALSE(has(hyps, "Hypothesis number 6."));  // only the top 5
    EXPECT_FALSE(has(hyps, "Lots of dashes."));
    std::string both = prefix(Method::hyperalign);
    EXPECT_TRUE(has(both, "Lots of dashes.") && has(both, "Hypothesis number 5."));
    std::string few = prefix(Method::few_shot);
    EXPECT_TRUE(has(few, "Seminar moved - 3pm!"));
    EXPECT_FALSE(has(few, "Hypothesis number 1."));
}

TEST(SystemPrefix, MethodsNeedTheirPartsOfTheProfile) {
    Profile p = sample_profile();
    p.hypotheses.clear();
    GenerateOptions o;
    o.method = Method::hypotheses;
    auto r = system_prefix(p, o);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::invalid_input);
    // hyperalign carries on with the attributes alone.
    o.method = Method::hyperalign;
    EXPECT_TRUE(system_prefix(p, o).ok());
    p.attributes = {};
    EXPECT_FALSE(system_prefix(p, o).ok());
}

TEST(Compose, RejectsAnEmptyTask) {
    auto r = compose(sample_profile(), {}, "   ");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::invalid_input);
}

TEST(Write, SendsTheComposedRequestWithItsSamplingAndPurpose) {
    testing::ScriptedBackend backend(
        [](const llm::ChatRequest&) { return "Picnic at 5 - bring food!"; });
    llm::Client client(backend);
    GenerateOptions o;
    o.sampling.seed = 9;
    o.sampling.max_tokens = 77;
    auto r = write(client, sample_profile(), o, "Write an email about the picnic.");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->text, "Picnic at 5 - bring food!");
    ASSERT_EQ(backend.requests.size(), 1u);
    EXPECT_EQ(backend.requests[0].sampling.seed, 9u);
    EXPECT_EQ(backend.requests[0].sampling.max_tokens, 77);
    EXPECT_EQ(backend.requests[0].purpose, "generation");
    EXPECT_EQ(client.accounting().by_purpose["generation"].calls, 1);
}

TEST(ParseMethod, KnowsEveryMethodAndRejectsOthers) {
    for (Method m : all_methods())
        EXPECT_EQ(*parse_method(to_string(m)), m);
    EXPECT_FALSE(parse_method("ditto").ok());
}

}  // namespace
}  // namespace hyperalign::generate
