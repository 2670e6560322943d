// The environment an agent needs to use Cloakroom (`cloakroom env`): proxy URLs, NO_PROXY, CA
// settings and base URLs. Pure: the caller supplies the file paths.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/model.hpp"

namespace cloakroom::proxy {

// "http://127.0.0.1:3128"; wildcard listen addresses become loopback, IPv6 is bracketed.
std::string proxy_url(const config::ListenerConfig& listener);

// Whether ANY common client would send a request for `host` directly (around the proxy) when
// NO_PROXY holds `entry`. The union of the clients' rules: curl, Python urllib, requests
// (a plain string suffix: "hub.com" covers "github.com"), httpx, Go, Node/undici: "*", a
// leading "." or "*.", ports, brackets, case. Over-approximates on purpose.
bool no_proxy_entry_covers(std::string_view entry, std::string_view host);

// Loopback ("localhost", "127.0.0.1", "::1", "[::1]") plus the allowed (non-credential) hosts,
// ports stripped, IPv6 both bare and bracketed, de-duplicated. An entry that would send a
// credential host (any service host) around the gateway under any client's matching rule is
// left out: that allowed host is then simply tunnelled by the gateway.
std::string no_proxy_list(const config::Config& config);

// Base-URL variables for SDKs that take a base URL (and Node before 22.21, which ignores
// NODE_USE_ENV_PROXY): only when the reverse listener is on. Per service: its base_url_env, or
// the built-in default of its first host (api.openai.com: OPENAI_BASE_URL = .../<service>/v1;
// api.anthropic.com: ANTHROPIC_BASE_URL = .../<service>). A name claimed by two services is
// exported for the first one only.
std::vector<std::pair<std::string, std::string>> base_url_variables(const config::Config& config);

// The built-in base-URL variables of a well-known API host (no port), else empty.
std::vector<std::pair<std::string, std::string>> default_base_url_env(std::string_view host);

struct AgentFiles {
    std::string bundle;   // system roots + Cloakroom CA (for variables that replace the store)
    std::string ca_cert;  // Cloakroom CA alone (for NODE_EXTRA_CA_CERTS, which adds to it)
};

std::vector<std::pair<std::string, std::string>> agent_environment(const config::Config& config,
                                                                   const AgentFiles& files);

// `export NAME='value'` lines, single-quoted for POSIX shells.
std::string shell_exports(const std::vector<std::pair<std::string, std::string>>& variables);

}  // namespace cloakroom::proxy
