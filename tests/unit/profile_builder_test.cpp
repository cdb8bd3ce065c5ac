#include "hyperalign/learn/profile_builder.hpp"

#include <gtest/gtest.h>

namespace hyperalign::learn {
namespace {

TEST(AutomaticNumInit, AllTextsInitialiseUntilTwiceTheBatchThenHalf) {
    EngineOptions e;  // init_batch_size 4, num_init 0 (automatic)
    EXPECT_EQ(automatic_num_init(e, 3), 3);
    EXPECT_EQ(automatic_num_init(e, 4), 4);
    EXPECT_EQ(automatic_num_init(e, 7), 7);
    EXPECT_EQ(automatic_num_init(e, 8), 4);  // 8 texts: 4 initialise, 4 go online
    EXPECT_EQ(automatic_num_init(e, 10), 5);
    EXPECT_EQ(automatic_num_init(e, 40), 20);
    e.init_batch_size = 3;
    EXPECT_EQ(automatic_num_init(e, 6), 3);
    EXPECT_EQ(automatic_num_init(e, 7), 3);
}

TEST(AutomaticNumInit, KeepsAnExplicitValue) {
    EngineOptions e;
    e.num_init = 6;
    EXPECT_EQ(automatic_num_init(e, 8), 6);
    EXPECT_EQ(automatic_num_init(e, 3), 6);  // the engine caps it at the rows it has
}

}  // namespace
}  // namespace hyperalign::learn
