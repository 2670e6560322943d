// Loading from files: merging several files, relative paths, and the default file resolution.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <fstream>

#include "config/config.hpp"

namespace cloakroom::config {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

class ConfigFiles : public ::testing::Test {
  protected:
    void SetUp() override {
        static std::atomic<int> counter{0};
        dir_ = fs::temp_directory_path() / ("cloakroom_config_test_" + std::to_string(getpid()) +
                                            "_" + std::to_string(counter++));
        fs::create_directories(dir_);
    }
    void TearDown() override {
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }

    fs::path write(const std::string& name, std::string_view content) {
        const fs::path path = dir_ / name;
        fs::create_directories(path.parent_path());
        std::ofstream(path) << content;
        return path;
    }

    Environment env(Environment::Variables extra = {}) const {
        extra.emplace("HOME", (dir_ / "home").string());
        return Environment(std::move(extra));
    }

    Config load_ok(const std::vector<fs::path>& files, const Environment& environment) {
        auto result = load_config(files, environment);
        EXPECT_TRUE(result.ok()) << result.error().message;
        return result.ok() ? std::move(*result) : Config{};
    }

    fs::path dir_;
};

constexpr std::string_view kProject = R"([sandbox]
name = "myproject"

[upstream."api.stripe.com"]
[upstream."pocketbase.example.com"]
[upstream."pypi.org"]
)";

constexpr std::string_view kVault = R"([credentials."api.stripe.com"]
type = "bearer"
token = { provider = "env", name = "STRIPE_API_KEY" }

[credentials."pocketbase.example.com"]
type = "basic"
username = { provider = "env", name = "PB_USERNAME" }
password = { provider = "env", name = "PB_PASSWORD" }
)";

TEST_F(ConfigFiles, AgentCredsAndVaultTogetherGiveHostsWithCredentials) {
    const auto project = write("agent-creds.toml", kProject);
    const auto vault = write("vault.toml", kVault);
    Config config = load_ok({project, vault}, env());
    ASSERT_EQ(config.services.size(), 2u);
    EXPECT_EQ(config.find_service("api.stripe.com")->credential->type, CredentialType::Bearer);
    EXPECT_EQ(config.find_service("pocketbase.example.com:443")->credential->type,
              CredentialType::Basic);
    // pypi.org has no credential: reachable, but not a service.
    EXPECT_THAT(config.allowed_hosts, ElementsAre("pypi.org"));
    EXPECT_EQ(config.find_service("pypi.org"), nullptr);
    EXPECT_THAT(config.sources, ElementsAre(project.string(), vault.string()));
}

TEST_F(ConfigFiles, LaterFilesOverrideScalarsAndAddServices) {
    const auto base = write("base.toml", R"([gateway]
listen = "127.0.0.1:4000"
strict = true
[token]
default_validity = "1h"
[allow]
hosts = ["pypi.org"]
[[service]]
name = "stripe"
hosts = ["api.stripe.com"]
credential = { type = "bearer", secret = "file:stripe" }
)");
    const auto local = write("local.toml", R"([gateway]
listen = "127.0.0.1:5000"
[allow]
hosts = ["pypi.org", "files.pythonhosted.org"]
[[service]]
name = "github"
hosts = ["api.github.com"]
credential = { type = "template", template = "token {secret}", secret = "file:gh" }
)");
    Config config = load_ok({base, local}, env());
    EXPECT_EQ(config.gateway.proxy.port, 5000);  // overridden
    EXPECT_TRUE(config.gateway.strict);          // kept from base
    EXPECT_EQ(config.token.default_validity, std::chrono::hours(1));
    ASSERT_EQ(config.services.size(), 2u);
    EXPECT_EQ(config.services[0].name, "stripe");
    EXPECT_EQ(config.services[1].name, "github");
    EXPECT_THAT(config.allowed_hosts, ElementsAre("pypi.org", "files.pythonhosted.org"));
}

TEST_F(ConfigFiles, ValidityIsCheckedAfterMerging) {
    // Each file alone is fine; together default_validity exceeds max_validity.
    const auto a = write("a.toml", "[token]\ndefault_validity = \"2d\"\n");
    const auto b = write("b.toml", "[token]\nmax_validity = \"1d\"\n");
    auto result = load_config({a, b}, env());
    ASSERT_FALSE(result.ok());
    EXPECT_THAT(
        result.error().message,
        HasSubstr(b.string() + ":2: [token]: default_validity 2d is longer than max_validity 1d"));
}

TEST_F(ConfigFiles, OneProfileDefinedInTwoFilesNamesBoth) {
    // An agent-creds [sandbox] name and a [profile.NAME] share one namespace.
    const auto a = write("agent-creds.toml", "[sandbox]\nname = \"proj\"\n");
    const auto b = write("b.toml", "\n[profile.proj]\nextends = \"claude\"\n");
    auto result = load_config({a, b}, env());
    ASSERT_FALSE(result.ok());
    EXPECT_THAT(result.error().message,
                HasSubstr(b.string() + ":2: [profile.proj]: profile \"proj\" is already defined (" +
                          a.string() + ":1)"));
    // Extending across files works.
    const auto c = write("c.toml", "[profile.mine]\nextends = \"proj\"\n");
    auto merged = load_config({a, c}, env());
    ASSERT_TRUE(merged.ok()) << merged.error().message;
    EXPECT_EQ(merged->profiles.size(), 2u);
}

TEST_F(ConfigFiles, DuplicateServiceAcrossFilesNamesBothFiles) {
    const auto a = write("a.toml", "[[service]]\nname = \"s\"\nhosts = [\"a.org\"]\n");
    const auto b = write("b.toml", "\n[[service]]\nname = \"s\"\nhosts = [\"b.org\"]\n");
    auto result = load_config({a, b}, env());
    ASSERT_FALSE(result.ok());
    EXPECT_THAT(result.error().message,
                HasSubstr(b.string() +
                          ":2: service \"s\": a service with this name is already "
                          "defined at " +
                          a.string() + ":1"));
}

TEST_F(ConfigFiles, HostClaimedByCloakroomServiceAndVaultCredential) {
    const auto mine = write("cloakroom.toml", R"([[service]]
name = "stripe"
hosts = ["api.stripe.com"]
credential = { type = "bearer", secret = "file:stripe" }
)");
    const auto vault = write("vault.toml", kVault);
    auto result = load_config({mine, vault}, env());
    ASSERT_FALSE(result.ok());
    EXPECT_THAT(
        result.error().message,
        HasSubstr(vault.string() + ":1: service \"api.stripe.com\": host \"api.stripe.com\" "
                                   "already belongs to service \"stripe\""));
}

TEST_F(ConfigFiles, RelativePathsAreRelativeToTheFile) {
    const auto file = write("etc/cloakroom.toml", R"([gateway]
data_dir = "data"
audit_log = "logs/audit.jsonl"
[secrets]
dir = "./secrets"
[[service]]
name = "internal"
hosts = ["internal.example"]
upstream_ca = "../ca/internal.pem"
)");
    Config config = load_ok({file}, env());
    const fs::path etc = fs::absolute(dir_ / "etc");
    EXPECT_EQ(config.data_dir, etc / "data");
    EXPECT_EQ(config.token.key_dir, etc / "data" / "keys");
    EXPECT_EQ(config.gateway.audit_log, (etc / "logs/audit.jsonl").string());
    EXPECT_EQ(config.secrets.dir, etc / "secrets");
    EXPECT_EQ(config.services[0].upstream_ca, (dir_ / "ca/internal.pem").lexically_normal());
}

TEST_F(ConfigFiles, ErrorsNameTheFileAsGiven) {
    const auto file = write("bad.toml", "[gateway]\nlisten = \"nope\"\n");
    auto result = load_config({file}, env());
    ASSERT_FALSE(result.ok());
    EXPECT_THAT(result.error().message, HasSubstr(file.string() + ":2: [gateway]: listen"));
}

TEST_F(ConfigFiles, SyntaxErrorInSecondFile) {
    const auto good = write("good.toml", "[gateway]\n");
    const auto bad = write("bad.toml", "[gateway\n");
    auto result = load_config({good, bad}, env());
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.error().code, "config.syntax");
    EXPECT_THAT(result.error().message, HasSubstr(bad.string() + ":1:"));
}

TEST_F(ConfigFiles, MissingFileAndDirectory) {
    auto missing = load_config({dir_ / "nope.toml"}, env());
    ASSERT_FALSE(missing.ok());
    EXPECT_EQ(missing.error().code, "config.io");
    EXPECT_THAT(missing.error().message, HasSubstr("nope.toml"));

    auto directory = load_config({dir_}, env());
    ASSERT_FALSE(directory.ok());
    EXPECT_EQ(directory.error().code, "config.io");

    auto none = load_config({}, env());
    ASSERT_FALSE(none.ok());
    EXPECT_EQ(none.error().code, "config.io");
}

TEST_F(ConfigFiles, DefaultResolutionUsesCloakroomConfigList) {
    const auto a = write("a.toml", "[gateway]\nlisten = \"127.0.0.1:1111\"\n");
    const auto b = write("b.toml", "[token]\nprefix = \"b_\"\n");
    const auto c = write("c.toml", "[gateway]\nstrict = true\n");
    const std::string list = a.string() + ":" + b.string() + "," + c.string();
    const Environment environment = env({{"CLOAKROOM_CONFIG", list}});
    EXPECT_THAT(default_config_files(environment), ElementsAre(a, b, c));
    auto result = load_default_config(environment);
    ASSERT_TRUE(result.ok()) << result.error().message;
    EXPECT_EQ(result->gateway.proxy.port, 1111);
    EXPECT_EQ(result->token.prefix, "b_");
    EXPECT_TRUE(result->gateway.strict);
}

TEST_F(ConfigFiles, DefaultResolutionUsesXdgConfigFileWhenPresent) {
    const auto file =
        write("xdg/cloakroom/cloakroom.toml", "[gateway]\nlisten = \"127.0.0.1:2222\"\n");
    const Environment environment = env({{"XDG_CONFIG_HOME", (dir_ / "xdg").string()}});
    EXPECT_THAT(default_config_files(environment), ElementsAre(file));
    auto result = load_default_config(environment);
    ASSERT_TRUE(result.ok()) << result.error().message;
    EXPECT_EQ(result->gateway.proxy.port, 2222);
    EXPECT_THAT(result->sources, ElementsAre(file.string()));
}

TEST_F(ConfigFiles, DefaultResolutionFallsBackToEmbeddedDefault) {
    const Environment environment = env({{"CLOAKROOM_CONFIG", ":,"}});  // set but empty list
    EXPECT_THAT(default_config_files(environment), IsEmpty());
    auto result = load_default_config(environment);
    ASSERT_TRUE(result.ok()) << result.error().message;
    EXPECT_THAT(result->sources, ElementsAre("<embedded default>"));
    EXPECT_EQ(result->gateway.proxy.address, "127.0.0.1:3128");
    EXPECT_EQ(result->data_dir, dir_ / "home/.local/share/cloakroom");
}

TEST_F(ConfigFiles, CloakroomConfigWinsOverXdgFile) {
    write("xdg/cloakroom/cloakroom.toml", "[gateway]\nlisten = \"127.0.0.1:2222\"\n");
    const auto explicit_file = write("explicit.toml", "[gateway]\nlisten = \"127.0.0.1:3333\"\n");
    auto result = load_default_config(env({{"XDG_CONFIG_HOME", (dir_ / "xdg").string()},
                                           {"CLOAKROOM_CONFIG", explicit_file.string()}}));
    ASSERT_TRUE(result.ok()) << result.error().message;
    EXPECT_EQ(result->gateway.proxy.port, 3333);
}

TEST_F(ConfigFiles, ExampleFilesInTheRepositoryLoad) {
    const fs::path examples =
        fs::path(CLOAKROOM_TEST_DATA_DIR).parent_path().parent_path() / "examples";
    const Environment environment = env();
    for (const char* name : {"cloakroom.toml", "minimal.toml"}) {
        auto result = load_config({examples / name}, environment);
        EXPECT_TRUE(result.ok()) << name << ": " << result.error().message;
    }
    auto agent_creds = load_config(
        {examples / "agent-creds/agent-creds.toml", examples / "agent-creds/vault.toml"},
        environment);
    ASSERT_TRUE(agent_creds.ok()) << agent_creds.error().message;
    EXPECT_EQ(agent_creds->services.size(), 2u);
}

}  // namespace
}  // namespace cloakroom::config
