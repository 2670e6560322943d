// Process-wide gateway state shared by all worker threads: the current runtime snapshot, the
// CA and its leaf cache, the server-side TLS context, limits and timeouts.
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <memory>

#include "dns/synthetic_pool.hpp"
#include "http/head_validator.hpp"
#include "proxy/h2/upstream_connection.hpp"
#include "proxy/upstream.hpp"
#include "runtime/runtime.hpp"
#include "runtime/session_registry.hpp"
#include "tls/certificate_authority.hpp"
#include "tls/leaf_cache.hpp"
#include "tls/leaf_contexts.hpp"

namespace cloakroom::proxy {

// The shared runtime lives below proxy/ (src/runtime/), used by the database gateways too.
using runtime::AuditRecord;
using runtime::AuditSink;
using runtime::build_runtime;
using runtime::Runtime;
using runtime::RuntimeHolder;

struct Timeouts {
    std::chrono::seconds first_header{30};       // from accept to a complete first request head
    std::chrono::seconds idle{60};               // keep-alive wait for the next request
    std::chrono::seconds tls_handshake{10};      // agent-side handshake after CONNECT
    std::chrono::seconds upstream_response{60};  // from request sent to response head
    std::chrono::seconds body_idle{120};         // no body byte either way for this long
    DialTimeouts dial;
};

struct Gateway {
    Gateway(std::shared_ptr<const Runtime> initial,
            std::shared_ptr<const tls::CertificateAuthority> authority,
            boost::asio::ssl::context server_context)
        : runtime(std::move(initial)),
          ca(authority),
          leaves(std::move(authority)),
          server_tls(std::move(server_context)) {}

    RuntimeHolder runtime;
    std::shared_ptr<const tls::CertificateAuthority> ca;
    tls::LeafCache leaves;
    // Agent-facing TLS contexts, one per intercepted host, each presenting that host's leaf.
    tls::LeafContexts leaf_contexts;
    boost::asio::ssl::context server_tls;
    Timeouts timeouts;
    cloakroom::http::HeadLimits limits;
    // Work that may block (exec: secret helpers), kept off the workers' event loops so that one
    // slow helper stalls no other connection.
    boost::asio::thread_pool blocking{2};
    // Names the DNS responder answered with a synthetic address, for the transparent listener
    // (docs/transparent.md).
    dns::SyntheticPool synthetic;
    // Live sessions by token (runtime/session_registry.hpp): agent connections register the
    // tokens they carry, so a revocation can end them. Null: no registration (tests).
    std::shared_ptr<runtime::SessionRegistry> sessions;
};

// One per io_context thread.
struct Worker {
    Gateway& gateway;
    UpstreamPool pool;
    h2::UpstreamH2Pool h2_pool;  // upstreams that chose HTTP/2 (multiplexed, not idle-only)
};

}  // namespace cloakroom::proxy
