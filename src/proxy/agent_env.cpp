#include "proxy/agent_env.hpp"

#include <algorithm>

#include "config/authority.hpp"

namespace cloakroom::proxy {

std::string proxy_url(const config::ListenerConfig& listener) {
    std::string host = listener.host;
    if (host == "0.0.0.0") host = "127.0.0.1";
    if (host == "::") host = "::1";
    if (host.find(':') != std::string::npos) host = "[" + host + "]";
    return "http://" + host + ":" + std::to_string(listener.port);
}

std::string no_proxy_list(const config::Config& config) {
    std::vector<std::string> hosts = {"localhost", "127.0.0.1", "::1"};
    for (const auto& entry : config.allowed_hosts) {
        auto authority = config::parse_authority(entry);
        if (!authority.ok()) continue;
        // Defence in depth: the config already keeps service hosts out of allowed_hosts.
        if (config.find_service(authority->host) != nullptr) continue;
        hosts.push_back(authority->host);
    }
    std::vector<std::string> unique;
    for (auto& host : hosts) {
        if (std::find(unique.begin(), unique.end(), host) == unique.end()) unique.push_back(host);
    }
    std::string out;
    for (const auto& host : unique) out += (out.empty() ? "" : ",") + host;
    return out;
}

std::vector<std::pair<std::string, std::string>> agent_environment(const config::Config& config,
                                                                   const AgentFiles& files) {
    const std::string proxy = proxy_url(config.gateway.proxy);
    const std::string no_proxy = no_proxy_list(config);
    return {
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
