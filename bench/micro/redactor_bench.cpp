// Response redaction setup: the gateway builds a Redactor (and redacts the response header
// values) for every response to an injected request, so both are per-request costs.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "proxy/head_redaction.hpp"

namespace {

using namespace cloakroom;

// The needles plan_injection() produces for a bearer credential: the raw value and the header.
const std::string kRaw = "sk_bench_0123456789abcdef0123456789abcdef";
const std::string kHeader = "Bearer " + kRaw;

void BM_RedactorBuild(benchmark::State& state) {
    const std::vector<std::string_view> needles = {kRaw, kHeader};
    for (auto _ : state) {
        secrets::Redactor redactor(needles);
        benchmark::DoNotOptimize(redactor);
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RedactorBuild);

void BM_RedactHeaderValues(benchmark::State& state) {
    const std::vector<std::string_view> needles = {kRaw, kHeader};
    constexpr std::string_view kResponse =
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1234\r\n"
        "Date: Fri, 27 Nov 2026 03:00:00 GMT\r\nServer: nginx\r\n"
        "x-request-id: req_0123456789abcdef\r\n\r\n";
    http::Head header;
    for (auto _ : state) {
        if (!header.parse_response(kResponse)) std::abort();
        proxy::redact_header_values(header, needles);
        benchmark::DoNotOptimize(header);
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RedactHeaderValues);

}  // namespace
