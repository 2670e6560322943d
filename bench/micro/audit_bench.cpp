// Audit log line: every request writes one (runtime::to_json_line), so formatting it is a
// per-request cost.
#include <benchmark/benchmark.h>

#include <string>

#include "runtime/audit.hpp"

namespace {

using namespace cloakroom;

runtime::AuditRecord typical_record() {
    runtime::AuditRecord record;
    record.time_ms = 1795748400123;
    record.token_id = "9f86d081884c7d659a2feaa0c55ad015";
    record.service = "stripe";
    record.host = "api.stripe.com";
    record.method = "GET";
    record.path = "/v1/customers/cus_0123456789abcdef/payment_methods";
    record.decision = "allow";
    record.reason = "";
    record.status = 200;
    record.bytes_in = 0;
    record.bytes_out = 18734;
    record.duration_us = 41234;
    record.client = "127.0.0.1:53124";
    return record;
}

void BM_AuditToJsonLine(benchmark::State& state) {
    const runtime::AuditRecord record = typical_record();
    for (auto _ : state) {
        std::string line = runtime::to_json_line(record);
        benchmark::DoNotOptimize(line);
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AuditToJsonLine);

// A denial: the reason has quotes to escape, the path a control byte and invalid UTF-8.
void BM_AuditToJsonLineEscaped(benchmark::State& state) {
    runtime::AuditRecord record = typical_record();
    record.decision = "deny";
    record.status = 403;
    record.reason = "token caveat: method \"POST\" not in allowed list [\"GET\"]\n(at depth 2)";
    record.path = "/v1/caf\xc3\xa9/\x01raw\xff\xfe";
    for (auto _ : state) {
        std::string line = runtime::to_json_line(record);
        benchmark::DoNotOptimize(line);
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AuditToJsonLineEscaped);

}  // namespace
