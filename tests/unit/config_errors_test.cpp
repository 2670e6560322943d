// Every validation error names the file, the line and the problem.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/config.hpp"

namespace cloakroom::config {
namespace {

using ::testing::HasSubstr;

Environment test_env() {
    return Environment(Environment::Variables{{"HOME", "/home/agent"}});
}

// The whole error message for a config that must be rejected.
std::string error_of(std::string_view toml, std::string_view expected_code = "config.invalid") {
    auto result = parse_config_string(toml, "cloakroom.toml", test_env());
    EXPECT_FALSE(result.ok()) << "accepted:\n" << toml;
    if (result.ok()) return "";
    EXPECT_EQ(result.error().code, expected_code);
    return result.error().message;
}

// A service wrapper: the credential line is line 4.
std::string service_with(std::string_view lines) {
    return "[[service]]\nname = \"stripe\"\nhosts = [\"api.stripe.com\"]\n" + std::string(lines) +
           "\n";
}

struct Case {
    const char* name;
    std::string toml;
    const char* expected;  // substring, starting with "cloakroom.toml:<line>: "
};

class ConfigError : public ::testing::TestWithParam<Case> {};

TEST_P(ConfigError, IsReportedWithFileAndLine) {
    EXPECT_THAT(error_of(GetParam().toml), HasSubstr(GetParam().expected));
}

// clang-format off
const Case kCases[] = {
    // Unknown keys and tables: typos must not be silently ignored.
    {"UnknownTopLevel", "[gateway]\n[servce]\n", "cloakroom.toml:2: unknown top-level key \"servce\" (did you mean \"service\"?)"},
    {"UnknownGatewayKey", "[gateway]\nlisten = \"127.0.0.1:1\"\nlistn = \"x\"\n", "cloakroom.toml:3: [gateway]: unknown key \"listn\" (did you mean \"listen\"?)"},
    {"UnknownTokenKey", "[token]\n\nmax_valdity = \"1d\"\n", "cloakroom.toml:3: [token]: unknown key \"max_valdity\" (did you mean \"max_validity\"?)"},
    {"UnknownSecretsKey", "[secrets]\ndirectory = \"/x\"\n", "cloakroom.toml:2: [secrets]: unknown key \"directory\""},
    {"UnknownAllowKey", "[allow]\nhost = [\"a.com\"]\n", "cloakroom.toml:2: [allow]: unknown key \"host\" (did you mean \"hosts\"?)"},
    {"UnknownServiceKey", service_with("credentials = {}"), "cloakroom.toml:4: service \"stripe\": unknown key \"credentials\" (did you mean \"credential\"?)"},
    {"UnknownCredentialKey", service_with("credential = { type = \"bearer\", secert = \"file:x\" }"), "cloakroom.toml:4: service \"stripe\": unknown key \"secert\" (did you mean \"secret\"?)"},
    {"UnknownRuleKey", service_with("[[service.allow]]\nmethod = [\"GET\"]"), "cloakroom.toml:5: service \"stripe\": unknown key \"method\" (did you mean \"methods\"?)"},
    {"MixedFormats", "[gateway]\n[upstream.\"a.com\"]\n", "cloakroom.toml:2: this file mixes cloakroom.toml tables ([gateway]) with agent-creds tables ([upstream])"},

    // Wrong value types.
    {"StrictNotBool", "[gateway]\nstrict = \"yes\"\n", "cloakroom.toml:2: [gateway]: strict must be a boolean (true or false), not a string"},
    {"ListenNotString", "[gateway]\nlisten = 3128\n", "cloakroom.toml:2: [gateway]: listen must be a string, not an integer"},
    {"HostsNotArray", "[allow]\nhosts = \"a.com\"\n", "cloakroom.toml:2: [allow]: hosts must be an array of strings, not a string"},
    {"HostsElementNotString", "[allow]\nhosts = [\"a.com\", 3]\n", "cloakroom.toml:2: [allow]: hosts must contain only strings, found an integer"},
    {"GatewayNotTable", "gateway = 1\n", "cloakroom.toml:1: gateway must be a table, not an integer"},
    {"ServiceNotArray", "[service]\nname = \"x\"\n", "cloakroom.toml:1: service must be an array of tables ([[service]] sections), not a table"},
    {"DurationWrongType", "[token]\nmax_validity = true\n", "cloakroom.toml:2: [token]: max_validity must be a duration string"},
    {"CredentialNotTable", service_with("credential = \"file:x\""), "cloakroom.toml:4: service \"stripe\": credential must be a table"},
    {"AllowNotArrayOfTables", service_with("allow = { methods = [\"GET\"] }"), "cloakroom.toml:4: service \"stripe\": allow must be an array of tables ([[allow]] sections), not a table"},
    {"AllowPrivateNotBool", service_with("allow_private = 1"), "cloakroom.toml:4: service \"stripe\": allow_private must be a boolean"},

    // Listen addresses.
    {"ListenNoPort", "[gateway]\nlisten = \"127.0.0.1\"\n", "cloakroom.toml:2: [gateway]: listen \"127.0.0.1\" needs a port"},
    {"ListenBadPort", "[gateway]\nlisten = \"127.0.0.1:99999\"\n", "cloakroom.toml:2: [gateway]: listen \"127.0.0.1:99999\" has an invalid port"},
    {"ListenBareIpv6", "[gateway]\nlisten = \"::1:3128\"\n", "cloakroom.toml:2: [gateway]: listen \"::1:3128\" looks like an IPv6 address; write it in brackets"},
    {"ListenBadIpv6", "[gateway]\nlisten = \"[::g]:3128\"\n", "cloakroom.toml:2: [gateway]: listen \"[::g]:3128\" is not a valid IPv6 address"},

    // Durations and validity.
    {"BadDuration", "[token]\ndefault_validity = \"24x\"\n", "cloakroom.toml:2: [token]: default_validity: invalid duration \"24x\": unknown unit 'x'"},
    {"NegativeDuration", "[token]\nmax_validity = -5\n", "cloakroom.toml:2: [token]: max_validity cannot be negative"},
    {"DefaultLongerThanMax", "[token]\ndefault_validity = \"2d\"\nmax_validity = \"1d\"\n", "cloakroom.toml:3: [token]: default_validity 2d is longer than max_validity 1d"},
    {"ZeroValidity", "[token]\ndefault_validity = \"0s\"\n", "cloakroom.toml:2: [token]: default_validity must be longer than zero"},
    {"ZeroExecTimeout", "[secrets]\nexec_timeout = 0\n", "cloakroom.toml:2: [secrets]: exec_timeout must be longer than zero"},

    // Token settings.
    {"BadPrefix", "[token]\nprefix = \"acm \"\n", "cloakroom.toml:2: [token]: prefix may only contain letters, digits"},
    {"EmptyPrefix", "[token]\nprefix = \"\"\n", "cloakroom.toml:2: [token]: prefix must be 1-32 characters"},
    {"BadSigningKey", "[token]\nsigning_key = \"../x\"\n", "cloakroom.toml:2: [token]: signing_key \"../x\" must be"},
    {"BadLocation", "[token]\nlocation = \"a b\"\n", "cloakroom.toml:2: [token]: location must be non-empty printable"},
    {"EmptyPath", "[secrets]\ndir = \"\"\n", "cloakroom.toml:2: [secrets]: dir is empty"},

    // Host names.
    {"HostWithScheme", "[allow]\nhosts = [\"https://pypi.org\"]\n", "cloakroom.toml:2: [allow]: host \"https://pypi.org\" has a scheme"},
    {"HostWithPath", "[allow]\nhosts = [\"pypi.org/simple\"]\n", "cloakroom.toml:2: [allow]: host \"pypi.org/simple\" has a path"},
    {"HostWithBadPort", "[allow]\nhosts = [\"pypi.org:443x\"]\n", "cloakroom.toml:2: [allow]: host \"pypi.org:443x\" has an invalid port"},
    {"HostWithPortZero", "[allow]\nhosts = [\"pypi.org:0\"]\n", "cloakroom.toml:2: [allow]: host \"pypi.org:0\" has an invalid port"},
    {"HostWildcard", "[allow]\nhosts = [\"*.pypi.org\"]\n", "cloakroom.toml:2: [allow]: host \"*.pypi.org\" has a wildcard"},
    {"HostBadLabel", "[allow]\nhosts = [\"-bad.org\"]\n", "cloakroom.toml:2: [allow]: host \"-bad.org\" has a label starting or ending with '-'"},
    {"HostEmptyLabel", "[allow]\nhosts = [\"a..org\"]\n", "cloakroom.toml:2: [allow]: host \"a..org\" has an empty label"},
    {"HostBadChar", "[allow]\nhosts = [\"a!b.org\"]\n", "cloakroom.toml:2: [allow]: host \"a!b.org\" contains '!'"},
    {"HostBadIpv4", "[allow]\nhosts = [\"300.1.1.1\"]\n", "cloakroom.toml:2: [allow]: host \"300.1.1.1\" is not a valid IPv4 address"},
    {"HostUserInfo", "[allow]\nhosts = [\"u@a.org\"]\n", "cloakroom.toml:2: [allow]: host \"u@a.org\" has user info"},
    {"HostSpace", "[allow]\nhosts = [\"a.org \"]\n", "cloakroom.toml:2: [allow]: host \"a.org \" contains whitespace"},
    {"ServiceHostOnItsLine", "[[service]]\nname = \"s\"\nhosts = [\n  \"ok.org\",\n  \"http://bad.org\",\n]\n", "cloakroom.toml:5: service \"s\": host \"http://bad.org\" has a scheme"},
    {"HostTwiceInService", "[[service]]\nname = \"s\"\nhosts = [\"a.org\", \"A.org\"]\n", "cloakroom.toml:3: service \"s\": host \"a.org\" is listed twice"},

    // Services.
    {"ServiceNoName", "[[service]]\nhosts = [\"a.org\"]\n", "cloakroom.toml:1: [[service]]: service needs a name"},
    {"ServiceBadName", "[[service]]\nname = \"my service\"\nhosts = [\"a.org\"]\n", "cloakroom.toml:2: service \"my service\": name \"my service\" must be"},
    {"ServiceNoHosts", "[[service]]\nname = \"s\"\n", "cloakroom.toml:1: service \"s\": service needs hosts"},
    {"ServiceEmptyHosts", "[[service]]\nname = \"s\"\nhosts = []\n", "cloakroom.toml:3: service \"s\": hosts is empty"},
    {"DuplicateServiceName", "[[service]]\nname = \"s\"\nhosts = [\"a.org\"]\n\n[[service]]\nname = \"S\"\nhosts = [\"b.org\"]\n", "cloakroom.toml:5: service \"S\": a service with this name is already defined at cloakroom.toml:1"},
    {"HostClaimedTwice", "[[service]]\nname = \"a\"\nhosts = [\"x.org\"]\n\n[[service]]\nname = \"b\"\nhosts = [\"X.org.\"]\n", "cloakroom.toml:5: service \"b\": host \"x.org\" already belongs to service \"a\" (cloakroom.toml:1)"},
    {"ConnectToNoPort", service_with("connect_to = \"127.0.0.1\""), "cloakroom.toml:4: service \"stripe\": connect_to \"127.0.0.1\" needs a port"},
    {"ConnectToBad", service_with("connect_to = \"http://x:1\""), "cloakroom.toml:4: service \"stripe\": connect_to \"http://x:1\" has a scheme"},

    // Rules.
    {"BadMethod", service_with("[[service.allow]]\nmethods = [\"GET\", \"GE T\"]"), "cloakroom.toml:5: service \"stripe\": allow rule: \"GE T\" is not an HTTP method"},
    {"StarMethod", service_with("[[service.deny]]\nmethods = [\"*\"]"), "cloakroom.toml:5: service \"stripe\": deny rule: \"*\" is not an HTTP method"},
    {"EmptyMethods", service_with("[[service.allow]]\nmethods = []"), "cloakroom.toml:5: service \"stripe\": allow rule: methods is empty"},
    {"BadPath", service_with("[[service.allow]]\npaths = [\"v1/x\"]"), "cloakroom.toml:5: service \"stripe\": allow rule: path \"v1/x\": "},
    {"EmptyPaths", service_with("[[service.deny]]\npaths = []"), "cloakroom.toml:5: service \"stripe\": deny rule: paths is empty"},

    // Credentials.
    {"CredentialBadType", service_with("credential = { type = \"bearr\", secret = \"file:x\" }"), "cloakroom.toml:4: service \"stripe\": credential type \"bearr\" is not one of bearer, basic, header, query, template"},
    {"CredentialNoType", service_with("credential = { secret = \"file:x\" }"), "cloakroom.toml:4: service \"stripe\": credential needs a type"},
    {"BearerNoSecret", service_with("credential = { type = \"bearer\" }"), "cloakroom.toml:4: service \"stripe\": bearer credential needs secret"},
    {"BadSecretRef", service_with("credential = { type = \"bearer\", secret = \"vault:x\" }"), "cloakroom.toml:4: service \"stripe\": secret: "},
    {"BadFileSecretRef", service_with("credential = { type = \"bearer\", secret = \"file:../x\" }"), "cloakroom.toml:4: service \"stripe\": secret: "},
    {"SecretRefWrongType", service_with("credential = { type = \"bearer\", secret = 5 }"), "cloakroom.toml:4: service \"stripe\": secret must be a secret reference string"},
    {"ProviderTableIncomplete", service_with("credential = { type = \"bearer\", secret = { provider = \"env\" } }"), "cloakroom.toml:4: service \"stripe\": secret needs both provider and name"},
    {"KeyForOtherType", service_with("credential = { type = \"bearer\", secret = \"file:x\", param = \"k\" }"), "cloakroom.toml:4: service \"stripe\": credential key \"param\" does not apply to type \"bearer\""},
    {"BasicNoUsername", service_with("credential = { type = \"basic\", secret = \"file:x\" }"), "cloakroom.toml:4: service \"stripe\": basic credential needs exactly one of username (text) and username_secret"},
    {"BasicBothUsernames", service_with("credential = { type = \"basic\", username = \"u\", username_secret = \"env:U\", secret = \"file:x\" }"), "basic credential needs exactly one of username"},
    {"BasicNoSecretAtAll", service_with("credential = { type = \"basic\", username = \"u\" }"), "cloakroom.toml:4: service \"stripe\": basic credential has no secret"},
    {"BasicColonInUsername", service_with("credential = { type = \"basic\", username = \"a:b\", secret = \"file:x\" }"), "cloakroom.toml:4: service \"stripe\": username must be non-empty without ':'"},
    {"HeaderNoHeader", service_with("credential = { type = \"header\", secret = \"file:x\" }"), "cloakroom.toml:4: service \"stripe\": header credential needs header"},
    {"HeaderBadName", service_with("credential = { type = \"header\", header = \"x key\", secret = \"file:x\" }"), "cloakroom.toml:4: service \"stripe\": header \"x key\" is not a valid header name"},
    {"HeaderReserved", service_with("credential = { type = \"header\", header = \"Host\", secret = \"file:x\" }"), "cloakroom.toml:4: service \"stripe\": header \"Host\" controls routing or framing"},
    {"HeaderPrefixNewline", service_with("credential = { type = \"header\", header = \"k\", prefix = \"a\\r\\nX: y\", secret = \"file:x\" }"), "cloakroom.toml:4: service \"stripe\": prefix contains a control character"},
    {"QueryNoParam", service_with("credential = { type = \"query\", secret = \"file:x\" }"), "cloakroom.toml:4: service \"stripe\": query credential needs param"},
    {"QueryBadParam", service_with("credential = { type = \"query\", param = \"a&b\", secret = \"file:x\" }"), "cloakroom.toml:4: service \"stripe\": param \"a&b\" must be"},
    {"QueryNoSecret", service_with("credential = { type = \"query\", param = \"k\" }"), "cloakroom.toml:4: service \"stripe\": query credential needs secret"},
    {"TemplateNoTemplate", service_with("credential = { type = \"template\", secret = \"file:x\" }"), "cloakroom.toml:4: service \"stripe\": template credential needs template"},
    {"TemplateNoPlaceholder", service_with("credential = { type = \"template\", template = \"token\", secret = \"file:x\" }"), "cloakroom.toml:4: service \"stripe\": template must contain {secret} exactly once"},
    {"TemplateTwoPlaceholders", service_with("credential = { type = \"template\", template = \"{secret}{secret}\", secret = \"file:x\" }"), "template must contain {secret} exactly once"},
    {"CredentialOnItsOwnLines", "[[service]]\nname = \"stripe\"\nhosts = [\"api.stripe.com\"]\n\n[service.credential]\ntype = \"bearer\"\nsecret = \"file:x\"\nparam = \"k\"\n", "cloakroom.toml:8: service \"stripe\": credential key \"param\" does not apply to type \"bearer\""},
};
// clang-format on

INSTANTIATE_TEST_SUITE_P(All, ConfigError, ::testing::ValuesIn(kCases),
                         [](const auto& param_info) { return std::string(param_info.param.name); });

TEST(ConfigErrors, SyntaxErrorReportsLineAndColumn) {
    const std::string message = error_of("[gateway]\nlisten = \"127.0.0.1:3128\n", "config.syntax");
    EXPECT_THAT(message, HasSubstr("cloakroom.toml:2:"));
}

TEST(ConfigErrors, DuplicateKeyIsASyntaxError) {
    const std::string message =
        error_of("[gateway]\nstrict = true\nstrict = false\n", "config.syntax");
    EXPECT_THAT(message, HasSubstr("cloakroom.toml:3:"));
}

TEST(ConfigErrors, SeveralProblemsAreReportedTogether) {
    const std::string message = error_of("[gateway]\nlistn = \"x\"\n[token]\nprefix = \"a b\"\n");
    EXPECT_THAT(message, HasSubstr("cloakroom.toml:2: [gateway]: unknown key \"listn\""));
    EXPECT_THAT(message, HasSubstr("\ncloakroom.toml:4: [token]: prefix"));
}

TEST(ConfigErrors, MissingHomeWithoutExplicitDirectories) {
    auto result = parse_config_string("", "cloakroom.toml", Environment());
    ASSERT_FALSE(result.ok());
    EXPECT_THAT(result.error().message, HasSubstr("cannot choose a default [gateway] data_dir"));
    // With every directory set explicitly, no home directory is needed.
    auto explicit_dirs = parse_config_string(
        "[gateway]\ndata_dir = \"/d\"\n[secrets]\ndir = \"/s\"\n", "cloakroom.toml", Environment());
    EXPECT_TRUE(explicit_dirs.ok()) << explicit_dirs.error().message;
}

TEST(ConfigErrors, SecretValuesAreNotEchoed) {
    // A secret pasted where a reference belongs must not be repeated into logs.
    const std::string message =
        error_of(service_with("credential = { type = \"bearer\", secret = \"sk_live_ABCDEF\" }"));
    EXPECT_THAT(message, HasSubstr("cloakroom.toml:4:"));
    EXPECT_THAT(message, ::testing::Not(HasSubstr("ABCDEF")));
}

}  // namespace
}  // namespace cloakroom::config

namespace cloakroom::config {
namespace {

// Invariant 8: malformed config gets an error, never a crash. Deterministic byte mutations of
// a config that uses every feature; run under CLOAKROOM_SANITIZE for full effect.
TEST(ConfigRobustness, MutatedInputNeverCrashes) {
    const std::string seed = R"([gateway]
listen = "[::1]:3128"
strict = true
[token]
default_validity = "1h30m"
[allow]
hosts = ["pypi.org"]
[[service]]
name = "stripe"
hosts = ["api.stripe.com:443"]
credential = { type = "template", template = "token {secret}", secret = "env:K" }
[[service.allow]]
methods = ["GET"]
paths = ["/v1/**"]
)";
    using namespace std::string_literals;
    const std::string alphabet = "[]{}\"'=.,:#\n \\*/-_0123456789aZ\x00\xff"s;
    std::uint32_t state = 12345;
    auto next = [&state]() {
        state = state * 1103515245u + 12345u;
        return state >> 8;
    };
    int accepted = 0;
    for (int round = 0; round < 3000; ++round) {
        std::string text = seed;
        const int edits = 1 + static_cast<int>(next() % 4);
        for (int i = 0; i < edits; ++i) {
            const std::size_t at = next() % text.size();
            const char c = alphabet[next() % alphabet.size()];
            switch (next() % 3) {
                case 0:
                    text[at] = c;
                    break;
                case 1:
                    text.insert(at, 1, c);
                    break;
                default:
                    text.erase(at, 1);
                    break;
            }
        }
        auto result = parse_config_string(text, "fuzz.toml", test_env());
        if (result.ok()) {
            ++accepted;
        } else {
            EXPECT_FALSE(result.error().message.empty());
        }
    }
    EXPECT_GT(accepted, 0);  // some mutations land in harmless places
}

}  // namespace
}  // namespace cloakroom::config
