#include <gtest/gtest.h>

#include "util/result.hpp"

namespace cloakroom {
namespace {

TEST(Result, CarriesValueOrError) {
    Result<int> good = 3;
    ASSERT_TRUE(good.ok());
    EXPECT_EQ(*good, 3);
    Result<int> bad = make_error("x.y", "broken");
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.error().code, "x.y");
}

}  // namespace
}  // namespace cloakroom
