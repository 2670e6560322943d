#include "db/audit.hpp"

#include <nlohmann/json.hpp>

#include "runtime/audit.hpp"

namespace cloakroom::db {

std::string to_json_line(const DbAuditRecord& record) {
    // "kind" tells database sessions apart from HTTP request records in the same log.
    const nlohmann::ordered_json line = {
        {"time", runtime::rfc3339_ms(record.time_ms)},
        {"kind", "database"},
        {"token_id", record.token_id},
        {"database", record.database},
        {"protocol", record.protocol},
        {"login", record.login},
        {"db_name", record.db_name},
        {"decision", record.decision},
        {"reason", record.reason},
        {"bytes_in", record.bytes_in},
        {"bytes_out", record.bytes_out},
        {"duration_us", record.duration_us},
        {"client", record.client},
    };
    return line.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
}

void write_audit(const runtime::Runtime& runtime, const DbAuditRecord& record) {
    if (runtime.audit) runtime.audit->write_line(to_json_line(record));
}

}  // namespace cloakroom::db
