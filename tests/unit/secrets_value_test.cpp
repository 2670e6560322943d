#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <type_traits>
#include <utility>

#include "secrets/secret_buffer.hpp"
#include "secrets/secret_value.hpp"
#include "secrets/value_rules.hpp"

namespace cloakroom::secrets {
namespace {

using ::testing::HasSubstr;

// --- SecretValue cannot leave through the usual doors -----------------------------------------

template <class T, class = void>
struct is_streamable : std::false_type {};
template <class T>
struct is_streamable<
    T, std::void_t<decltype(std::declval<std::ostream&>() << std::declval<const T&>())>>
    : std::true_type {};

template <class T, class = void>
struct has_nlohmann_to_json : std::false_type {};
template <class T>
struct has_nlohmann_to_json<T, std::void_t<decltype(nlohmann::to_json(
                                   std::declval<nlohmann::json&>(), std::declval<const T&>()))>>
    : std::true_type {};

// Sanity: the traits do detect the positive case, so the negative asserts below mean something.
static_assert(is_streamable<std::string>::value);
static_assert(has_nlohmann_to_json<std::string>::value);
static_assert(fmt::is_formattable<std::string>::value);

static_assert(!is_streamable<SecretValue>::value, "a SecretValue must not be streamable");
static_assert(!fmt::is_formattable<SecretValue>::value, "a SecretValue must not be formattable");
static_assert(!has_nlohmann_to_json<SecretValue>::value, "no JSON serializer for SecretValue");
static_assert(!std::is_constructible_v<nlohmann::json, const SecretValue&>,
              "nlohmann::json must not be constructible from a SecretValue");
static_assert(!std::is_assignable_v<nlohmann::json&, const SecretValue&>);
// No implicit way to its bytes either (that would make all of the above reachable again).
static_assert(!std::is_convertible_v<SecretValue, std::string>);
static_assert(!std::is_convertible_v<SecretValue, std::string_view>);
static_assert(!std::is_convertible_v<SecretValue, const char*>);
static_assert(!std::is_convertible_v<std::string, SecretValue>, "construction must be explicit");

TEST(SecretValue, RevealsOnlyThroughReveal) {
    SecretValue value(std::string("hunter2"));
    EXPECT_EQ(value.reveal(), "hunter2");
    EXPECT_EQ(value.size(), 7u);
    EXPECT_FALSE(value.empty());
}

TEST(SecretValue, MovedFromIsEmpty) {
    SecretValue value(std::string("hunter2"));
    SecretValue moved(std::move(value));
    EXPECT_EQ(moved.reveal(), "hunter2");
    EXPECT_TRUE(value.empty());  // NOLINT(bugprone-use-after-move): that is the point
    EXPECT_EQ(value.reveal(), "");

    SecretValue assigned;
    assigned = std::move(moved);
    EXPECT_EQ(assigned.reveal(), "hunter2");
    EXPECT_TRUE(moved.empty());  // NOLINT(bugprone-use-after-move)
}

// The object's own bytes, where a short string keeps its characters.
bool object_holds(const SecretValue& value, std::string_view needle) {
    const std::string_view raw(reinterpret_cast<const char*>(&value), sizeof(value));
    return raw.find(needle) != std::string_view::npos;
}

TEST(SecretValue, MoveLeavesNoBytesInTheSource) {
    SecretValue value(std::string("hunter2"));  // short: stored inside the object
    ASSERT_TRUE(object_holds(value, "hunter2"));
    SecretValue moved(std::move(value));
    // Not the whole word: clearing a string overwrites only its first byte.
    EXPECT_FALSE(object_holds(value, "nter2"));  // NOLINT(bugprone-use-after-move)

    SecretValue assigned(std::string("other12"));
    assigned = std::move(moved);
    EXPECT_EQ(assigned.reveal(), "hunter2");
    EXPECT_FALSE(object_holds(moved, "nter2"));  // NOLINT(bugprone-use-after-move)
}

TEST(SecretValue, MoveTakesOverTheBytesInsteadOfCopyingThem) {
    // A copy would leave one more heap block holding the secret and cost an allocation on
    // every request (the resolver and the injection plan move values around).
    SecretValue value(std::string(64, 'k'));
    const char* const bytes = value.reveal().data();
    SecretValue moved(std::move(value));
    EXPECT_EQ(moved.reveal().data(), bytes);
    SecretValue assigned;
    assigned = std::move(moved);
    EXPECT_EQ(assigned.reveal().data(), bytes);
    EXPECT_EQ(assigned.reveal(), std::string(64, 'k'));
}

TEST(SecretValue, CopiesAreIndependent) {
    SecretValue value(std::string("hunter2"));
    SecretValue copy = value;
    EXPECT_EQ(copy.reveal(), "hunter2");
    copy = SecretValue(std::string("other"));
    EXPECT_EQ(value.reveal(), "hunter2");
}

TEST(SecretValue, GoogleTestPrintsRedacted) {
    const std::string printed = ::testing::PrintToString(SecretValue(std::string("CANARY-1")));
    EXPECT_EQ(printed, "[REDACTED]");
    EXPECT_EQ(printed.find("CANARY"), std::string::npos);
}

// --- value rules -----------------------------------------------------------------------------

Result<std::string> run_rules(std::string_view bytes) {
    SecretBuffer buffer(bytes.size());
    std::copy(bytes.begin(), bytes.end(), buffer.data());
    buffer.set_size(bytes.size());
    if (auto valid = apply_value_rules(buffer, "test:x"); !valid) return valid.error();
    return std::string(buffer.view());
}

TEST(SecretValueRules, StripsExactlyOneTrailingNewline) {
    EXPECT_EQ(*run_rules("abc"), "abc");
    EXPECT_EQ(*run_rules("abc\n"), "abc");
    EXPECT_EQ(*run_rules("abc\r\n"), "abc");
}

TEST(SecretValueRules, TwoTrailingNewlinesLeaveAnLf) {
    auto result = run_rules("abc\n\n");
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.error().code, "secret.invalid");
    EXPECT_THAT(result.error().message, HasSubstr("line feed (LF) at byte offset 3"));
    EXPECT_THAT(result.error().message, HasSubstr("only one trailing newline"));
    auto crlf_twice = run_rules("abc\r\n\r\n");
    ASSERT_FALSE(crlf_twice.ok());
    EXPECT_THAT(crlf_twice.error().message, HasSubstr("carriage return (CR) at byte offset 3"));
}

TEST(SecretValueRules, LoneTrailingCrIsRejected) {
    auto result = run_rules("abc\r");
    ASSERT_FALSE(result.ok());
    EXPECT_THAT(result.error().message, HasSubstr("carriage return (CR) at byte offset 3"));
}

TEST(SecretValueRules, EmptyIsRejected) {
    for (std::string_view bytes :
         {std::string_view(""), std::string_view("\n"), std::string_view("\r\n")}) {
        auto result = run_rules(bytes);
        ASSERT_FALSE(result.ok());
        EXPECT_EQ(result.error().code, "secret.invalid");
        EXPECT_THAT(result.error().message, HasSubstr("is empty"));
    }
}

TEST(SecretValueRules, EmbeddedControlBytesNameRuleAndOffset) {
    struct Case {
        std::string_view bytes;
        const char* expected;
    };
    const Case cases[] = {
        {std::string_view("ab\0cd", 5), "NUL byte at byte offset 2"},
        {"ab\rcd", "carriage return (CR) at byte offset 2"},
        {"abc\nd", "line feed (LF) at byte offset 3"},
        {"\nabc", "line feed (LF) at byte offset 0"},
    };
    for (const auto& c : cases) {
        auto result = run_rules(c.bytes);
        ASSERT_FALSE(result.ok()) << c.expected;
        EXPECT_EQ(result.error().code, "secret.invalid");
        EXPECT_THAT(result.error().message, HasSubstr(c.expected));
    }
}

TEST(SecretValueRules, AcceptsValidUtf8) {
    EXPECT_EQ(*run_rules("p\xC3\xA4ss\xE2\x82\xAC\xF0\x9F\x94\x91"), "päss€🔑");
    EXPECT_TRUE(run_rules("\xF4\x8F\xBF\xBF").ok());  // U+10FFFF
    EXPECT_TRUE(run_rules("\xED\x9F\xBF").ok());      // U+D7FF, just below the surrogates
}

TEST(SecretValueRules, RejectsInvalidUtf8WithReasonAndOffset) {
    struct Case {
        std::string_view bytes;
        const char* expected;
    };
    const Case cases[] = {
        {"ab\x80", "unexpected continuation byte at byte offset 2"},  // lone continuation
        {"a\xC0\xAF", "overlong encoding at byte offset 1"},          // overlong '/'
        {"\xC1\xBF", "overlong encoding at byte offset 0"},
        {"\xE0\x80\xAF", "overlong encoding at byte offset 0"},
        {"\xF0\x80\x80\xAF", "overlong encoding at byte offset 0"},
        {"\xED\xA0\x80", "surrogate at byte offset 0"},
        {"\xF4\x90\x80\x80", "above U+10FFFF at byte offset 0"},
        {"\xF5\x80\x80\x80", "invalid UTF-8 lead byte at byte offset 0"},
        {"\xFF", "invalid UTF-8 lead byte at byte offset 0"},
        {"abc\xE2\x82", "truncated UTF-8 sequence at byte offset 3"},
        {"\xE2(x", "truncated UTF-8 sequence at byte offset 0"},
        {"\xF0\x9F\x94x", "truncated UTF-8 sequence at byte offset 0"},
    };
    for (const auto& c : cases) {
        auto result = run_rules(c.bytes);
        ASSERT_FALSE(result.ok()) << c.expected;
        EXPECT_EQ(result.error().code, "secret.invalid");
        EXPECT_THAT(result.error().message, HasSubstr("not valid UTF-8"));
        EXPECT_THAT(result.error().message, HasSubstr(c.expected));
    }
}

TEST(SecretBuffer, TakeProducesExactValueAndEmptiesBuffer) {
    SecretBuffer buffer(kMaxSecretBytes + 1);
    std::string_view text = "short";
    std::copy(text.begin(), text.end(), buffer.data());
    buffer.set_size(text.size());
    SecretValue value = buffer.take();
    EXPECT_EQ(value.reveal(), "short");
    EXPECT_EQ(buffer.size(), 0u);
}

}  // namespace
}  // namespace cloakroom::secrets
