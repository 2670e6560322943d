// `cloakroom env`: NO_PROXY never sends a credential host around the gateway, under any common
// client's matching rule, and base-URL variables for SDKs (the hardening issue, items 2 and 5).
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <sstream>

#include "config/loader.hpp"
#include "proxy/agent_env.hpp"

namespace cloakroom::proxy {
namespace {

config::Config load(const std::string& toml) {
    config::Environment env(config::Environment::Variables{{"HOME", "/home/agent"}});
    auto config = config::parse_config_string(toml, "test.toml", env);
    EXPECT_TRUE(config.ok()) << config.error().message;
    return config.ok() ? *config : config::Config{};
}

std::vector<std::string> split(const std::string& list) {
    std::vector<std::string> out;
    std::stringstream in(list);
    for (std::string item; std::getline(in, item, ',');) out.push_back(item);
    return out;
}

std::string lower(std::string text) {
    for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return text;
}

bool ends_with(const std::string& text, const std::string& suffix) {
    return text.size() >= suffix.size() &&
           text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Each client's NO_PROXY rule for one entry and a request host (no port), as documented or as
// their source reads. `host` is what the client compares: urllib keeps IPv6 brackets.
using Matcher = bool (*)(const std::string& entry, const std::string& host);

std::string strip_dots(std::string entry) {
    while (!entry.empty() && entry.front() == '.') entry.erase(0, 1);
    return entry;
}

std::string unbracket(const std::string& host) {
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
        return host.substr(1, host.size() - 2);
    }
    return host;
}

bool dot_suffix(const std::string& host, const std::string& entry) {
    return host == entry || ends_with(host, "." + entry);
}

// curl (lib/noproxy.c): "*" all; a leading dot ignored; equal, or a "."-boundary suffix.
bool curl_rule(const std::string& entry, const std::string& host) {
    return entry == "*" || dot_suffix(lower(host), strip_dots(lower(entry)));
}
// Python urllib.request.proxy_bypass_environment: the same, on the host as written (brackets).
bool urllib_rule(const std::string& entry, const std::string& host) {
    return entry == "*" || dot_suffix(lower(host), strip_dots(lower(entry)));
}
// requests.utils.should_bypass_proxies: plain str.endswith(), no boundary, brackets gone.
bool requests_rule(const std::string& entry, const std::string& host) {
    return ends_with(unbracket(host), entry);
}
// httpx: "*" all; otherwise "all://*<entry>" patterns: equal or "."-boundary suffix.
bool httpx_rule(const std::string& entry, const std::string& host) {
    return entry == "*" || dot_suffix(lower(unbracket(host)), unbracket(strip_dots(lower(entry))));
}
// Go (x/net/http/httpproxy): "*"; ".x" matches subdomains of x only; "x" x and subdomains.
bool go_rule(const std::string& entry, const std::string& host) {
    if (entry == "*") return true;
    const std::string h = unbracket(host);
    const std::string e = unbracket(entry);
    if (!e.empty() && e.front() == '.') return ends_with(h, e);
    return dot_suffix(h, e);
}
// Node/undici EnvHttpProxyAgent: "*"; leading "*." / "." stripped; equal or suffix.
bool node_rule(const std::string& entry, const std::string& host) {
    if (entry == "*") return true;
    std::string e = entry.rfind("*.", 0) == 0 ? entry.substr(2) : entry;
    return dot_suffix(lower(host), strip_dots(lower(e)));
}

const std::map<std::string, Matcher>& clients() {
    static const std::map<std::string, Matcher> rules = {
        {"curl", curl_rule},   {"urllib", urllib_rule}, {"requests", requests_rule},
        {"httpx", httpx_rule}, {"go", go_rule},         {"node", node_rule},
    };
    return rules;
}

// Every host of every service must reach the gateway: no client bypasses it for any entry.
void expect_no_credential_host_bypassed(const config::Config& config) {
    const auto entries = split(no_proxy_list(config));
    for (const auto& service : config.services) {
        for (std::string host : service.hosts) {
            // As clients see it: without a port (IPv6 bracketed in the config already).
            if (host.front() == '[') {
                host = host.substr(0, host.find(']') + 1);
            } else if (auto colon = host.find(':'); colon != std::string::npos) {
                host.erase(colon);
            }
            for (const auto& [client, bypasses] : clients()) {
                for (const auto& entry : entries) {
                    EXPECT_FALSE(bypasses(entry, host))
                        << client << " sends " << host << " direct because of NO_PROXY entry "
                        << entry;
                    EXPECT_FALSE(no_proxy_entry_covers(entry, host)) << entry << " " << host;
                }
            }
        }
    }
}

TEST(NoProxy, AllowedParentDomainOfAServiceIsLeftOut) {
    const auto config = load(R"(
[allow]
hosts = ["github.com", "pypi.org", "files.pythonhosted.org", "hub.com", "api.github.com.evil.net"]
[[service]]
name = "github"
hosts = ["api.github.com"]
)");
    const auto entries = split(no_proxy_list(config));
    EXPECT_EQ(std::count(entries.begin(), entries.end(), "github.com"), 0);
    EXPECT_EQ(std::count(entries.begin(), entries.end(), "hub.com"), 0);  // requests' endswith
    // Unrelated allowed hosts stay: they are reached directly, as before.
    for (const char* kept : {"pypi.org", "files.pythonhosted.org", "api.github.com.evil.net"}) {
        EXPECT_EQ(std::count(entries.begin(), entries.end(), kept), 1) << kept;
    }
    expect_no_credential_host_bypassed(config);
}

TEST(NoProxy, LoopbackIncludesBothIpv6Forms) {
    const auto entries = split(no_proxy_list(load("")));
    for (const char* loopback : {"localhost", "127.0.0.1", "::1", "[::1]"}) {
        EXPECT_EQ(std::count(entries.begin(), entries.end(), loopback), 1) << loopback;
    }
}

TEST(NoProxy, ServiceOnLoopbackOrIpv6KeepsItsLoopbackEntryOut) {
    const auto config = load(R"(
[allow]
hosts = ["[2001:db8::1]", "10.0.0.1", "example.net"]
[[service]]
name = "local"
hosts = ["localhost:8443", "[::1]:9443"]
[[service]]
name = "ip"
hosts = ["110.0.0.1", "[2001:db8::1]:8443", "Sub.Example.NET"]
)");
    const auto entries = split(no_proxy_list(config));
    for (const char* gone :
         {"localhost", "::1", "[::1]", "2001:db8::1", "[2001:db8::1]", "10.0.0.1", "example.net"}) {
        EXPECT_EQ(std::count(entries.begin(), entries.end(), gone), 0) << gone;
    }
    EXPECT_EQ(std::count(entries.begin(), entries.end(), "127.0.0.1"), 1);
    expect_no_credential_host_bypassed(config);
}

TEST(NoProxy, EntryCoverageIsTheUnionOfTheClientRules) {
    for (const auto& [entry, host] : std::vector<std::pair<std::string, std::string>>{
             {"*", "api.example.com"},
             {"*.example.com", "api.example.com"},
             {".example.com", "api.example.com"},
             {"example.com", "API.Example.com"},
             {"example.com:443", "api.example.com"},
             {"ample.com", "api.example.com"},
             {"[::1]", "::1"},
             {"::1", "[::1]:8443"},
             {"api.example.com.", "api.example.com"},
         }) {
        EXPECT_TRUE(no_proxy_entry_covers(entry, host)) << entry << " " << host;
    }
    for (const auto& [entry, host] : std::vector<std::pair<std::string, std::string>>{
             {"example.com", "example.org"},
             {"api.example.com", "example.com"},
             {"", "example.com"},
         }) {
        EXPECT_FALSE(no_proxy_entry_covers(entry, host)) << entry << " " << host;
    }
}

TEST(BaseUrls, BuiltInDefaultsAndServiceKeysWhenTheReverseListenerIsOn) {
    const std::string services = R"(
[[service]]
name = "openai"
hosts = ["api.openai.com"]
[[service]]
name = "claude"
hosts = ["API.Anthropic.com:443"]
[[service]]
name = "internal"
hosts = ["llm.corp.example"]
base_url_env = { CORP_LLM_URL = "/api/v2", CORP_LLM_BASE = "" }
[[service]]
name = "quiet"
hosts = ["api.openai.com:8443"]
base_url_env = {}
[[service]]
name = "second-openai"
hosts = ["openai-mirror.example"]
base_url_env = "OPENAI_BASE_URL"
)";
    EXPECT_TRUE(base_url_variables(load(services)).empty());  // no reverse listener: nothing
    const auto config = load("[gateway]\nreverse_listen = \"127.0.0.1:8081\"\n" + services);
    const std::vector<std::pair<std::string, std::string>> expected = {
        {"OPENAI_BASE_URL", "http://127.0.0.1:8081/openai/v1"},
        {"ANTHROPIC_BASE_URL", "http://127.0.0.1:8081/claude"},
        {"CORP_LLM_BASE", "http://127.0.0.1:8081/internal"},  // a TOML table: sorted by name
        {"CORP_LLM_URL", "http://127.0.0.1:8081/internal/api/v2"},
    };
    EXPECT_EQ(base_url_variables(config), expected);
    const auto all = agent_environment(config, AgentFiles{"/b.pem", "/ca.pem"});
    for (const auto& variable : expected) {
        EXPECT_NE(std::find(all.begin(), all.end(), variable), all.end()) << variable.first;
    }
    const auto v6 = load("[gateway]\nreverse_listen = \"[::1]:8081\"\n" + services);
    EXPECT_EQ(base_url_variables(v6).front().second, "http://[::1]:8081/openai/v1");
}

TEST(BaseUrls, BadKeysAreConfigErrors) {
    config::Environment env;
    for (const char* bad : {R"(base_url_env = "1BAD")", R"(base_url_env = { "A-B" = "" })",
                            R"(base_url_env = { A = "v1" })", R"(base_url_env = { A = "/v1?x" })",
                            R"(base_url_env = 3)", R"(base_url_env = { A = 1 })"}) {
        const std::string toml =
            std::string("[[service]]\nname = \"s\"\nhosts = [\"s.example\"]\n") + bad + "\n";
        auto config = config::parse_config_string(toml, "t.toml", env);
        EXPECT_FALSE(config.ok()) << bad;
        if (!config.ok()) {
            EXPECT_NE(config.error().message.find("base_url_env"), std::string::npos);
        }
    }
}

}  // namespace
}  // namespace cloakroom::proxy
