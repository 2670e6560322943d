#include "db/session_frame.hpp"

#include <spdlog/spdlog.h>

#include <chrono>

namespace cloakroom::db {

SessionFrame::SessionFrame(Session& session, std::string_view protocol)
    : s_(session), exchange_(session.runtime->audit, runtime::kAuditDatabase, {}) {
    audit_.time_ms = session.started_unix_ms;
    audit_.service = session.database->name;
    audit_.protocol = std::string(protocol);
    audit_.client = session.client.peer();
}

void SessionFrame::start_login_deadline(const net::any_io_executor& executor) {
    deadline_.emplace(executor, s_.services->timeouts.login, s_.client);
}

void SessionFrame::finish() {
    live_.reset();
    deadline_.reset();
    s_.client.close();
    if (upstream_) upstream_->close();
    exchange_.finish();
}

void SessionFrame::record(std::string_view decision, std::string reason) {
    exchange_.complete(0, decision, reason);
}

std::optional<RelayPlacement::Lease> SessionFrame::place_relay() {
    if (s_.client.is_tls() || !upstream_ || upstream_->is_tls()) return std::nullopt;
    std::optional<RelayPlacement::Lease> lease = RelayPlacement::take(s_.services->relay_placement);
    if (!lease) return std::nullopt;
    auto client = s_.client.move_to(lease->context());
    auto upstream = client.ok() ? upstream_->move_to(lease->context()) : client;
    if (!upstream.ok()) {
        spdlog::warn("database \"{}\": {}: cannot move the session to a relay thread: {}",
                     s_.database->name, audit_.client, upstream.error().message);
        s_.client.close();
        upstream_->close();
        return std::nullopt;
    }
    return lease;
}

std::string SessionFrame::io_reason(std::string_view what) const {
    if (deadline_ && deadline_->expired()) {
        return "login did not finish within " +
               std::to_string(s_.services->timeouts.login.count()) + "s (" + std::string(what) +
               ")";
    }
    return std::string(what);
}

}  // namespace cloakroom::db

namespace cloakroom::db {

void SessionFrame::register_live(std::string_view token_id, std::optional<std::int64_t> minted) {
    if (!s_.services->sessions || token_id.empty()) return;
    live_ = s_.services->sessions->add(
        runtime::kAuditDatabase, token_id, s_.client.socket().get_executor(),
        [this] {
            s_.client.close();
            if (upstream_) upstream_->close();
        },
        minted);
}

}  // namespace cloakroom::db
