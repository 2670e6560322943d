// Path normalization and service-rule matching: run on every request before anything else.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "policy/access_rules.hpp"
#include "policy/path_pattern.hpp"
#include "policy/request_path.hpp"

namespace {

using namespace cloakroom;

const std::vector<std::string> kTargets = {
    "/v1/charges?limit=3",
    "/v1/customers/cus_123/sources/./card_1/../card_2//x%7e?expand[]=data&limit=10",
    "/repos/acme/widgets/contents/src/deeply/nested/path/to/a/file/with/a/long/name.txt",
};

void BM_NormalizeTarget(benchmark::State& state) {
    const std::string& target = kTargets[static_cast<std::size_t>(state.range(0))];
    for (auto _ : state) {
        auto normalized = policy::normalize_target(target);
        if (!normalized.ok()) state.SkipWithError("normalize failed");
        benchmark::DoNotOptimize(normalized);
    }
    state.SetItemsProcessed(state.iterations());
    state.SetLabel(target.size() > 40 ? target.substr(0, 37) + "..." : target);
}
BENCHMARK(BM_NormalizeTarget)->DenseRange(0, 2)->ArgName("target");

policy::PathPattern compile(const char* glob) {
    auto p = policy::PathPattern::compile(glob);
    if (!p.ok()) std::abort();
    return *p;
}

void BM_PathPatternMatch(benchmark::State& state) {
    const std::vector<std::pair<policy::PathPattern, std::string>> cases = {
        {compile("/v1/charges/**"), "/v1/charges/ch_123"},
        {compile("/v1/**/refunds"), "/v1/charges/ch_123/refunds"},
        {compile("/repos/*/*/contents/**"), "/repos/acme/widgets/contents/src/a/b/c.txt"},
    };
    const auto& [pattern, path] = cases[static_cast<std::size_t>(state.range(0))];
    for (auto _ : state) {
        bool matched = pattern.matches(path);
        if (!matched) state.SkipWithError("should match");
        benchmark::DoNotOptimize(matched);
    }
    state.SetItemsProcessed(state.iterations());
    state.SetLabel(pattern.text());
}
BENCHMARK(BM_PathPatternMatch)->DenseRange(0, 2)->ArgName("case");

// A typical service: two deny rules (method DELETE, a transfers subtree) and three allow rules.
void BM_AccessRulesEvaluate(benchmark::State& state) {
    policy::AccessRules rules;
    rules.deny.push_back(policy::Rule{{"DELETE"}, {}});
    rules.deny.push_back(policy::Rule{{}, {compile("/v1/transfers/**")}});
    rules.allow.push_back(policy::Rule{{"GET", "POST"}, {compile("/v1/charges/**")}});
    rules.allow.push_back(policy::Rule{{"GET"}, {compile("/v1/customers/**")}});
    rules.allow.push_back(policy::Rule{{}, {compile("/v1/balance")}});
    const std::string path = "/v1/customers/cus_123/sources";
    for (auto _ : state) {
        auto decision = rules.evaluate("GET", path);
        if (!decision.allowed) state.SkipWithError("should be allowed");
        benchmark::DoNotOptimize(decision);
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AccessRulesEvaluate);

}  // namespace
