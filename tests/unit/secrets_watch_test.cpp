// SecretResolver's inotify fast path: an unchanged cached file is served with no stat
// (cache_stats().fast_hits), and every change -- made through the directory, through a hard link
// elsewhere, or to the directory itself -- is seen on the very next resolve. A redirection of the
// root path (a parent directory replaced) is seen within SecretSources::root_recheck.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
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

using namespace std::chrono_literals;
using testing_support::file_ref;
using testing_support::rewrite_in_place;
using testing_support::set_mtime;
using testing_support::TempDir;

// cache_settle 0: the tests set distinct mtimes themselves instead of waiting.
SecretSources sources_for(const std::filesystem::path& root, bool watch = true,
                          std::chrono::milliseconds recheck = 1000ms) {
    SecretSources sources;
    sources.file_root = root;
    sources.credentials_directory = std::filesystem::path();  // not from the environment
    sources.cache_settle = 0ms;
    sources.watch = watch;
    sources.root_recheck = recheck;
    return sources;
}

class WatchedCache : public ::testing::Test {
  protected:
    TempDir dir;
    SecretResolver resolver{sources_for(dir.path())};

    Result<SecretValue> resolve(const std::string& id, std::vector<SecretWarning>* w = nullptr) {
        return resolver.resolve(file_ref(id), w);
    }
    std::string value(const std::string& id) {
        auto got = resolve(id);
        return got.ok() ? std::string(got->reveal()) : "error: " + got.error().code;
    }
    std::uint64_t reads() const { return resolver.cache_stats().reads; }
    std::uint64_t hits() const { return resolver.cache_stats().hits; }
    std::uint64_t fast() const { return resolver.cache_stats().fast_hits; }

    // Caches "api" = value-one and checks that the next resolve is served by inotify alone.
    std::filesystem::path cache_api() {
        const auto path = dir.write("api", "value-one");
        set_mtime(path, 1'600'000'000);
        EXPECT_EQ(value("api"), "value-one");
        EXPECT_EQ(value("api"), "value-one");
        EXPECT_EQ(fast(), 1u);
        return path;
    }
};

TEST_F(WatchedCache, UnchangedFileIsServedWithoutStats) {
    cache_api();
    for (int i = 0; i < 10; ++i) EXPECT_EQ(value("api"), "value-one");
    EXPECT_EQ(reads(), 1u);
    EXPECT_EQ(hits(), 11u);
    EXPECT_EQ(fast(), 11u);
}

TEST_F(WatchedCache, InPlaceRewriteWithSameSizeAndMtimeIsSeenAtOnce) {
    const auto path = cache_api();
    rewrite_in_place(path, "value-two");
    set_mtime(path, 1'600'000'000);  // same size, same mtime
    EXPECT_EQ(value("api"), "value-two");
    EXPECT_EQ(reads(), 2u);
    EXPECT_EQ(value("api"), "value-two");
    EXPECT_EQ(fast(), 2u);
}

TEST_F(WatchedCache, EveryRewriteIsSeenOnTheNextResolve) {
    const auto path = cache_api();
    for (int i = 0; i < 50; ++i) {
        const std::string next = "value-" + std::to_string(100 + i);
        rewrite_in_place(path, next);
        set_mtime(path, 1'600'000'000);
        EXPECT_EQ(value("api"), next);
        EXPECT_EQ(value("api"), next);
    }
    EXPECT_EQ(reads(), 51u);
}

TEST_F(WatchedCache, RenameOverIsSeenAtOnce) {
    const auto path = cache_api();
    const auto staged = dir.write("api.tmp", "value-two");
    set_mtime(staged, 1'600'000'000);
    std::filesystem::rename(staged, path);
    EXPECT_EQ(value("api"), "value-two");
    EXPECT_EQ(reads(), 2u);
}

TEST_F(WatchedCache, ChmodBringsTheWarningBackAtOnce) {
    const auto path = cache_api();
    ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
    std::vector<SecretWarning> warnings;
    ASSERT_TRUE(resolve("api", &warnings).ok());
    ASSERT_EQ(warnings.size(), 1u);
    EXPECT_EQ(warnings[0].actual_mode, 0644u);
    // Fast hits replay it.
    warnings.clear();
    const auto fast_before = fast();
    ASSERT_TRUE(resolve("api", &warnings).ok());
    ASSERT_EQ(warnings.size(), 1u);
    EXPECT_EQ(fast(), fast_before + 1);
    ASSERT_EQ(::chmod(path.c_str(), 0600), 0);
    warnings.clear();
    ASSERT_TRUE(resolve("api", &warnings).ok());
    EXPECT_TRUE(warnings.empty());
    EXPECT_EQ(reads(), 3u);
}

TEST_F(WatchedCache, ChownIsSeenAtOnce) {
    if (::geteuid() != 0) GTEST_SKIP() << "chown needs root";
    const auto path = cache_api();
    ASSERT_EQ(::chown(path.c_str(), 1, static_cast<gid_t>(-1)), 0);
    EXPECT_EQ(value("api"), "value-one");
    EXPECT_EQ(reads(), 2u);
    ASSERT_EQ(::chown(path.c_str(), 0, static_cast<gid_t>(-1)), 0);
    EXPECT_EQ(value("api"), "value-one");
    EXPECT_EQ(reads(), 3u);
}

TEST_F(WatchedCache, RemovalIsMissingAtOnce) {
    const auto path = cache_api();
    std::filesystem::remove(path);
    EXPECT_EQ(value("api"), "error: secret.missing");
    EXPECT_EQ(value("api"), "error: secret.missing");
    dir.write("api", "value-new");
    EXPECT_EQ(value("api"), "value-new");
}

TEST_F(WatchedCache, SymlinkSwapIsRefusedAtOnce) {
    const auto path = cache_api();
    const auto other = dir.write("other", "value-one");
    std::filesystem::remove(path);
    std::filesystem::create_symlink(other, path);
    EXPECT_EQ(value("api"), "error: secret.unsafe");
    EXPECT_EQ(value("api"), "error: secret.unsafe");
}

TEST_F(WatchedCache, DirectoryChmodIsSeenAtOnce) {
    cache_api();
    dir.chmod_root(0750);
    std::vector<SecretWarning> warnings;
    ASSERT_TRUE(resolve("api", &warnings).ok());
    ASSERT_EQ(warnings.size(), 1u);
    EXPECT_EQ(warnings[0].path, dir.path().string());
    dir.chmod_root(0700);
    warnings.clear();
    ASSERT_TRUE(resolve("api", &warnings).ok());
    EXPECT_TRUE(warnings.empty());
    EXPECT_EQ(reads(), 3u);
}

TEST_F(WatchedCache, WriteThroughAHardLinkElsewhereIsSeenAtOnce) {
    const auto path = cache_api();
    TempDir elsewhere;
    const auto link = elsewhere / "alias";
    ASSERT_EQ(::link(path.c_str(), link.c_str()), 0);
    // link() changed the inode's link count (and ctime): revalidated, read again.
    EXPECT_EQ(value("api"), "value-one");
    EXPECT_EQ(value("api"), "value-one");
    const auto fast_before = fast();
    EXPECT_EQ(value("api"), "value-one");
    EXPECT_EQ(fast(), fast_before + 1);
    rewrite_in_place(link, "value-two");  // not through the watched directory
    set_mtime(link, 1'600'000'000);
    EXPECT_EQ(value("api"), "value-two");
}

TEST_F(WatchedCache, UnrelatedChangeRevalidatesWithoutRereading) {
    const auto unrelated = dir.write("unrelated", "x");
    cache_api();
    rewrite_in_place(unrelated, "y");  // (a new name would change the directory's ctime)
    const auto fast_before = fast();
    EXPECT_EQ(value("api"), "value-one");  // stat-validated
    EXPECT_EQ(fast(), fast_before);
    EXPECT_EQ(value("api"), "value-one");  // inotify again
    EXPECT_EQ(fast(), fast_before + 1);
    EXPECT_EQ(reads(), 1u);
}

TEST_F(WatchedCache, FreshlyWrittenFileIsStillNotCached) {
    SecretSources sources = sources_for(dir.path());
    sources.cache_settle = 2000ms;
    SecretResolver settling(sources);
    dir.write("api", "value-one");
    ASSERT_TRUE(settling.resolve(file_ref("api")).ok());
    ASSERT_TRUE(settling.resolve(file_ref("api")).ok());
    EXPECT_EQ(settling.cache_stats().reads, 2u);
    EXPECT_EQ(settling.cache_stats().hits, 0u);
}

TEST(WatchedCacheRoot, DirectoryMovedAwayAndReplacedIsSeenAtOnce) {
    TempDir base;
    const auto root = base / "secrets";
    ASSERT_TRUE(std::filesystem::create_directory(root));
    ::chmod(root.c_str(), 0700);
    SecretResolver resolver(sources_for(root));
    {
        std::ofstream(root / "api") << "value-one";
        ::chmod((root / "api").c_str(), 0600);
    }
    set_mtime(root / "api", 1'600'000'000);
    ASSERT_EQ(resolver.resolve(file_ref("api"))->reveal(), "value-one");
    ASSERT_EQ(resolver.resolve(file_ref("api"))->reveal(), "value-one");
    ASSERT_EQ(resolver.cache_stats().fast_hits, 1u);

    std::filesystem::rename(root, base / "old");
    ASSERT_TRUE(std::filesystem::create_directory(root));
    ::chmod(root.c_str(), 0700);
    {
        std::ofstream(root / "api") << "value-two";
        ::chmod((root / "api").c_str(), 0600);
    }
    set_mtime(root / "api", 1'600'000'000);
    EXPECT_EQ(resolver.resolve(file_ref("api"))->reveal(), "value-two");
    // The new directory is watched from the next full read on: fast hits again.
    for (int i = 0; i < 3; ++i) EXPECT_EQ(resolver.resolve(file_ref("api"))->reveal(), "value-two");
    EXPECT_GE(resolver.cache_stats().fast_hits, 2u);
}

TEST(WatchedCacheRoot, ParentReplacedIsSeenWithinTheRecheckInterval) {
    TempDir base;
    const auto make_root = [&](const std::string& value) {
        const auto root = base / "parent" / "secrets";
        std::filesystem::create_directories(root);
        ::chmod(root.c_str(), 0700);
        { std::ofstream(root / "api") << value; }
        ::chmod((root / "api").c_str(), 0600);
        set_mtime(root / "api", 1'600'000'000);
        return root;
    };
    const auto root = make_root("value-one");
    SecretResolver resolver(sources_for(root, true, 100ms));
    ASSERT_EQ(resolver.resolve(file_ref("api"))->reveal(), "value-one");

    // inotify watches the directory inode, which did not change: only the recheck sees this.
    std::filesystem::rename(base / "parent", base / "parent.old");
    make_root("value-two");
    std::this_thread::sleep_for(150ms);
    EXPECT_EQ(resolver.resolve(file_ref("api"))->reveal(), "value-two");
    const auto fast_before = resolver.cache_stats().fast_hits;
    for (int i = 0; i < 3; ++i) EXPECT_EQ(resolver.resolve(file_ref("api"))->reveal(), "value-two");
    EXPECT_GT(resolver.cache_stats().fast_hits, fast_before);
}

TEST(WatchedCacheRoot, WatchDisabledFallsBackToStats) {
    TempDir dir;
    SecretResolver resolver(sources_for(dir.path(), false));
    const auto path = dir.write("api", "value-one");
    set_mtime(path, 1'600'000'000);
    for (int i = 0; i < 4; ++i) ASSERT_EQ(resolver.resolve(file_ref("api"))->reveal(), "value-one");
    EXPECT_EQ(resolver.cache_stats().reads, 1u);
    EXPECT_EQ(resolver.cache_stats().hits, 3u);
    EXPECT_EQ(resolver.cache_stats().fast_hits, 0u);
    rewrite_in_place(path, "value-two");
    set_mtime(path, 1'600'000'001);
    EXPECT_EQ(resolver.resolve(file_ref("api"))->reveal(), "value-two");
}

TEST(WatchedCacheRoot, SystemdCredentialsUseTheFastPath) {
    TempDir creds;
    const auto path = creds.write("db.password", "pg-s3cret\n", 0400);
    set_mtime(path, 1'600'000'000);
    creds.chmod_root(0500);
    SecretSources sources = sources_for({});
    sources.credentials_directory = creds.path();
    SecretResolver resolver(sources);
    const SecretRef ref{Provider::Systemd, "db.password", {}};
    for (int i = 0; i < 3; ++i) EXPECT_EQ(resolver.resolve(ref)->reveal(), "pg-s3cret");
    EXPECT_EQ(resolver.cache_stats().reads, 1u);
    EXPECT_EQ(resolver.cache_stats().fast_hits, 2u);
    creds.chmod_root(0700);  // so TempDir can clean up
}

TEST_F(WatchedCache, ConcurrentResolvesAndRewritesAgree) {
    const auto path = cache_api();
    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    std::atomic<int> bad{0};
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&] {
            while (!stop.load()) {
                auto got = resolve("api");
                // A read racing the rename can see the name move between its lstat and its
                // open: refused ("replaced while opening"), never a wrong value.
                if (!got.ok() &&
                    got.error().message.find("replaced while opening") != std::string::npos) {
                    continue;
                }
                if (!got.ok() || (got->reveal() != "value-one" && got->reveal() != "value-two")) {
                    if (!got.ok()) ADD_FAILURE() << got.error().message;
                    ++bad;
                }
            }
        });
    }
    for (int i = 0; i < 20; ++i) {
        // Atomic replacement, so a worker never reads a half-written file.
        const auto staged = dir.write("api.tmp", i % 2 == 0 ? "value-two" : "value-one");
        set_mtime(staged, 1'600'000'000);
        std::filesystem::rename(staged, path);
        // Whatever the workers are doing, the next resolve sees this write.
        EXPECT_EQ(value("api"), i % 2 == 0 ? "value-two" : "value-one");
    }
    stop = true;
    for (auto& thread : threads) thread.join();
    EXPECT_EQ(bad.load(), 0);
}

}  // namespace
}  // namespace cloakroom::secrets
