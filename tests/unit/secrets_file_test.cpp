// File and systemd providers: path rules, file types, permissions, value rules, rotation.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "secrets/resolver.hpp"
#include "secrets_test_util.hpp"
#include "util/unique_fd.hpp"

namespace cloakroom::secrets {
namespace {

using ::testing::HasSubstr;
using testing_support::file_ref;
using testing_support::ScopedEnv;
using testing_support::TempDir;

class FileProvider : public ::testing::Test {
  protected:
    TempDir dir;
    SecretResolver resolver{SecretSources{dir.path(), std::nullopt, std::chrono::seconds(5)}};

    Result<SecretValue> resolve(const std::string& id, std::vector<SecretWarning>* w = nullptr) {
        return resolver.resolve(file_ref(id), w);
    }
};

TEST_F(FileProvider, ReadsValueAndStripsOneNewline) {
    dir.write("plain", "s3cret");
    dir.write("newline", "s3cret\n");
    dir.write("crlf", "s3cret\r\n");
    for (const char* id : {"plain", "newline", "crlf"}) {
        std::vector<SecretWarning> warnings;
        auto value = resolve(id, &warnings);
        ASSERT_TRUE(value.ok()) << id << ": " << value.error().message;
        EXPECT_EQ(value->reveal(), "s3cret") << id;
        EXPECT_TRUE(warnings.empty()) << id;
    }
}

TEST_F(FileProvider, TwoNewlinesAreRejected) {
    dir.write("two", "s3cret\n\n");
    auto value = resolve("two");
    ASSERT_FALSE(value.ok());
    EXPECT_EQ(value.error().code, "secret.invalid");
    EXPECT_THAT(value.error().message, HasSubstr("file:two"));
    EXPECT_THAT(value.error().message, HasSubstr("line feed (LF) at byte offset 6"));
}

TEST_F(FileProvider, EmbeddedControlBytesAndBadUtf8AreRejected) {
    dir.write("nul", std::string("ab\0cd", 5));
    dir.write("cr", "ab\rcd");
    dir.write("lf", "ab\ncd");
    dir.write("overlong", "ab\xC0\xAF");
    dir.write("continuation",
              "\x80"
              "abc");
    dir.write("empty", "");
    dir.write("just-newline", "\n");
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"nul", "NUL byte at byte offset 2"},
        {"cr", "carriage return (CR) at byte offset 2"},
        {"lf", "line feed (LF) at byte offset 2"},
        {"overlong", "overlong encoding at byte offset 2"},
        {"continuation", "unexpected continuation byte at byte offset 0"},
        {"empty", "is empty"},
        {"just-newline", "is empty"},
    };
    for (const auto& [id, expected] : cases) {
        auto value = resolve(id);
        ASSERT_FALSE(value.ok()) << id;
        EXPECT_EQ(value.error().code, "secret.invalid") << id;
        EXPECT_THAT(value.error().message, HasSubstr(expected)) << id;
    }
}

TEST_F(FileProvider, MissingFile) {
    auto value = resolve("nope");
    ASSERT_FALSE(value.ok());
    EXPECT_EQ(value.error().code, "secret.missing");
    EXPECT_THAT(value.error().message, HasSubstr("no secret file"));
}

TEST_F(FileProvider, MissingRootDirectory) {
    SecretResolver missing(SecretSources{dir / "absent", std::nullopt, {}});
    auto value = missing.resolve(file_ref("x"));
    ASSERT_FALSE(value.ok());
    EXPECT_EQ(value.error().code, "secret.missing");
    EXPECT_THAT(value.error().message, HasSubstr("does not exist"));

    SecretResolver unset(SecretSources{});
    EXPECT_EQ(unset.resolve(file_ref("x")).error().code, "secret.missing");
}

TEST_F(FileProvider, RootThatIsAFileIsAnError) {
    const auto not_dir = dir.write("not-a-dir", "x");
    SecretResolver bad(SecretSources{not_dir, std::nullopt, {}});
    auto value = bad.resolve(file_ref("x"));
    ASSERT_FALSE(value.ok());
    EXPECT_EQ(value.error().code, "secret.io");
}

TEST_F(FileProvider, HandBuiltRefsAreStillConfinedToTheRoot) {
    // SecretRef is a plain struct; the resolver re-validates what the parser would have refused.
    TempDir outside;
    outside.write("x", "outside-secret");
    const std::string escape = "../" + outside.path().filename().string() + "/x";
    for (const std::string& id : {escape, std::string("a/b"), std::string(".."), std::string("."),
                                  std::string(""), std::string("/etc/passwd")}) {
        auto value = resolve(id);
        ASSERT_FALSE(value.ok()) << id;
        EXPECT_EQ(value.error().code, "secret.ref") << id;
    }
}

TEST_F(FileProvider, SymlinkToFileIsRejected) {
    const auto target = dir.write("real", "s3cret");
    std::filesystem::create_symlink(target, dir / "link");
    auto value = resolve("link");
    ASSERT_FALSE(value.ok());
    EXPECT_EQ(value.error().code, "secret.unsafe");
    EXPECT_THAT(value.error().message, HasSubstr("symbolic link"));
}

TEST_F(FileProvider, RelativeSymlinkAndDanglingSymlinkAreRejected) {
    dir.write("real", "s3cret");
    std::filesystem::create_symlink("real", dir / "relative");
    std::filesystem::create_symlink("nowhere", dir / "dangling");
    EXPECT_EQ(resolve("relative").error().code, "secret.unsafe");
    EXPECT_EQ(resolve("dangling").error().code, "secret.unsafe");
}

TEST_F(FileProvider, SymlinkToDirectoryIsRejected) {
    std::filesystem::create_directory(dir / "subdir");
    std::filesystem::create_directory_symlink(dir / "subdir", dir / "dirlink");
    auto value = resolve("dirlink");
    ASSERT_FALSE(value.ok());
    EXPECT_EQ(value.error().code, "secret.unsafe");
    EXPECT_THAT(value.error().message, HasSubstr("symbolic link"));
}

TEST_F(FileProvider, DirectoryAsIdIsRejected) {
    std::filesystem::create_directory(dir / "subdir");
    auto value = resolve("subdir");
    ASSERT_FALSE(value.ok());
    EXPECT_EQ(value.error().code, "secret.unsafe");
    EXPECT_THAT(value.error().message, HasSubstr("a directory"));
}

TEST_F(FileProvider, FifoIsRejectedWithoutHanging) {
    ASSERT_EQ(::mkfifo((dir / "fifo").c_str(), 0600), 0);
    const auto start = std::chrono::steady_clock::now();
    auto value = resolve("fifo");
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
    ASSERT_FALSE(value.ok());
    EXPECT_EQ(value.error().code, "secret.unsafe");
    EXPECT_THAT(value.error().message, HasSubstr("FIFO"));
}

TEST_F(FileProvider, SocketIsRejected) {
    UniqueFd sock(::socket(AF_UNIX, SOCK_STREAM, 0));
    ASSERT_TRUE(sock.valid());
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    const std::string path = (dir / "sock").string();
    if (path.size() >= sizeof(addr.sun_path)) GTEST_SKIP() << "temp path too long for a socket";
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    ASSERT_EQ(::bind(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    auto value = resolve("sock");
    ASSERT_FALSE(value.ok());
    EXPECT_EQ(value.error().code, "secret.unsafe");
    EXPECT_THAT(value.error().message, HasSubstr("socket"));
}

TEST_F(FileProvider, LooseDirectoryModeWarnsButResolves) {
    dir.write("id", "s3cret");
    dir.chmod_root(0755);
    std::vector<SecretWarning> warnings;
    auto value = resolve("id", &warnings);
    ASSERT_TRUE(value.ok()) << value.error().message;
    EXPECT_EQ(value->reveal(), "s3cret");
    ASSERT_EQ(warnings.size(), 1u);
    EXPECT_EQ(warnings[0].code, "unsafe_permissions");
    EXPECT_EQ(warnings[0].path, dir.path().string());
    EXPECT_EQ(warnings[0].actual_mode, 0755u);
    EXPECT_EQ(warnings[0].expected_mode, 0700u);
    EXPECT_THAT(warnings[0].message, HasSubstr("mode 0755; expected 0700"));
}

TEST_F(FileProvider, LooseFileModeWarnsButResolves) {
    const auto path = dir.write("id", "s3cret", 0644);
    std::vector<SecretWarning> warnings;
    auto value = resolve("id", &warnings);
    ASSERT_TRUE(value.ok());
    ASSERT_EQ(warnings.size(), 1u);
    EXPECT_EQ(warnings[0].code, "unsafe_permissions");
    EXPECT_EQ(warnings[0].path, path.string());
    EXPECT_EQ(warnings[0].actual_mode, 0644u);
    EXPECT_EQ(warnings[0].expected_mode, 0600u);
    EXPECT_THAT(warnings[0].message, HasSubstr("mode 0644; expected 0600"));
}

TEST_F(FileProvider, BothLooseGiveTwoWarningsOnEveryCall) {
    dir.write("id", "s3cret", 0666);
    dir.chmod_root(0777);
    for (int call = 0; call < 2; ++call) {
        std::vector<SecretWarning> warnings;
        ASSERT_TRUE(resolve("id", &warnings).ok());
        EXPECT_EQ(warnings.size(), 2u);
    }
}

TEST_F(FileProvider, StricterOwnerOnlyModesDoNotWarn) {
    dir.write("id", "s3cret", 0400);
    dir.chmod_root(0500);
    std::vector<SecretWarning> warnings;
    auto value = resolve("id", &warnings);
    dir.chmod_root(0700);  // so the fixture can clean up without root
    ASSERT_TRUE(value.ok());
    EXPECT_TRUE(warnings.empty());
}

TEST_F(FileProvider, WarningsWithoutSinkAreDropped) {
    dir.write("id", "s3cret", 0644);
    EXPECT_TRUE(resolve("id").ok());
}

TEST_F(FileProvider, OversizedFileIsRejected) {
    dir.write("big", std::string(64 * 1024 + 1, 'a'));
    dir.write("max", std::string(64 * 1024, 'a'));
    auto big = resolve("big");
    ASSERT_FALSE(big.ok());
    EXPECT_EQ(big.error().code, "secret.invalid");
    EXPECT_THAT(big.error().message, HasSubstr("larger than 65536 bytes"));
    auto max = resolve("max");
    ASSERT_TRUE(max.ok());
    EXPECT_EQ(max->size(), 64u * 1024u);
}

TEST_F(FileProvider, RotationInPlaceIsSeenWithoutReload) {
    dir.write("rotating", "first-value\n");
    auto first = resolve("rotating");
    ASSERT_TRUE(first.ok());
    EXPECT_EQ(first->reveal(), "first-value");
    dir.write("rotating", "second-value\n");
    auto second = resolve("rotating");
    ASSERT_TRUE(second.ok());
    EXPECT_EQ(second->reveal(), "second-value");
    // Already resolved values are unaffected.
    EXPECT_EQ(first->reveal(), "first-value");
}

TEST_F(FileProvider, RotationByAtomicRenameIsSeen) {
    dir.write("rotating", "first-value");
    ASSERT_EQ(resolve("rotating")->reveal(), "first-value");
    const auto staged = dir.write("rotating.tmp", "second-value");
    std::filesystem::rename(staged, dir / "rotating");
    ASSERT_EQ(resolve("rotating")->reveal(), "second-value");
    std::filesystem::remove(dir / "rotating");
    EXPECT_EQ(resolve("rotating").error().code, "secret.missing");
}

// --- systemd credentials ------------------------------------------------------------------------

SecretRef systemd_ref(std::string id) {
    return SecretRef{Provider::Systemd, std::move(id), {}};
}

TEST(SystemdProvider, ReadsFromCredentialsDirectoryEnv) {
    TempDir creds;
    creds.write("db.password", "pg-s3cret\n", 0400);
    creds.chmod_root(0500);
    ScopedEnv env("CREDENTIALS_DIRECTORY", creds.path().c_str());
    SecretResolver resolver(SecretSources{});
    ASSERT_TRUE(resolver.sources().credentials_directory.has_value());
    std::vector<SecretWarning> warnings;
    auto value = resolver.resolve(systemd_ref("db.password"), &warnings);
    creds.chmod_root(0700);
    ASSERT_TRUE(value.ok()) << value.error().message;
    EXPECT_EQ(value->reveal(), "pg-s3cret");
    EXPECT_TRUE(warnings.empty());
}

TEST(SystemdProvider, ExplicitDirectoryWinsOverEnv) {
    TempDir creds;
    TempDir other;
    creds.write("c", "from-explicit", 0400);
    other.write("c", "from-env", 0400);
    ScopedEnv env("CREDENTIALS_DIRECTORY", other.path().c_str());
    SecretResolver resolver(SecretSources{{}, creds.path(), {}});
    EXPECT_EQ(resolver.resolve(systemd_ref("c"))->reveal(), "from-explicit");
}

TEST(SystemdProvider, UnsetCredentialsDirectoryIsMissing) {
    ScopedEnv env("CREDENTIALS_DIRECTORY", nullptr);
    SecretResolver resolver(SecretSources{});
    auto value = resolver.resolve(systemd_ref("c"));
    ASSERT_FALSE(value.ok());
    EXPECT_EQ(value.error().code, "secret.missing");
    EXPECT_THAT(value.error().message, HasSubstr("CREDENTIALS_DIRECTORY is not set"));
}

TEST(SystemdProvider, SameFileRulesApply) {
    TempDir creds;
    creds.write("real", "x", 0400);
    std::filesystem::create_symlink(creds / "real", creds / "link");
    SecretResolver resolver(SecretSources{{}, creds.path(), {}});
    EXPECT_EQ(resolver.resolve(systemd_ref("link")).error().code, "secret.unsafe");
    EXPECT_EQ(resolver.resolve(systemd_ref("../x")).error().code, "secret.ref");
    EXPECT_EQ(resolver.resolve(systemd_ref("absent")).error().code, "secret.missing");
}

TEST(SystemdProvider, GroupReadableCredentialWarnsWithReadOnlyExpectation) {
    TempDir creds;
    creds.write("c", "x", 0440);
    SecretResolver resolver(SecretSources{{}, creds.path(), {}});
    std::vector<SecretWarning> warnings;
    ASSERT_TRUE(resolver.resolve(systemd_ref("c"), &warnings).ok());
    ASSERT_EQ(warnings.size(), 1u);
    EXPECT_EQ(warnings[0].actual_mode, 0440u);
    EXPECT_EQ(warnings[0].expected_mode, 0400u);
}

}  // namespace
}  // namespace cloakroom::secrets
