#include "serve/dashboard.hpp"

#include <charconv>

#include "serve/dashboard_assets.hpp"

namespace cloakroom::serve {

std::optional<DashboardAsset> dashboard_asset(std::string_view path) {
    struct Route {
        std::string_view path;
        std::string_view file;
        std::string_view content_type;
    };
    static constexpr Route kRoutes[] = {
        {"/dashboard", "index.html", "text/html; charset=utf-8"},
        {"/dashboard/", "index.html", "text/html; charset=utf-8"},
        {"/dashboard/app.js", "app.js", "text/javascript; charset=utf-8"},
        {"/dashboard/app.css", "app.css", "text/css; charset=utf-8"},
    };
    for (const Route& route : kRoutes) {
        if (route.path != path) continue;
        auto body = dashboard_file(route.file);
        if (!body) return std::nullopt;
        return DashboardAsset{*body, route.content_type};
    }
    return std::nullopt;
}

std::string dashboard_url(std::string_view host, std::uint16_t port, std::string_view token) {
    std::string out = "http://";
    if (host.find(':') != std::string_view::npos && host.front() != '[') {
        out.append("[").append(host).append("]");
    } else {
        out.append(host);
    }
    out.append(":").append(std::to_string(port)).append("/dashboard#token=").append(token);
    return out;
}

std::optional<std::uint64_t> query_number(std::string_view target, std::string_view name) {
    const auto question = target.find('?');
    if (question == std::string_view::npos) return std::nullopt;
    std::string_view query = target.substr(question + 1);
    while (!query.empty()) {
        const auto amp = query.find('&');
        const std::string_view pair = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
        const auto equals = pair.find('=');
        if (equals == std::string_view::npos || pair.substr(0, equals) != name) continue;
        const std::string_view digits = pair.substr(equals + 1);
        std::uint64_t value = 0;
        const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
        if (ec != std::errc() || end != digits.data() + digits.size() || digits.empty()) {
            return std::nullopt;
        }
        return value;
    }
    return std::nullopt;
}

nlohmann::json recent_records_json(const std::vector<runtime::RecentRecord>& records,
                                   std::uint64_t last_seq, std::size_t capacity) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& recent : records) {
        // The audit line itself (its fields, its order, invalid UTF-8 replaced): the dashboard
        // shows exactly what the audit log holds, nothing the log would not.
        nlohmann::json one =
            nlohmann::json::parse(runtime::to_json_line(recent.record), nullptr, false);
        if (one.is_discarded()) continue;
        one["seq"] = recent.seq;
        list.push_back(std::move(one));
    }
    return {{"records", std::move(list)}, {"last_seq", last_seq}, {"capacity", capacity}};
}

nlohmann::json decision_series_json(const runtime::DecisionSeries& series) {
    nlohmann::json names = nlohmann::json::array();
    nlohmann::json counts = nlohmann::json::object();
    for (std::size_t d = 0; d < runtime::kSeriesDecisions.size(); ++d) {
        const std::string name(runtime::kSeriesDecisions[d]);
        names.push_back(name);
        counts[name] = series.counts[d];
    }
    return {{"bucket_seconds", 1},
            {"end", runtime::rfc3339_ms(series.end_second * 1000)},
            {"end_ms", series.end_second * 1000},
            {"decisions", std::move(names)},
            {"series", std::move(counts)}};
}

}  // namespace cloakroom::serve
