#include "proxy/agent_env.hpp"

#include <algorithm>

#include "config/authority.hpp"

namespace cloakroom::proxy {
namespace {

std::string lower(std::string_view text) {
    std::string out(text);
    for (char& c : out) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
    return out;
}

// The host of a NO_PROXY entry or a request host as the clients compare it: lower case,
// without brackets, a port or a trailing dot.
std::string bare_host(std::string_view text) {
    std::string host = lower(text);
    if (!host.empty() && host.front() == '[') {
        const std::size_t close = host.find(']');
        host = host.substr(1, close == std::string::npos ? std::string::npos : close - 1);
    } else if (std::count(host.begin(), host.end(), ':') == 1) {
        host.erase(host.find(':'));  // "host:port"; more colons: a bare IPv6 address
    }
    while (!host.empty() && host.back() == '.') host.pop_back();
    return host;
}

void add_unique(std::vector<std::string>& list, std::string value) {
    if (std::find(list.begin(), list.end(), value) == list.end()) list.push_back(std::move(value));
}

}  // namespace

std::string proxy_url(const config::ListenerConfig& listener) {
    std::string host = listener.host;
    if (host == "0.0.0.0") host = "127.0.0.1";
    if (host == "::") host = "::1";
    if (host.find(':') != std::string::npos) host = "[" + host + "]";
    return "http://" + host + ":" + std::to_string(listener.port);
}

bool no_proxy_entry_covers(std::string_view raw_entry, std::string_view raw_host) {
    std::string entry = lower(raw_entry);
    entry.erase(
        std::remove_if(entry.begin(), entry.end(), [](char c) { return c == ' ' || c == '\t'; }),
        entry.end());
    if (entry.empty()) return false;
    if (entry.find('*') != std::string::npos) return true;  // "*", "*.x": treat as covering all
    while (!entry.empty() && entry.front() == '.') entry.erase(0, 1);
    entry = bare_host(entry);
    if (entry.empty()) return true;  // "." or ":port": some clients match everything
    const std::string host = bare_host(raw_host);
    // requests compares with a plain str.endswith(): the widest rule, which includes equality
    // and every "."-boundary suffix rule (curl, urllib, httpx, Go, undici).
    return host.size() >= entry.size() &&
           host.compare(host.size() - entry.size(), entry.size(), entry) == 0;
}

std::string no_proxy_list(const config::Config& config) {
    std::vector<std::string> service_hosts;
    for (const auto& service : config.services) {
        for (const auto& authority : service.hosts) add_unique(service_hosts, bare_host(authority));
    }
    std::vector<std::string> candidates = {"localhost", "127.0.0.1", "::1", "[::1]"};
    for (const auto& entry : config.allowed_hosts) {
        auto authority = config::parse_authority(entry);
        if (!authority.ok()) continue;
        candidates.push_back(authority->host);
        // Python's urllib compares "[::1]" (brackets kept), the others the bare address.
        if (authority->is_ipv6()) candidates.push_back("[" + authority->host + "]");
    }
    std::vector<std::string> unique;
    for (auto& candidate : candidates) {
        const bool covers_credential_host = std::any_of(
            service_hosts.begin(), service_hosts.end(),
            [&](const std::string& host) { return no_proxy_entry_covers(candidate, host); });
        if (!covers_credential_host) add_unique(unique, std::move(candidate));
    }
    std::string out;
    for (const auto& host : unique) out += (out.empty() ? "" : ",") + host;
    return out;
}

std::vector<std::pair<std::string, std::string>> default_base_url_env(std::string_view host) {
    // The SDKs' own defaults: OpenAI's base URL ends in /v1, Anthropic's is the bare origin.
    if (host == "api.openai.com") return {{"OPENAI_BASE_URL", "/v1"}};
    if (host == "api.anthropic.com") return {{"ANTHROPIC_BASE_URL", ""}};
    return {};
}

std::vector<std::pair<std::string, std::string>> base_url_variables(const config::Config& config) {
    std::vector<std::pair<std::string, std::string>> out;
    if (!config.gateway.reverse) return out;
    const std::string origin = proxy_url(*config.gateway.reverse);
    for (const auto& service : config.services) {
        if (service.hosts.empty()) continue;
        const auto variables = service.base_url_env
                                   ? *service.base_url_env
                                   : default_base_url_env(bare_host(service.hosts.front()));
        for (const auto& [name, path] : variables) {
            const bool taken = std::any_of(out.begin(), out.end(),
                                           [&](const auto& seen) { return seen.first == name; });
            if (!taken) out.emplace_back(name, origin + "/" + service.name + path);
        }
    }
    return out;
}

std::vector<std::pair<std::string, std::string>> agent_environment(const config::Config& config,
                                                                   const AgentFiles& files) {
    const std::string proxy = proxy_url(config.gateway.proxy);
    const std::string no_proxy = no_proxy_list(config);
    std::vector<std::pair<std::string, std::string>> out = {
        {"HTTPS_PROXY", proxy},
        {"https_proxy", proxy},
        {"HTTP_PROXY", proxy},
        {"http_proxy", proxy},
        {"NO_PROXY", no_proxy},
        {"no_proxy", no_proxy},
        {"SSL_CERT_FILE", files.bundle},
        {"REQUESTS_CA_BUNDLE", files.bundle},
        {"CURL_CA_BUNDLE", files.bundle},
        {"GIT_SSL_CAINFO", files.bundle},
        {"NODE_EXTRA_CA_CERTS", files.ca_cert},
        {"NODE_USE_ENV_PROXY", "1"},
    };
    for (auto& variable : base_url_variables(config)) out.push_back(std::move(variable));
    return out;
}

std::string shell_exports(const std::vector<std::pair<std::string, std::string>>& variables) {
    std::string out;
    for (const auto& [name, value] : variables) {
        std::string quoted = "'";
        for (char c : value) {
            if (c == '\'') {
                quoted += "'\\''";
            } else {
                quoted += c;
            }
        }
        quoted += "'";
        out += "export " + name + "=" + quoted + "\n";
    }
    return out;
}

}  // namespace cloakroom::proxy
