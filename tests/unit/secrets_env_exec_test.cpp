// env and exec providers.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cerrno>
#include <chrono>
#include <string>
#include <vector>

#include "secrets/resolver.hpp"
#include "secrets_test_util.hpp"

namespace cloakroom::secrets {
namespace {

using ::testing::HasSubstr;
using testing_support::ScopedEnv;
using testing_support::TempDir;

SecretRef parse(std::string_view text) {
    auto ref = parse_secret_ref(text);
    EXPECT_TRUE(ref.ok()) << text;
    return ref.ok() ? *ref : SecretRef{};
}

SecretResolver make_resolver(std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    return SecretResolver(SecretSources{{}, std::nullopt, timeout});
}

// No zombies: every spawned helper has been reaped by the time resolve() returns.
void expect_no_children_left() {
    errno = 0;
    EXPECT_EQ(::waitpid(-1, nullptr, WNOHANG), -1);
    EXPECT_EQ(errno, ECHILD);
}

TEST(EnvProvider, Present) {
    ScopedEnv env("CLOAKROOM_TEST_SECRET", "env-s3cret\n");
    auto value = make_resolver().resolve(parse("env:CLOAKROOM_TEST_SECRET"));
    ASSERT_TRUE(value.ok()) << value.error().message;
    EXPECT_EQ(value->reveal(), "env-s3cret");
}

TEST(EnvProvider, Missing) {
    ScopedEnv env("CLOAKROOM_TEST_SECRET", nullptr);
    auto value = make_resolver().resolve(parse("env:CLOAKROOM_TEST_SECRET"));
    ASSERT_FALSE(value.ok());
    EXPECT_EQ(value.error().code, "secret.missing");
    EXPECT_THAT(value.error().message, HasSubstr("CLOAKROOM_TEST_SECRET is not set"));
}

TEST(EnvProvider, ValueRulesApply) {
    ScopedEnv empty("CLOAKROOM_TEST_EMPTY", "");
    ScopedEnv cr("CLOAKROOM_TEST_CR", "a\rb");
    const auto resolver = make_resolver();
    EXPECT_EQ(resolver.resolve(parse("env:CLOAKROOM_TEST_EMPTY")).error().code, "secret.invalid");
    auto value = resolver.resolve(parse("env:CLOAKROOM_TEST_CR"));
    ASSERT_FALSE(value.ok());
    EXPECT_EQ(value.error().code, "secret.invalid");
    EXPECT_THAT(value.error().message, HasSubstr("carriage return (CR) at byte offset 1"));
}

TEST(EnvProvider, RereadsEveryCall) {
    ScopedEnv env("CLOAKROOM_TEST_SECRET", "one");
    const auto resolver = make_resolver();
    EXPECT_EQ(resolver.resolve(parse("env:CLOAKROOM_TEST_SECRET"))->reveal(), "one");
    ::setenv("CLOAKROOM_TEST_SECRET", "two", 1);
    EXPECT_EQ(resolver.resolve(parse("env:CLOAKROOM_TEST_SECRET"))->reveal(), "two");
}

TEST(EnvProvider, HandBuiltBadNameIsRejected) {
    auto value = make_resolver().resolve(SecretRef{Provider::Env, "A=B", {}});
    ASSERT_FALSE(value.ok());
    EXPECT_EQ(value.error().code, "secret.ref");
}

TEST(ExecProvider, CapturesStdoutAndStripsNewline) {
    auto value = make_resolver().resolve(parse("exec:echo exec-s3cret"));
    ASSERT_TRUE(value.ok()) << value.error().message;
    EXPECT_EQ(value->reveal(), "exec-s3cret");
    expect_no_children_left();
}

TEST(ExecProvider, AbsolutePathAndArgumentsWithoutShell) {
    // Without a shell, "$HOME" and ";" are literal arguments.
    auto value = make_resolver().resolve(parse("exec:/bin/echo $HOME;id"));
    ASSERT_TRUE(value.ok()) << value.error().message;
    EXPECT_EQ(value->reveal(), "$HOME;id");
}

TEST(ExecProvider, StdinIsDevNull) {
    // cat reads stdin: with /dev/null it sees EOF at once, prints nothing, and the empty output
    // is rejected by the value rules instead of hanging until the timeout.
    const auto start = std::chrono::steady_clock::now();
    auto value = make_resolver().resolve(parse("exec:cat"));
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
    ASSERT_FALSE(value.ok());
    EXPECT_EQ(value.error().code, "secret.invalid");
    EXPECT_THAT(value.error().message, HasSubstr("is empty"));
}

TEST(ExecProvider, HandBuiltArgvIsUsed) {
    SecretRef ref{Provider::Exec, "", {"/bin/sh", "-c", "printf '%s' 'with spaces'"}};
    auto value = make_resolver().resolve(ref);
    ASSERT_TRUE(value.ok()) << value.error().message;
    EXPECT_EQ(value->reveal(), "with spaces");
}

TEST(ExecProvider, NonZeroExitReportsStatus) {
    SecretRef ref{Provider::Exec, "", {"/bin/sh", "-c", "echo partial; exit 3"}};
    auto value = make_resolver().resolve(ref);
    ASSERT_FALSE(value.ok());
    EXPECT_EQ(value.error().code, "secret.exec");
    EXPECT_THAT(value.error().message, HasSubstr("exited with status 3"));
    EXPECT_EQ(make_resolver().resolve(parse("exec:false")).error().code, "secret.exec");
    expect_no_children_left();
}

TEST(ExecProvider, KilledBySignalIsReported) {
    SecretRef ref{Provider::Exec, "", {"/bin/sh", "-c", "kill -TERM $$"}};
    auto value = make_resolver().resolve(ref);
    ASSERT_FALSE(value.ok());
    EXPECT_EQ(value.error().code, "secret.exec");
    EXPECT_THAT(value.error().message, HasSubstr("killed by signal 15"));
}

TEST(ExecProvider, UnknownCommand) {
    auto value = make_resolver().resolve(parse("exec:cloakroom-no-such-helper-xyz"));
    ASSERT_FALSE(value.ok());
    EXPECT_EQ(value.error().code, "secret.exec");
    EXPECT_THAT(value.error().message, HasSubstr("cannot run 'cloakroom-no-such-helper-xyz'"));
    auto absolute = make_resolver().resolve(parse("exec:/nonexistent/helper"));
    ASSERT_FALSE(absolute.ok());
    EXPECT_EQ(absolute.error().code, "secret.exec");
}

TEST(ExecProvider, TimeoutKillsAndReapsQuickly) {
    const auto start = std::chrono::steady_clock::now();
    auto value = make_resolver(std::chrono::milliseconds(200)).resolve(parse("exec:sleep 10"));
    const auto elapsed = std::chrono::steady_clock::now() - start;
    ASSERT_FALSE(value.ok());
    EXPECT_EQ(value.error().code, "secret.exec");
    EXPECT_THAT(value.error().message, HasSubstr("timed out after 200 ms"));
    EXPECT_LT(elapsed, std::chrono::milliseconds(800));
    EXPECT_GE(elapsed, std::chrono::milliseconds(190));
    expect_no_children_left();
}

TEST(ExecProvider, TimeoutAlsoKillsGrandchildrenHoldingStdout) {
    // The shell's child inherits stdout; killing only the shell would leave the pipe open.
    SecretRef ref{Provider::Exec, "", {"/bin/sh", "-c", "sleep 10; echo late"}};
    const auto start = std::chrono::steady_clock::now();
    auto value = make_resolver(std::chrono::milliseconds(200)).resolve(ref);
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(800));
    ASSERT_FALSE(value.ok());
    EXPECT_THAT(value.error().message, HasSubstr("timed out after 200 ms"));
}

TEST(ExecProvider, TimeoutAfterClosingStdout) {
    // Output done (EOF) but the process keeps running: the deadline still applies.
    SecretRef ref{Provider::Exec, "", {"/bin/sh", "-c", "echo value; exec >&-; sleep 10"}};
    const auto start = std::chrono::steady_clock::now();
    auto value = make_resolver(std::chrono::milliseconds(200)).resolve(ref);
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(800));
    ASSERT_FALSE(value.ok());
    EXPECT_EQ(value.error().code, "secret.exec");
    expect_no_children_left();
}

TEST(ExecProvider, OutputTooLarge) {
    auto value = make_resolver().resolve(parse("exec:head -c 70000 /dev/zero"));
    ASSERT_FALSE(value.ok());
    EXPECT_EQ(value.error().code, "secret.invalid");
    EXPECT_THAT(value.error().message, HasSubstr("larger than 65536 bytes"));
}

TEST(ExecProvider, EndlessOutputIsCutOffQuickly) {
    const auto start = std::chrono::steady_clock::now();
    auto value = make_resolver().resolve(parse("exec:yes"));
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
    ASSERT_FALSE(value.ok());
    EXPECT_EQ(value.error().code, "secret.invalid");
    expect_no_children_left();
}

TEST(ExecProvider, ValueRulesApplyToOutput) {
    auto value = make_resolver().resolve(parse("exec:printf a\\nb"));
    ASSERT_FALSE(value.ok());
    EXPECT_EQ(value.error().code, "secret.invalid");
    EXPECT_THAT(value.error().message, HasSubstr("line feed (LF) at byte offset 1"));
}

TEST(ExecProvider, RotationIsSeen) {
    TempDir dir;
    const auto file = dir.write("v", "one");
    const auto ref = parse("exec:cat " + file.string());
    const auto resolver = make_resolver();
    EXPECT_EQ(resolver.resolve(ref)->reveal(), "one");
    dir.write("v", "two");
    EXPECT_EQ(resolver.resolve(ref)->reveal(), "two");
}

}  // namespace
}  // namespace cloakroom::secrets
