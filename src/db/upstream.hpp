// The connection from Cloakroom to a database server: TCP to the configured upstream address
// (chosen by the operator, never by the agent, so no address policy applies), with a deadline.
// TLS is protocol-specific in when it starts; the session calls DbStream::connect_tls with
// runtime->database_tls.at(name) (tls::make_database_client_context) at the right moment.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <memory>

#include "config/model.hpp"
#include "db/stream.hpp"
#include "util/result.hpp"

namespace cloakroom::db {

// Resolves upstream_host and connects to the first address that answers. Errors: "db.upstream"
// naming the address and the system error, or the timeout.
net::awaitable<Result<DbStream>> dial_database(const config::Database& database,
                                               std::chrono::seconds timeout);

}  // namespace cloakroom::db
