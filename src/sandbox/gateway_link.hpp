// The sandbox's side of the gateway's hand-over socket (docs/sandbox.md, "Hand-over"): an
// AF_UNIX SOCK_SEQPACKET socket at <data_dir>/run/sandbox.sock where `cloakroom serve` adopts a
// sandbox's listening sockets for as long as the connection stays open.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sandbox/net_setup.hpp"
#include "util/result.hpp"
#include "util/unique_fd.hpp"

namespace cloakroom::sandbox {

std::filesystem::path default_handover_path(const std::filesystem::path& data_dir);

// Errors "sandbox.gateway": no socket there ("absent"), nobody listening, refused.
Result<UniqueFd> connect_handover(const std::filesystem::path& path);

// The adopt request of the interface, pure: {"op":"adopt","session":..,"token_id":..,
// "listeners":[kinds in fd order]}.
nlohmann::json adopt_request(const std::string& session, const std::string& token_id,
                             const std::vector<Listener>& listeners);

// Sends the request with the fds and waits for {"ok":true}; the connection must then stay open
// for the sandbox's life. Errors "sandbox.gateway" with the gateway's error text.
Result<void> adopt(int connection, const std::string& session, const std::string& token_id,
                   const std::vector<Listener>& listeners);

// {"op":"status"}: the gateway's reply.
Result<nlohmann::json> gateway_status(int connection);

}  // namespace cloakroom::sandbox
