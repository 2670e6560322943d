// SecretResolver's file cache: a hit is served after a stat check, and every kind of change
// (rename, in-place rewrite, chmod, symlink swap, removal, directory chmod) forces a full read
// with all of its checks. cache_stats().reads counts full reads.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "secrets/resolver.hpp"
#include "secrets_test_util.hpp"

namespace cloakroom::secrets {
namespace {

using ::testing::HasSubstr;
using testing_support::file_ref;
using testing_support::rewrite_in_place;
using testing_support::ScopedEnv;
using testing_support::set_mtime;
using testing_support::TempDir;

ino_t inode_of(const std::filesystem::path& path) {
    struct stat st {};
    EXPECT_EQ(::lstat(path.c_str(), &st), 0);
    return st.st_ino;
}

class FileCache : public ::testing::Test {
  protected:
    TempDir dir;
    // cache_settle 0: the tests set distinct mtimes themselves instead of waiting.
    SecretResolver resolver{SecretSources{dir.path(), std::nullopt, std::chrono::seconds(5),
                                          std::chrono::milliseconds(0)}};

    Result<SecretValue> resolve(const std::string& id, std::vector<SecretWarning>* w = nullptr) {
        return resolver.resolve(file_ref(id), w);
    }
    std::uint64_t reads() const { return resolver.cache_stats().reads; }
    std::uint64_t hits() const { return resolver.cache_stats().hits; }
};

TEST_F(FileCache, HitReturnsSameValueWithoutRereading) {
    const auto path = dir.write("api", "value-one\n");
    set_mtime(path, 1'600'000'000);
    auto first = resolve("api");
    ASSERT_TRUE(first.ok()) << first.error().message;
    EXPECT_EQ(reads(), 1u);
    for (int i = 0; i < 3; ++i) {
        std::vector<SecretWarning> warnings;
        auto again = resolve("api", &warnings);
        ASSERT_TRUE(again.ok());
        EXPECT_EQ(again->reveal(), "value-one");
        EXPECT_TRUE(warnings.empty());
    }
    EXPECT_EQ(reads(), 1u);
    EXPECT_EQ(hits(), 3u);
    EXPECT_EQ(first->reveal(), "value-one");
}

TEST_F(FileCache, RenameWithSameSizeAndMtimeIsReread) {
    const auto path = dir.write("api", "value-one");
    set_mtime(path, 1'600'000'000);
    ASSERT_EQ(resolve("api")->reveal(), "value-one");
    const ino_t old_inode = inode_of(path);
    const auto staged = dir.write("api.tmp", "value-two");  // same size
    set_mtime(staged, 1'600'000'000);                       // same mtime
    std::filesystem::rename(staged, path);
    ASSERT_NE(inode_of(path), old_inode);
    auto value = resolve("api");
    ASSERT_TRUE(value.ok());
    EXPECT_EQ(value->reveal(), "value-two");
    EXPECT_EQ(reads(), 2u);
}

TEST_F(FileCache, InPlaceRewriteWithSameSizeIsReread) {
    const auto path = dir.write("api", "value-one");
    set_mtime(path, 1'600'000'000);
    ASSERT_EQ(resolve("api")->reveal(), "value-one");
    const ino_t inode = inode_of(path);
    rewrite_in_place(path, "value-two");
    set_mtime(path, 1'600'000'001);
    ASSERT_EQ(inode_of(path), inode);
    EXPECT_EQ(resolve("api")->reveal(), "value-two");
    EXPECT_EQ(reads(), 2u);
    EXPECT_EQ(resolve("api")->reveal(), "value-two");
    EXPECT_EQ(reads(), 2u);
}

TEST_F(FileCache, ChmodBringsTheWarningBack) {
    const auto path = dir.write("api", "value-one");
    set_mtime(path, 1'600'000'000);
    std::vector<SecretWarning> warnings;
    ASSERT_TRUE(resolve("api", &warnings).ok());
    EXPECT_TRUE(warnings.empty());

    ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
    ASSERT_TRUE(resolve("api", &warnings).ok());
    ASSERT_EQ(warnings.size(), 1u);
    EXPECT_EQ(warnings[0].actual_mode, 0644u);
    EXPECT_EQ(reads(), 2u);
    // A hit replays the warning of the read it came from.
    warnings.clear();
    ASSERT_TRUE(resolve("api", &warnings).ok());
    ASSERT_EQ(warnings.size(), 1u);
    EXPECT_EQ(warnings[0].path, path.string());
    EXPECT_EQ(reads(), 2u);

    ASSERT_EQ(::chmod(path.c_str(), 0600), 0);
    warnings.clear();
    ASSERT_TRUE(resolve("api", &warnings).ok());
    EXPECT_TRUE(warnings.empty());
    EXPECT_EQ(reads(), 3u);
}

TEST_F(FileCache, DirectoryChmodIsNoticed) {
    const auto path = dir.write("api", "value-one");
    set_mtime(path, 1'600'000'000);
    ASSERT_TRUE(resolve("api").ok());
    dir.chmod_root(0750);
    std::vector<SecretWarning> warnings;
    ASSERT_TRUE(resolve("api", &warnings).ok());
    ASSERT_EQ(warnings.size(), 1u);
    EXPECT_EQ(warnings[0].path, dir.path().string());
    EXPECT_EQ(warnings[0].actual_mode, 0750u);
    EXPECT_EQ(reads(), 2u);
    dir.chmod_root(0700);
    warnings.clear();
    ASSERT_TRUE(resolve("api", &warnings).ok());
    EXPECT_TRUE(warnings.empty());
}

TEST_F(FileCache, SymlinkSwapIsRefused) {
    const auto path = dir.write("api", "value-one");
    set_mtime(path, 1'600'000'000);
    ASSERT_TRUE(resolve("api").ok());
    const auto other = dir.write("other", "value-one");
    std::filesystem::remove(path);
    std::filesystem::create_symlink(other, path);
    auto value = resolve("api");
    ASSERT_FALSE(value.ok());
    EXPECT_EQ(value.error().code, "secret.unsafe");
    EXPECT_THAT(value.error().message, HasSubstr("symbolic link"));
    // The failed read dropped the entry: still refused, never the old value.
    EXPECT_FALSE(resolve("api").ok());
    EXPECT_EQ(hits(), 0u);
}

TEST_F(FileCache, RemovalIsMissingAndRecreationIsRead) {
    const auto path = dir.write("api", "value-one");
    set_mtime(path, 1'600'000'000);
    ASSERT_TRUE(resolve("api").ok());
    std::filesystem::remove(path);
    auto value = resolve("api");
    ASSERT_FALSE(value.ok());
    EXPECT_EQ(value.error().code, "secret.missing");
    dir.write("api", "value-new");
    EXPECT_EQ(resolve("api")->reveal(), "value-new");
}

TEST_F(FileCache, InvalidValueIsNotCached) {
    const auto path = dir.write("api", "value-one");
    set_mtime(path, 1'600'000'000);
    ASSERT_TRUE(resolve("api").ok());
    rewrite_in_place(path, "bad\r\nxx");
    set_mtime(path, 1'600'000'001);
    EXPECT_EQ(resolve("api").error().code, "secret.invalid");
    EXPECT_EQ(resolve("api").error().code, "secret.invalid");
    EXPECT_EQ(hits(), 0u);
    EXPECT_EQ(reads(), 3u);
}

TEST(FileCacheSettle, FreshlyChangedFileIsNotCached) {
    TempDir dir;
    SecretResolver resolver(SecretSources{dir.path(), std::nullopt, std::chrono::seconds(5)});
    dir.write("api", "value-one");  // ctime is now: inside the default 2 s settle window
    ASSERT_TRUE(resolver.resolve(file_ref("api")).ok());
    ASSERT_TRUE(resolver.resolve(file_ref("api")).ok());
    EXPECT_EQ(resolver.cache_stats().reads, 2u);
    EXPECT_EQ(resolver.cache_stats().hits, 0u);
}

TEST(FileCacheSystemd, CredentialsAreCachedAndRevalidated) {
    TempDir creds;
    const auto path = creds.write("db.password", "pg-s3cret\n", 0400);
    set_mtime(path, 1'600'000'000);
    creds.chmod_root(0500);
    SecretResolver resolver(
        SecretSources{{}, creds.path(), std::chrono::seconds(5), std::chrono::milliseconds(0)});
    const SecretRef ref{Provider::Systemd, "db.password", {}};
    EXPECT_EQ(resolver.resolve(ref)->reveal(), "pg-s3cret");
    EXPECT_EQ(resolver.resolve(ref)->reveal(), "pg-s3cret");
    EXPECT_EQ(resolver.cache_stats().reads, 1u);
    EXPECT_EQ(resolver.cache_stats().hits, 1u);
    // A file ref with the same ID is a different entry.
    EXPECT_EQ(resolver.resolve(file_ref("db.password")).error().code, "secret.missing");
    creds.chmod_root(0700);  // so TempDir can clean up
}

TEST(FileCacheOtherProviders, EnvAndExecAreNotCached) {
    TempDir dir;
    SecretResolver resolver(SecretSources{dir.path(), std::nullopt, std::chrono::seconds(5),
                                          std::chrono::milliseconds(0)});
    ScopedEnv env("CLOAKROOM_CACHE_TEST_ENV", "env-value");
    EXPECT_EQ(resolver.resolve(SecretRef{Provider::Env, "CLOAKROOM_CACHE_TEST_ENV", {}})->reveal(),
              "env-value");
    const auto path = dir.write("exec-source", "exec-one");
    set_mtime(path, 1'600'000'000);
    const SecretRef exec{Provider::Exec, "/bin/cat " + path.string(), {}};
    EXPECT_EQ(resolver.resolve(exec)->reveal(), "exec-one");
    rewrite_in_place(path, "exec-two");
    set_mtime(path, 1'600'000'000);  // same size and mtime: only a fresh run sees the change
    EXPECT_EQ(resolver.resolve(exec)->reveal(), "exec-two");
    EXPECT_EQ(resolver.cache_stats().reads, 0u);
    EXPECT_EQ(resolver.cache_stats().hits, 0u);
}

TEST_F(FileCache, ConcurrentResolvesAgree) {
    const auto path = dir.write("api", "value-one");
    set_mtime(path, 1'600'000'000);
    std::vector<std::thread> threads;
    std::vector<int> bad(4, 0);
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([this, t, &bad] {
            for (int i = 0; i < 200; ++i) {
                auto value = resolve("api");
                if (!value.ok() || value->reveal() != "value-one")
                    ++bad[static_cast<std::size_t>(t)];
            }
        });
    }
    for (auto& thread : threads) thread.join();
    for (const int count : bad) EXPECT_EQ(count, 0);
    EXPECT_GE(hits(), 790u);
}

}  // namespace
}  // namespace cloakroom::secrets
