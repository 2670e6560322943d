// The environment an agent needs to use Cloakroom (`cloakroom env`): proxy URLs, NO_PROXY and
// CA settings. Pure: the caller supplies the file paths.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "config/model.hpp"

namespace cloakroom::proxy {

// "http://127.0.0.1:3128"; wildcard listen addresses become loopback, IPv6 is bracketed.
std::string proxy_url(const config::ListenerConfig& listener);

// Loopback plus the allowed (non-credential) hosts, ports stripped, IPv6 without brackets,
// de-duplicated. A credential host is never listed (it would bypass injection and rules).
std::string no_proxy_list(const config::Config& config);

struct AgentFiles {
    std::string bundle;   // system roots + Cloakroom CA (for variables that replace the store)
    std::string ca_cert;  // Cloakroom CA alone (for NODE_EXTRA_CA_CERTS, which adds to it)
};

std::vector<std::pair<std::string, std::string>> agent_environment(const config::Config& config,
                                                                   const AgentFiles& files);

// `export NAME='value'` lines, single-quoted for POSIX shells.
std::string shell_exports(const std::vector<std::pair<std::string, std::string>>& variables);

}  // namespace cloakroom::proxy
