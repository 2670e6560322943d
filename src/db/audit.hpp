// Database sessions write the gateway's one audit schema (runtime/audit.hpp, kind "database"):
// the token appears only as its id, never a password or token.
#pragma once

#include "runtime/audit.hpp"

namespace cloakroom::db {

using DbAuditRecord = runtime::AuditRecord;

}  // namespace cloakroom::db
