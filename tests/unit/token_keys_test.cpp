// KeyStore: environment key, key directory (permissions, symlinks), generation, key ids.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/capability.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "token/keys.hpp"
#include "util/base64.hpp"

namespace cloakroom::token {
namespace {

namespace fs = std::filesystem;

class TempDir {
  public:
    TempDir() {
        std::string templ = (fs::temp_directory_path() / "cloakroom-keys-XXXXXX").string();
        path_ = ::mkdtemp(templ.data());
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    const std::string& path() const { return path_; }

  private:
    std::string path_;
};

void write_file(const std::string& path, const std::string& content, mode_t mode) {
    std::ofstream(path) << content;
    ::chmod(path.c_str(), mode);
}

const std::string kKey32 = base64_encode(std::string(32, 'k'));

class EnvKey : public ::testing::Test {
  protected:
    void TearDown() override { ::unsetenv("MACAROON_SIGNING_KEY"); }
};

TEST_F(EnvKey, LoadsPrimaryFromEnvironment) {
    ::setenv("MACAROON_SIGNING_KEY", base64_encode(std::string(48, 'z')).c_str(), 1);
    KeyStore keys;
    ASSERT_TRUE(keys.add_from_env().ok());
    ASSERT_NE(keys.find("primary"), nullptr);
    EXPECT_EQ(keys.find("primary")->size(), 48u);  // used whole, not truncated
}

TEST_F(EnvKey, RejectsShortBadOrMissingKeys) {
    KeyStore keys;
    ::unsetenv("MACAROON_SIGNING_KEY");
    auto missing = keys.add_from_env();
    ASSERT_FALSE(missing.ok());
    EXPECT_EQ(missing.error().message, "MACAROON_SIGNING_KEY is not set");

    ::setenv("MACAROON_SIGNING_KEY", base64_encode(std::string(31, 'k')).c_str(), 1);
    auto short_key = keys.add_from_env();
    ASSERT_FALSE(short_key.ok());
    EXPECT_NE(short_key.error().message.find("at least 32"), std::string::npos);

    ::setenv("MACAROON_SIGNING_KEY", "not base64!!", 1);
    auto bad = keys.add_from_env();
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.error().message.find("not valid standard base64"), std::string::npos);

    // Unpadded or URL-alphabet text is not what agent-creds accepts either.
    ::setenv("MACAROON_SIGNING_KEY", kKey32.substr(0, kKey32.size() - 1).c_str(), 1);
    EXPECT_FALSE(keys.add_from_env().ok());
    EXPECT_TRUE(keys.empty());
}

TEST(KeyIds, Charset) {
    EXPECT_TRUE(valid_key_id("primary"));
    EXPECT_TRUE(valid_key_id("k-2025.01_a"));
    EXPECT_FALSE(valid_key_id(""));
    EXPECT_FALSE(valid_key_id("a/b"));
    EXPECT_FALSE(valid_key_id(".."));
    EXPECT_FALSE(valid_key_id("a b"));
    EXPECT_FALSE(valid_key_id(std::string(129, 'a')));
    KeyStore keys;
    EXPECT_FALSE(keys.add("bad id", secrets::SecretValue(std::string(32, 'k'))).ok());
    EXPECT_TRUE(keys.add("good", secrets::SecretValue(std::string(32, 'k'))).ok());
    // The same key twice under one id is one key; a different key is a conflict.
    EXPECT_TRUE(keys.add("good", secrets::SecretValue(std::string(32, 'k'))).ok());
    EXPECT_FALSE(keys.add("good", secrets::SecretValue(std::string(32, 'x'))).ok());
}

// MACAROON_SIGNING_KEY and a primary.key file: the same key is used once, silently; different
// keys are refused with a message naming both sources and how to keep one.
TEST_F(EnvKey, EnvironmentAndKeyFileForPrimary) {
    TempDir dir;
    write_file(dir.path() + "/primary.key", kKey32 + "\n", 0600);
    ::setenv("MACAROON_SIGNING_KEY", kKey32.c_str(), 1);
    {
        KeyStore keys;
        ASSERT_TRUE(keys.add_from_env().ok());
        auto loaded = keys.load_dir(dir.path());
        ASSERT_TRUE(loaded.ok()) << loaded.error().message;
        EXPECT_EQ(keys.key_ids(), std::vector<std::string>{"primary"});
    }
    ::setenv("MACAROON_SIGNING_KEY", base64_encode(std::string(32, 'e')).c_str(), 1);
    for (const bool env_first : {true, false}) {
        KeyStore keys;
        Result<void> failed;
        if (env_first) {
            ASSERT_TRUE(keys.add_from_env().ok());
            auto loaded = keys.load_dir(dir.path());
            ASSERT_FALSE(loaded.ok());
            failed = loaded.error();
        } else {
            ASSERT_TRUE(keys.load_dir(dir.path()).ok());
            failed = keys.add_from_env();
            ASSERT_FALSE(failed.ok());
        }
        const std::string& message = failed.error().message;
        EXPECT_NE(message.find("duplicate key id 'primary'"), std::string::npos) << message;
        EXPECT_NE(message.find("MACAROON_SIGNING_KEY"), std::string::npos) << message;
        EXPECT_NE(message.find(dir.path() + "/primary.key"), std::string::npos) << message;
        EXPECT_NE(message.find("unset MACAROON_SIGNING_KEY"), std::string::npos) << message;
        EXPECT_EQ(message.find(kKey32), std::string::npos);  // never the key
    }
}

TEST(KeyDir, LoadsKeysAndWarnsAboutPermissions) {
    TempDir dir;
    write_file(dir.path() + "/a.key", kKey32 + "\n", 0600);
    write_file(dir.path() + "/b.key", kKey32, 0644);
    write_file(dir.path() + "/README", "not a key", 0644);
    KeyStore keys;
    auto warnings = keys.load_dir(dir.path());
    ASSERT_TRUE(warnings.ok()) << warnings.error().message;
    EXPECT_EQ(keys.key_ids(), (std::vector<std::string>{"a", "b"}));
    ASSERT_EQ(warnings->size(), 1u);
    EXPECT_NE((*warnings)[0].find("b.key"), std::string::npos);
    EXPECT_NE((*warnings)[0].find("0644"), std::string::npos);

    // Reloading the same directory is harmless; a different key under a loaded id is not.
    EXPECT_TRUE(keys.load_dir(dir.path()).ok());
    EXPECT_EQ(keys.key_ids().size(), 2u);
    write_file(dir.path() + "/a.key", base64_encode(std::string(32, 'z')), 0600);
    EXPECT_FALSE(keys.load_dir(dir.path()).ok());
    EXPECT_TRUE(keys.contains("a"));
}

TEST(KeyDir, RefusesSymlinks) {
    TempDir dir;
    TempDir elsewhere;
    write_file(elsewhere.path() + "/real", kKey32, 0600);
    fs::create_symlink(elsewhere.path() + "/real", dir.path() + "/a.key");
    KeyStore keys;
    auto loaded = keys.load_dir(dir.path());
    ASSERT_FALSE(loaded.ok());
    EXPECT_NE(loaded.error().message.find("symlink"), std::string::npos);
    EXPECT_TRUE(keys.empty());
}

TEST(KeyDir, InvalidFilesAreErrorsAndAddNothing) {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"short.key", base64_encode(std::string(16, 'k'))},
        {"bad.key", "%%%%"},
        {"twonewlines.key", kKey32 + "\n\n"},
        {"bad id.key", kKey32},
    };
    for (const auto& [name, content] : cases) {
        TempDir dir;
        write_file(dir.path() + "/good.key", kKey32, 0600);
        write_file(dir.path() + "/" + name, content, 0600);
        KeyStore keys;
        auto loaded = keys.load_dir(dir.path());
        EXPECT_FALSE(loaded.ok()) << name;
        EXPECT_TRUE(keys.empty()) << name;
    }
    KeyStore keys;
    EXPECT_FALSE(keys.load_dir("/nonexistent/cloakroom-keys").ok());
}

// Runs `check` in a child process that cannot read other people's files: as root (CI runs as
// root) the capabilities that bypass file modes are dropped first. Exit 0: check held; 1: it did
// not; 2: the capabilities could not be dropped.
int in_child_without_file_override(bool (*check)(const std::string&), const std::string& dir) {
    const pid_t pid = ::fork();
    if (pid == 0) {
        if (::geteuid() == 0) {
            __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
            __user_cap_data_struct data[2] = {};
            if (::syscall(SYS_capget, &header, data) != 0) ::_exit(2);
            for (const int cap : {CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH}) {
                data[cap / 32].effective &= ~(1u << (cap % 32));
            }
            if (::syscall(SYS_capset, &header, data) != 0) ::_exit(2);
        }
        ::_exit(check(dir) ? 0 : 1);
    }
    int status = 0;
    if (pid < 0 || ::waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
    return WEXITSTATUS(status);
}

TEST(KeyDir, UnreadableFileIsAnError) {
    TempDir dir;
    write_file(dir.path() + "/a.key", kKey32, 0000);
    // The file really is unreadable where the check runs (else the test would prove nothing).
    EXPECT_EQ(in_child_without_file_override(
                  [](const std::string& d) {
                      return ::open((d + "/a.key").c_str(), O_RDONLY | O_CLOEXEC) < 0 &&
                             errno == EACCES;
                  },
                  dir.path()),
              0);
    EXPECT_EQ(in_child_without_file_override(
                  [](const std::string& d) {
                      KeyStore keys;
                      return !keys.load_dir(d).ok() && keys.empty();
                  },
                  dir.path()),
              0);
}

TEST(KeyDir, GenerateCreatesPrivateFilesOnce) {
    TempDir parent;
    const std::string dir = parent.path() + "/keys";
    auto path = KeyStore::generate(dir, "k1");
    ASSERT_TRUE(path.ok()) << path.error().message;
    struct stat info {};
    ASSERT_EQ(::stat(dir.c_str(), &info), 0);
    EXPECT_EQ(info.st_mode & 0777, 0700u);
    ASSERT_EQ(::stat(path->c_str(), &info), 0);
    EXPECT_EQ(info.st_mode & 0777, 0600u);
    EXPECT_FALSE(KeyStore::generate(dir, "k1").ok());  // never overwrites
    EXPECT_FALSE(KeyStore::generate(dir, "../k2").ok());
    ASSERT_TRUE(KeyStore::generate(dir, "k2").ok());

    KeyStore keys;
    auto warnings = keys.load_dir(dir);
    ASSERT_TRUE(warnings.ok()) << warnings.error().message;
    EXPECT_TRUE(warnings->empty());
    ASSERT_NE(keys.find("k1"), nullptr);
    EXPECT_EQ(keys.find("k1")->size(), 32u);
    EXPECT_NE(keys.find("k1")->reveal(), keys.find("k2")->reveal());
}

}  // namespace
}  // namespace cloakroom::token
