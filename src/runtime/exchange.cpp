#include "runtime/exchange.hpp"

#include "runtime/metrics.hpp"
#include "runtime/recent_audit.hpp"
#include "runtime/token_usage.hpp"

namespace cloakroom::runtime {

std::int64_t unix_ms_now() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

Exchange::Exchange(std::shared_ptr<AuditSink> sink, std::string_view kind, std::string_view client)
    : sink_(std::move(sink)), started_(std::chrono::steady_clock::now()) {
    record_.time_ms = unix_ms_now();
    record_.kind = kind;
    record_.client.assign(client);
}

Exchange::~Exchange() {
    if (written_) return;
    if (!has_outcome_) {
        // Nothing decided how this ended: the agent closed, or a failure unwound us.
        record_.decision = kError;
        record_.reason = "the exchange ended before it completed";
    }
    finish();
}

void Exchange::refuse(const Refusal& refusal) {
    record_.status = refusal.status;
    record_.decision = kDeny;
    record_.reason = refusal.reason;
    error_ = error_label(refusal.error);
    has_outcome_ = true;
}

void Exchange::fail(unsigned status, std::string_view reason) {
    record_.status = status;
    record_.decision = kError;
    record_.reason.assign(reason);
    has_outcome_ = true;
}

void Exchange::complete(unsigned status, std::string_view decision, std::string_view reason) {
    record_.status = status;
    record_.decision.assign(decision);
    record_.reason.assign(reason);
    has_outcome_ = true;
}

void Exchange::finish() {
    if (written_) return;
    written_ = true;
    record_.duration_us =
        static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                       std::chrono::steady_clock::now() - started_)
                                       .count());
    if (sink_) sink_->write(record_);
    // The one metrics hook of the exchange path: counted once, with the record as written.
    metrics().observe(record_, error_);
    token_usage().record(record_);
    recent_audit().record(record_);  // the dashboard's live view
}

}  // namespace cloakroom::runtime
