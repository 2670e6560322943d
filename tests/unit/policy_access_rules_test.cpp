// Access rules: deny wins, allow lists close everything else, and the reasons tell an agent
// exactly which rule decided.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "policy/access_rules.hpp"
#include "policy/request_path.hpp"

namespace cloakroom::policy {
namespace {

Rule rule(std::vector<std::string> methods, const std::vector<std::string>& globs) {
    Rule out;
    out.methods = std::move(methods);
    for (const std::string& glob : globs) {
        auto compiled = PathPattern::compile(glob);
        EXPECT_TRUE(compiled.ok()) << glob;
        if (compiled.ok()) out.paths.push_back(std::move(*compiled));
    }
    return out;
}

TEST(Rule, EmptyMeansAny) {
    const Rule any = rule({}, {});
    EXPECT_TRUE(any.matches("GET", "/"));
    EXPECT_TRUE(any.matches("PATCH", "/a/b"));
    const Rule get_any_path = rule({"GET"}, {});
    EXPECT_TRUE(get_any_path.matches("GET", "/x"));
    EXPECT_FALSE(get_any_path.matches("POST", "/x"));
    const Rule any_method = rule({}, {"/v1/**"});
    EXPECT_TRUE(any_method.matches("DELETE", "/v1/x"));
    EXPECT_FALSE(any_method.matches("DELETE", "/v2/x"));
}

TEST(Rule, MethodsCompareUpperCaseAndPathsAnyOf) {
    const Rule r = rule({"get", "Head"}, {"/a/*", "/b/**"});
    EXPECT_TRUE(r.matches("GET", "/a/x"));
    EXPECT_TRUE(r.matches("get", "/b/x/y"));
    EXPECT_TRUE(r.matches("HEAD", "/b"));
    EXPECT_FALSE(r.matches("GETS", "/a/x"));
    EXPECT_FALSE(r.matches("GE", "/a/x"));
    EXPECT_FALSE(r.matches("POST", "/a/x"));
    EXPECT_FALSE(r.matches("GET", "/a/x/y"));
    EXPECT_FALSE(r.matches("GET", "/c"));
}

struct Case {
    std::string method, path;
    bool allowed;
    std::string reason;  // exact
};

TEST(AccessRules, DenyWinsAndAllowListCloses) {
    AccessRules rules;
    rules.allow = {rule({"GET"}, {"/v1/customers/**"}),
                   rule({"POST", "get"}, {"/v1/charges", "/v1/charges/*"})};
    rules.deny = {rule({"DELETE"}, {"/v1/**"}), rule({}, {"/v1/customers/*/secrets"})};
    const std::vector<Case> cases = {
        {"GET", "/v1/customers/cus_1", true,
         "GET /v1/customers/cus_1 is allowed by rule allow[0] (GET /v1/customers/**)"},
        {"get", "/v1/charges/ch_1", true,
         "GET /v1/charges/ch_1 is allowed by rule allow[1] (POST,GET /v1/charges or "
         "/v1/charges/*)"},
        {"DELETE", "/v1/charges/ch_1", false,
         "method DELETE on /v1/charges/ch_1 is denied by rule deny[0] (methods DELETE, paths "
         "/v1/**)"},
        // Allowed by allow[0] but denied: deny wins whatever the order.
        {"GET", "/v1/customers/cus_1/secrets", false,
         "method GET on /v1/customers/cus_1/secrets is denied by rule deny[1] (methods any, "
         "paths /v1/customers/*/secrets)"},
        {"POST", "/v1/x", false,
         "POST /v1/x matches no allow rule (allowed: GET /v1/customers/**; POST,GET /v1/charges "
         "or /v1/charges/*)"},
        {"PUT", "/v1/charges", false,
         "PUT /v1/charges matches no allow rule (allowed: GET /v1/customers/**; POST,GET "
         "/v1/charges or /v1/charges/*)"},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.method + " " + c.path);
        const RuleDecision decision = rules.evaluate(c.method, c.path);
        EXPECT_EQ(decision.allowed, c.allowed);
        EXPECT_EQ(decision.reason, c.reason);
    }
}

TEST(AccessRules, NoRulesOrOnlyDenies) {
    const AccessRules none;
    EXPECT_TRUE(none.evaluate("GET", "/anything").allowed);
    AccessRules deny_only;
    deny_only.deny = {rule({"DELETE"}, {})};
    EXPECT_TRUE(deny_only.evaluate("GET", "/x").allowed);
    EXPECT_EQ(deny_only.evaluate("GET", "/x").reason, "GET /x is allowed (no rule denies it)");
    const RuleDecision denied = deny_only.evaluate("delete", "/x");
    EXPECT_FALSE(denied.allowed);
    EXPECT_EQ(denied.reason,
              "method DELETE on /x is denied by rule deny[0] (methods DELETE, paths any)");
}

TEST(AccessRules, LongAllowListIsSummarized) {
    AccessRules rules;
    for (int i = 0; i < 12; ++i) rules.allow.push_back(rule({"GET"}, {"/r" + std::to_string(i)}));
    const RuleDecision decision = rules.evaluate("GET", "/nope");
    EXPECT_FALSE(decision.allowed);
    EXPECT_NE(decision.reason.find("GET /r7; and 4 more)"), std::string::npos) << decision.reason;
    EXPECT_EQ(decision.reason.find("/r8"), std::string::npos) << decision.reason;
}

// Invariant 4 end to end: the path a rule sees is the normalized one, so traversal, encoded dots
// and '//' cannot reach a denied path or leave an allowed prefix.
TEST(AccessRules, RulesSeeTheNormalizedPath) {
    AccessRules rules;
    rules.allow = {rule({"GET"}, {"/v1/customers/**"})};
    rules.deny = {rule({}, {"/v1/customers/*/admin/**"})};
    struct Probe {
        std::string raw;
        bool allowed;
    };
    const std::vector<Probe> probes = {
        {"/v1/customers/c1", true},
        {"/v1/customers/c1/../../transfers", false},  // leaves the allowed prefix
        {"/v1/customers/%2e%2e/transfers", false},
        {"/v1/customers/c1/%61dmin/keys", false},  // %61 = 'a': still the denied path
        {"/v1/customers/c1//admin/keys", false},   // '//' collapses onto the denied path
        {"/v1/customers/c1/x/../admin", false},
        {"/v1/customers/c1/./admin", false},
        {"/v1/customers/c1/admins?/admin/", true},  // query is not the path
    };
    for (const Probe& p : probes) {
        SCOPED_TRACE(p.raw);
        auto normalized = normalize_target(p.raw);
        ASSERT_TRUE(normalized.ok()) << normalized.error().message;
        EXPECT_EQ(rules.evaluate("GET", normalized->path).allowed, p.allowed) << normalized->path;
    }
}

// Path parameters: servers such as Tomcat drop ";..." from each segment before routing, so these
// would reach a path other than the one the rules saw ("/v1/public/..;/admin" is "/v1/admin"
// there, "/v1/admin;x/keys" is "/v1/admin/keys"). They never reach the rules: normalization
// refuses them, so an allow list fails closed and a deny list cannot be stepped around.
TEST(AccessRules, PathParametersNeverReachTheRules) {
    AccessRules allow_list;
    allow_list.allow = {rule({"GET"}, {"/v1/public/**"})};
    AccessRules deny_list;
    deny_list.deny = {rule({}, {"/v1/admin/**"})};
    for (const std::string raw :
         {"/v1/public/..;/admin", "/v1/public/..;x=1/admin", "/v1/public/%2e%2e;/admin",
          "/v1/public/.;/../../v1/admin", "/v1/admin;x/keys", "/v1/admin;/keys", "/v1/public;/x"}) {
        SCOPED_TRACE(raw);
        auto normalized = normalize_target(raw);
        ASSERT_FALSE(normalized.ok())
            << "reached the rules as " << normalized->path
            << " (allow list: " << allow_list.evaluate("GET", normalized->path).allowed
            << ", deny list: " << deny_list.evaluate("GET", normalized->path).allowed << ")";
        EXPECT_EQ(normalized.error().code, "path.invalid");
        EXPECT_NE(normalized.error().message.find("path parameter"), std::string::npos);
    }
    // Encoded, ';' is data to every server (they split parameters off before decoding).
    auto encoded = normalize_target("/v1/public/..%3B/admin");
    ASSERT_TRUE(encoded.ok());
    EXPECT_EQ(encoded->path, "/v1/public/..%3B/admin");
    EXPECT_TRUE(allow_list.evaluate("GET", encoded->path).allowed);
}

}  // namespace
}  // namespace cloakroom::policy
