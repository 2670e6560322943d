// What a protocol session gets from the listener, and the three session entry points. A session
// owns its client stream; it dials the upstream itself (upstream.hpp), logs in, then relays
// (relay.hpp) and writes one audit record (audit.hpp).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "config/model.hpp"
#include "db/cancel_registry.hpp"
#include "db/relay_placement.hpp"
#include "db/stream.hpp"
#include "runtime/runtime.hpp"
#include "runtime/session_registry.hpp"

namespace cloakroom::db {

// No idle limit on the relay: database sessions idle legitimately (client pools keep them).
struct DbTimeouts {
    std::chrono::seconds login{15};    // accept → upstream login finished (both directions)
    std::chrono::seconds connect{10};  // upstream TCP connect + TLS handshake
};

// Shared by every session of one listener; lives as long as the listener.
struct ListenerServices {
    std::string database_name;  // the [[database]] this listener serves
    // TLS context that presents a Cloakroom-CA leaf for the listen address (nullptr when
    // client_tls = off).
    std::shared_ptr<net::ssl::context> client_tls;
    CancelRegistry cancels;  // PostgreSQL cancel keys of live sessions
    DbTimeouts timeouts;
    std::shared_ptr<const void> client_tls_state;  // what client_tls's callbacks point to
    // The gateway's live sessions (revocation ends them by token); null in tests.
    std::shared_ptr<runtime::SessionRegistry> sessions;
    // The relay threads logged-in plaintext sessions move to (relay_placement.hpp); null or
    // none: every session relays on the worker that accepted it.
    std::shared_ptr<RelayPlacement> relay_placement;
};

struct Session {
    DbStream client;
    // The snapshot current at accept; the session uses it throughout (a reload never changes a
    // session midway). `database` points into runtime->config.databases.
    std::shared_ptr<const runtime::Runtime> runtime;
    const config::Database* database = nullptr;
    // Shared so that sessions still unwinding at shutdown never outlive it.
    std::shared_ptr<ListenerServices> services;
    std::chrono::steady_clock::time_point started;
    std::int64_t started_unix_ms = 0;
};

net::awaitable<void> run_postgres_session(Session session);
net::awaitable<void> run_mysql_session(Session session);

// Starts generating Cloakroom's RSA key for MySQL clients without TLS (caching_sha2_password's
// key exchange) on a background thread; idempotent. Called at start-up when a MySQL listener may
// see such clients: a 4096-bit key takes seconds on a busy machine, and no login should wait for
// it (docs/databases-mysql.md).
void start_mysql_key_generation();
net::awaitable<void> run_redis_session(Session session);

}  // namespace cloakroom::db
