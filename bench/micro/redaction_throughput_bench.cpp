// Redaction throughput on a 10 MB response (issue 15, docs/redaction.md): the body relayed in
// 16 KiB pieces as the gateway does, unredacted (a copy into the output buffer, what the relay
// does without a filter) against the response filter with every derived form of a bearer
// credential, plain and gzip. Goal: redaction costs at most 10 % over the unredacted relay's
// copy on plain bodies (the end-to-end figure, TLS included, is in bench/README.md).
#include <benchmark/benchmark.h>
#include <zlib.h>

#include <cstdint>
#include <string>
#include <vector>

#include "proxy/injection.hpp"
#include "proxy/response_filter.hpp"
#include "secrets/encoded_forms.hpp"

namespace {

using namespace cloakroom;

constexpr std::size_t kBody = 10u << 20;
constexpr std::size_t kPiece = 16u << 10;

const std::string kRaw = "sk_bench_0123456789abcdef0123456789abcdef";

const std::string& json_body() {
    static const std::string body = [] {
        std::string text;
        std::uint32_t n = 1;
        while (text.size() < kBody) {
            n = n * 1103515245u + 12345u;
            text += R"({"id":"cus_)" + std::to_string(n) +
                    R"(","object":"customer","email":"someone@example.com","balance":)" +
                    std::to_string(n % 100000) + R"(,"currency":"usd","livemode":false},)" + "\n";
        }
        text.resize(kBody);
        return text;
    }();
    return body;
}

const std::string& gzip_body() {
    static const std::string body = [] {
        const std::string& plain = json_body();
        z_stream z{};
        deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
        std::string out(deflateBound(&z, plain.size()), '\0');
        z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(plain.data()));
        z.avail_in = static_cast<uInt>(plain.size());
        z.next_out = reinterpret_cast<Bytef*>(out.data());
        z.avail_out = static_cast<uInt>(out.size());
        deflate(&z, Z_FINISH);
        out.resize(z.total_out);
        deflateEnd(&z);
        return out;
    }();
    return body;
}

// The needles the gateway builds for a bearer credential: every derived form, and the header.
std::vector<std::string> bearer_needles(bool derived) {
    std::vector<std::string> needles;
    if (derived) {
        needles = secrets::redaction_forms(kRaw);
    } else {
        needles.push_back(kRaw);
    }
    needles.push_back("Bearer " + kRaw);
    return needles;
}

// The body through `filter` (or copied when null), piece by piece.
void relay(const std::string& body, proxy::ResponseFilter* filter, std::string& out) {
    for (std::size_t at = 0; at < body.size(); at += kPiece) {
        const std::string_view piece = std::string_view(body).substr(at, kPiece);
        out.clear();
        if (filter == nullptr) {
            out.append(piece);
        } else if (filter->feed(piece, at + kPiece >= body.size(), out)) {
            std::abort();
        }
        benchmark::DoNotOptimize(out.data());
    }
}

void BM_PlainUnredacted(benchmark::State& state) {
    const std::string& body = json_body();
    std::string out;
    out.reserve(kPiece * 2);
    for (auto _ : state) relay(body, nullptr, out);
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(body.size()));
}
BENCHMARK(BM_PlainUnredacted)->Unit(benchmark::kMillisecond);

void BM_PlainRedacted(benchmark::State& state) {
    const std::string& body = json_body();
    const std::vector<std::string> owned = bearer_needles(state.range(0) != 0);
    const secrets::CompiledNeedles needles(
        std::vector<std::string_view>(owned.begin(), owned.end()));
    state.counters["needles"] = static_cast<double>(owned.size());
    std::string out;
    out.reserve(kPiece * 2);
    for (auto _ : state) {
        proxy::ResponseFilter filter(needles.redactor(), std::nullopt);
        relay(body, &filter, out);
    }
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(body.size()));
}
// 0: the raw value and header only (before derived forms); 1: every derived form.
BENCHMARK(BM_PlainRedacted)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

void BM_GzipDecodedOnly(benchmark::State& state) {
    const std::string& body = gzip_body();
    std::string out;
    for (auto _ : state) {
        proxy::ResponseFilter filter(std::nullopt, http::BodyDecoder({http::ContentCoding::Gzip}));
        relay(body, &filter, out);
    }
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(kBody));
}
BENCHMARK(BM_GzipDecodedOnly)->Unit(benchmark::kMillisecond);

void BM_GzipDecodedRedacted(benchmark::State& state) {
    const std::string& body = gzip_body();
    const std::vector<std::string> owned = bearer_needles(true);
    const secrets::CompiledNeedles needles(
        std::vector<std::string_view>(owned.begin(), owned.end()));
    std::string out;
    for (auto _ : state) {
        proxy::ResponseFilter filter(needles.redactor(),
                                     http::BodyDecoder({http::ContentCoding::Gzip}));
        relay(body, &filter, out);
    }
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(kBody));
}
BENCHMARK(BM_GzipDecodedRedacted)->Unit(benchmark::kMillisecond);

}  // namespace
