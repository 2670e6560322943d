// One audit line per database session, in the gateway's audit sink, with the same rule as HTTP
// records: the token appears only as its id, never a password or token.
#pragma once

#include <cstdint>
#include <string>

#include "runtime/runtime.hpp"

namespace cloakroom::db {

struct DbAuditRecord {
    std::int64_t time_ms = 0;  // Unix ms when the client connected
    std::string token_id;
    std::string database;  // [[database]] name
    std::string protocol;  // postgres | mysql | redis
    std::string login;     // the login name the client asked for
    std::string db_name;   // database name (PostgreSQL/MySQL) or "" (Redis)
    std::string decision;  // allow | deny | error | cancel
    std::string reason;
    std::uint64_t bytes_in = 0;   // client → upstream after login
    std::uint64_t bytes_out = 0;  // upstream → client after login
    std::uint64_t duration_us = 0;
    std::string client;  // "ip:port"
};

std::string to_json_line(const DbAuditRecord& record);
void write_audit(const runtime::Runtime& runtime, const DbAuditRecord& record);

}  // namespace cloakroom::db
