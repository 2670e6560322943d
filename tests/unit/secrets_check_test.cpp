// check() statuses, and the canary: no error, warning or status ever carries the value.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

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

TEST(SecretCheck, ReportsEachStatus) {
    TempDir dir;
    dir.write("good", "s3cret");
    dir.write("loose", "s3cret", 0644);
    dir.write("bad", "a\nb");
    std::filesystem::create_symlink(dir / "good", dir / "link");
    ScopedEnv env("CLOAKROOM_TEST_UNSET", nullptr);
    SecretResolver resolver(SecretSources{dir.path(), std::nullopt, std::chrono::seconds(5)});

    const std::vector<SecretRef> refs = {
        parse("file:good"),  parse("file:loose"), parse("file:absent"),
        parse("file:bad"),   parse("file:link"),  parse("env:CLOAKROOM_TEST_UNSET"),
        parse("exec:false"),
    };
    const auto statuses = resolver.check(refs);
    ASSERT_EQ(statuses.size(), refs.size());
    for (std::size_t i = 0; i < refs.size(); ++i) EXPECT_EQ(statuses[i].ref, refs[i]);

    EXPECT_EQ(statuses[0].status, SecretStatus::Ok);
    EXPECT_TRUE(statuses[0].detail.empty());
    EXPECT_TRUE(statuses[0].warnings.empty());

    EXPECT_EQ(statuses[1].status, SecretStatus::UnsafePermissions);
    EXPECT_THAT(statuses[1].detail, HasSubstr("0644"));
    ASSERT_EQ(statuses[1].warnings.size(), 1u);
    EXPECT_EQ(statuses[1].warnings[0].expected_mode, 0600u);

    EXPECT_EQ(statuses[2].status, SecretStatus::Missing);
    EXPECT_EQ(statuses[2].error_code, "secret.missing");
    EXPECT_THAT(statuses[2].detail, HasSubstr("no secret file"));

    EXPECT_EQ(statuses[3].status, SecretStatus::Invalid);
    EXPECT_THAT(statuses[3].detail, HasSubstr("line feed (LF) at byte offset 1"));

    EXPECT_EQ(statuses[4].status, SecretStatus::Error);
    EXPECT_EQ(statuses[4].error_code, "secret.unsafe");

    EXPECT_EQ(statuses[5].status, SecretStatus::Missing);
    EXPECT_EQ(statuses[6].status, SecretStatus::Error);
    EXPECT_EQ(statuses[6].error_code, "secret.exec");
}

TEST(SecretCheck, ErrorWinsOverWarnings) {
    TempDir dir;
    dir.write("bad", "", 0644);
    SecretResolver resolver(SecretSources{dir.path(), std::nullopt, {}});
    const auto statuses = resolver.check({parse("file:bad")});
    ASSERT_EQ(statuses.size(), 1u);
    EXPECT_EQ(statuses[0].status, SecretStatus::Invalid);
    EXPECT_EQ(statuses[0].warnings.size(), 1u);  // still reported, structured
}

TEST(SecretCheck, StatusNames) {
    EXPECT_EQ(to_string(SecretStatus::Ok), "ok");
    EXPECT_EQ(to_string(SecretStatus::Missing), "missing");
    EXPECT_EQ(to_string(SecretStatus::UnsafePermissions), "unsafe_permissions");
    EXPECT_EQ(to_string(SecretStatus::Invalid), "invalid");
    EXPECT_EQ(to_string(SecretStatus::Status::Error), "error");
}

// --- canary ---------------------------------------------------------------------------------

constexpr std::string_view kCanary = "CANARY-9f41c2d7e8";
constexpr std::string_view kCanaryCore = "9f41c2d7";  // catches partial echoes too

void expect_clean(const std::string& text, const std::string& where) {
    EXPECT_EQ(text.find(kCanary), std::string::npos) << where << ": " << text;
    EXPECT_EQ(text.find(kCanaryCore), std::string::npos) << where << ": " << text;
}

TEST(SecretCanary, NoMessageEverContainsTheValue) {
    TempDir dir;
    const std::string canary(kCanary);
    // Every failure path we can reach while the canary is what was read.
    dir.write("lf", canary + "\n" + canary);
    dir.write("two-newlines", canary + "\n\n");
    dir.write("cr", canary + "\r" + canary);
    dir.write("nul", canary + std::string(1, '\0') + canary);
    dir.write("utf8", canary + "\xC0\xAF");
    dir.write("continuation", canary + "\x80");
    dir.write("big", canary + std::string(70000, 'x'));
    dir.write("loose-lf", canary + "\n" + canary, 0666);
    dir.write("loose-ok", canary, 0666);
    dir.write("good", canary);
    dir.chmod_root(0755);
    ScopedEnv env("CLOAKROOM_TEST_CANARY", (canary + "\r\n\r\n").c_str());

    SecretResolver resolver(SecretSources{dir.path(), std::nullopt, std::chrono::seconds(5)});
    std::vector<SecretRef> refs;
    for (const char* id : {"lf", "two-newlines", "cr", "nul", "utf8", "continuation", "big",
                           "loose-lf", "loose-ok", "good"}) {
        refs.push_back(SecretRef{Provider::File, id, {}});
    }
    refs.push_back(parse("env:CLOAKROOM_TEST_CANARY"));
    // exec helpers read the canary from a file, so it is in their output and never in the
    // reference (the command line is configuration and is named in messages).
    dir.write("src", canary);
    const std::string src = "'" + (dir / "src").string() + "'";
    const auto sh = [](std::string script) {
        return SecretRef{Provider::Exec, "", {"/bin/sh", "-c", std::move(script)}};
    };
    refs.push_back(sh("cat " + src + "; printf '\\n\\n'"));  // two newlines
    refs.push_back(sh("cat " + src + " >&2; exit 4"));       // stderr, then failure
    refs.push_back(sh("cat " + src + "; exit 5"));           // stdout, then failure
    refs.push_back(sh("c=$(cat " + src + "); while :; do printf %s \"$c\"; done"));  // too large
    refs.push_back(sh("cat " + src + "; printf '\\r\\n\\r\\n'"));                    // CR
    int failures = 0;
    for (const auto& ref : refs) {
        std::vector<SecretWarning> warnings;
        auto value = resolver.resolve(ref, &warnings);
        const std::string where = ref.text().substr(0, 24);
        if (!value.ok()) {
            ++failures;
            expect_clean(value.error().code, where);
            expect_clean(value.error().message, where);
        }
        for (const auto& warning : warnings) {
            expect_clean(warning.code, where);
            expect_clean(warning.path, where);
            expect_clean(warning.message, where);
        }
    }
    EXPECT_EQ(failures, static_cast<int>(refs.size()) - 2);  // only loose-ok and good resolve
    EXPECT_EQ(refs.size(), 16u);
    // The paths were really exercised (not, say, all timing out).
    EXPECT_EQ(resolver.resolve(refs[6]).error().code, "secret.invalid");   // file too large
    EXPECT_EQ(resolver.resolve(refs[12]).error().code, "secret.exec");     // exit 4
    EXPECT_EQ(resolver.resolve(refs[14]).error().code, "secret.invalid");  // output too large

    for (const auto& status : resolver.check(refs)) {
        expect_clean(status.detail, "check");
        for (const auto& warning : status.warnings) expect_clean(warning.message, "check");
    }
}

}  // namespace
}  // namespace cloakroom::secrets
