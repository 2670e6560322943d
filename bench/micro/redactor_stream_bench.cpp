// What the gateway does per injected response: build a Redactor for the request's needles, then
// stream the body through it. A 1 KiB body with no needle in it is the common case.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <vector>

#include "secrets/redactor.hpp"

namespace {

using namespace cloakroom;

// The needles plan_injection() produces for a bearer credential: the raw value and the header.
const std::string kRaw = "sk_bench_0123456789abcdef0123456789abcdef";
const std::string kHeader = "Bearer " + kRaw;

std::string json_body(std::size_t size) {
    std::string body;
    while (body.size() < size) {
        body += R"({"id":"cus_0123456789","object":"customer","email":"a@b.c"},)";
    }
    body.resize(size);
    return body;
}

void BM_RedactorBuildFeed1KiB(benchmark::State& state) {
    const std::vector<std::string_view> needles = {kRaw, kHeader};
    const std::string body = json_body(1024);
    std::string out;
    out.reserve(2048);
    for (auto _ : state) {
        out.clear();
        secrets::Redactor redactor(needles);
        redactor.feed(body, out);
        redactor.finish(out);
        benchmark::DoNotOptimize(out);
    }
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(body.size()));
}
BENCHMARK(BM_RedactorBuildFeed1KiB);

}  // namespace
