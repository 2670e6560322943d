// Response redaction setup: the gateway builds a Redactor (and redacts the response header
// values) for every response to an injected request, so both are per-request costs.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "proxy/redactor.hpp"

namespace {

using namespace cloakroom;

// The needles plan_injection() produces for a bearer credential: the raw value and the header.
const std::string kRaw = "sk_bench_0123456789abcdef0123456789abcdef";
const std::string kHeader = "Bearer " + kRaw;

void BM_RedactorBuild(benchmark::State& state) {
    const std::vector<std::string_view> needles = {kRaw, kHeader};
    for (auto _ : state) {
        proxy::Redactor redactor(needles);
        benchmark::DoNotOptimize(redactor);
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RedactorBuild);

void BM_RedactHeaderValues(benchmark::State& state) {
    const std::vector<std::string_view> needles = {kRaw, kHeader};
    namespace http = boost::beast::http;
    http::response_header<> header;
    header.result(http::status::ok);
    header.set(http::field::content_type, "application/json");
    header.set(http::field::content_length, "1234");
    header.set(http::field::date, "Fri, 27 Nov 2026 03:00:00 GMT");
    header.set(http::field::server, "nginx");
    header.set("x-request-id", "req_0123456789abcdef");
    for (auto _ : state) {
        auto copy = header;
        proxy::redact_header_values(copy, needles);
        benchmark::DoNotOptimize(copy);
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RedactHeaderValues);

}  // namespace
