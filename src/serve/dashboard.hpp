// The admin dashboard (docs/operations.md, "Dashboard"): which static file a path names, the
// URL `cloakroom dashboard` prints, and the JSON of the two views the page polls (the last audit
// records, the decisions per second). Pure functions; serve/admin_api.* routes to them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/recent_audit.hpp"

namespace cloakroom::serve {

struct DashboardAsset {
    std::string_view body;
    std::string_view content_type;
};

// "/dashboard" (the page), "/dashboard/app.js", "/dashboard/app.css"; nullopt for anything else.
std::optional<DashboardAsset> dashboard_asset(std::string_view path);

// http://HOST:PORT/dashboard#token=TOKEN: the token in the fragment, which a browser never sends
// to the server (not in the request line, not in logs, not in Referer). An IPv6 host is bracketed.
std::string dashboard_url(std::string_view host, std::uint16_t port, std::string_view token);

// The value of `name` in the target's query ("/x?after=12&limit=5"), when it is a decimal number.
std::optional<std::uint64_t> query_number(std::string_view target, std::string_view name);

// {"records":[{"seq":N, <the audit line's fields>}...],"last_seq":N,"capacity":N}
nlohmann::json recent_records_json(const std::vector<runtime::RecentRecord>& records,
                                   std::uint64_t last_seq, std::size_t capacity);

// {"bucket_seconds":1,"end":"<RFC 3339>","end_ms":N,"decisions":[...],"series":{"allow":[...]}}
nlohmann::json decision_series_json(const runtime::DecisionSeries& series);

}  // namespace cloakroom::serve
