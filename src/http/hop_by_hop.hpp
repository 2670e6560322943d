// Hop-by-hop fields (RFC 9110 §7.6.1): they describe one connection, never the message, so a
// proxy removes them in both directions. Pure: no I/O.
#pragma once

#include <string_view>

#include "http/head.hpp"

namespace cloakroom::http {

// The fixed hop-by-hop fields plus the Proxy-* fields that are addressed to the proxy itself
// (Proxy-Authorization carries the agent's token; Proxy-Connection is a legacy hop field).
bool is_hop_by_hop(std::string_view name);

// Removes every fixed hop-by-hop field and every field a Connection field names, except the
// framing and routing fields (Host, Content-Length, Transfer-Encoding) the message depends on:
// a Connection list naming them must not make the message lose its framing.
void remove_hop_by_hop(Head& head);

}  // namespace cloakroom::http
