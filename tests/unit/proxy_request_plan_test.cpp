// plan_request / apply_plan without sockets, as a playbook: a target and a head go in, a plan or
// a refusal comes out. The same table runs for every front end that can reach the case, so a
// check that one front end skips shows up here first.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <variant>

#include "proxy/request_plan.hpp"
#include "proxy/route_reverse.hpp"
#include "proxy_test_support.hpp"
#include "secrets_test_util.hpp"

namespace cloakroom::proxy {
namespace {

using test::kNow;
using test::request;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr const char* kSecret = "sk_live_plan_canary_0042";

class RequestPlanTest : public ::testing::Test {
  protected:
    RequestPlanTest() : env_("CLOAKROOM_TEST_SECRET", kSecret) {
        auto built = std::make_shared<Runtime>();
        built->config = test::sample_config();
        built->keys = test::test_keys();
        built->resolver = std::make_unique<secrets::SecretResolver>(secrets::SecretSources{});
        runtime_ = std::move(built);
    }

    std::string token(std::vector<token::Caveat> caveats = {}) {
        caveats.push_back(token::validity_caveat(kNow - 60, kNow + 3600));
        return test::mint(runtime_->keys, caveats);
    }

    // The target each front end computes for `host` (a service or [allow] host of the sample
    // configuration) and the request target it sends.
    Target connect_target(std::string_view authority) const {
        Target target;
        target.front_end = FrontEnd::Connect;
        target.route = route_connect(runtime_->config, authority);
        target.upstream_port = target.route.port;
        target.client = "127.0.0.1:5000";
        return target;
    }
    Target absolute_target(std::string_view authority) const {
        Target target;
        target.front_end = FrontEnd::AbsoluteForm;
        target.route = route_absolute(runtime_->config, "http", authority);
        target.upstream_port = target.route.kind == RouteKind::Intercept && target.route.port == 80
                                   ? 443
                                   : target.route.port;
        return target;
    }
    Target reverse_target(std::string_view request_target, std::string& rewritten) const {
        Target target;
        target.front_end = FrontEnd::Reverse;
        ReverseRoute reverse = route_reverse(runtime_->config, request_target);
        target.route = reverse.route;
        target.upstream_port = target.route.port;
        rewritten = reverse.target;
        return target;
    }

    // The whole decision, as the pipeline makes it: the pure plan, then the service's secrets.
    PlanOutcome plan(const Target& target, const http::Head& head) const {
        PlanOutcome outcome = plan_request(*runtime_, target, head, kNow);
        auto* planned = std::get_if<RequestPlan>(&outcome);
        if (planned == nullptr || planned->credential == nullptr) return outcome;
        if (auto refusal =
                attach_credential(*planned, prepare_credential(runtime_, *planned->credential))) {
            return *refusal;
        }
        return outcome;
    }

    static Refusal refused(const PlanOutcome& outcome) {
        EXPECT_TRUE(std::holds_alternative<Refusal>(outcome)) << "the request was planned";
        const auto* refusal = std::get_if<Refusal>(&outcome);
        return refusal != nullptr ? *refusal : Refusal{};
    }
    static const RequestPlan& planned(const PlanOutcome& outcome) {
        static const RequestPlan none;
        EXPECT_TRUE(std::holds_alternative<RequestPlan>(outcome))
            << "refused: " << std::get<Refusal>(outcome).reason;
        const auto* plan = std::get_if<RequestPlan>(&outcome);
        return plan != nullptr ? *plan : none;
    }

    secrets::testing_support::ScopedEnv env_;
    std::shared_ptr<const Runtime> runtime_;
};

// The same stripe request through each front end: (target, head) pairs.
struct FrontEndCase {
    std::string name;
    Target target;
    http::Head head;
};

TEST_F(RequestPlanTest, TheDecisionTableIsTheSameOnEveryFrontEnd) {
    const std::string good =
        token({token::hosts_caveat({"api.stripe.com"}), token::methods_caveat({"GET"})});
    const std::string get_only = good;
    struct Row {
        std::string what;
        bhttp::verb method;
        std::string path;
        std::vector<std::pair<std::string, std::string>> fields;
        unsigned status;  // 0 = planned
        std::string error;
        RequestPlan::Mode mode = RequestPlan::Mode::Inject;
    };
    const std::vector<Row> rows = {
        {"token injects",
         bhttp::verb::get,
         "/v1/customers",
         {{"Authorization", "Bearer " + good}},
         0,
         "",
         RequestPlan::Mode::Inject},
        {"no token passes through",
         bhttp::verb::get,
         "/v1/customers",
         {},
         0,
         "",
         RequestPlan::Mode::Passthrough},
        {"rule denies without a token",
         bhttp::verb::delete_,
         "/v1/customers",
         {},
         403,
         "rule_denied"},
        {"rule denies with a token",
         bhttp::verb::delete_,
         "/v1/customers",
         {{"Authorization", "Bearer " + good}},
         403,
         "rule_denied"},
        {"caveat forbids",
         bhttp::verb::post,
         "/v1/customers",
         {{"Authorization", "Bearer " + get_only}},
         403,
         "token_forbidden"},
        {"tampered token",
         bhttp::verb::get,
         "/v1/customers",
         {{"Authorization", "Bearer " + good + "AA"}},
         401,
         "token_invalid"},
        {"bad path", bhttp::verb::get, "/v1/%2e%2e/%2Fadmin", {}, 400, "bad_request"},
        {"path escapes the rule after normalization",
         bhttp::verb::get,
         "/v1/../admin",
         {},
         403,
         "rule_denied"},
    };
    for (const Row& row : rows) {
        std::vector<FrontEndCase> cases;
        {
            auto fields = row.fields;
            fields.emplace_back("Host", "api.stripe.com");
            cases.push_back({"connect", connect_target("api.stripe.com:443"),
                             request(row.method, row.path, fields)});
            // A credential host over absolute-form http:// is refused whatever else holds:
            // injecting would send the real secret in clear text.
            const Refusal clear =
                refused(plan(absolute_target("api.stripe.com"),
                             request(row.method, "http://api.stripe.com" + row.path, fields)));
            EXPECT_EQ(clear.error, "https_required") << row.what;
            std::string rewritten;
            Target reverse = reverse_target("/stripe" + row.path, rewritten);
            if (reverse.route.kind == RouteKind::Deny) {
                // The reverse listener refuses an unnormalizable path while routing it.
                EXPECT_EQ(reverse.route.status, row.status) << row.what;
            } else {
                auto reverse_fields = row.fields;
                reverse_fields.emplace_back("Host", "127.0.0.1:8081");
                cases.push_back(
                    {"reverse", reverse, request(row.method, rewritten, reverse_fields)});
            }
        }
        for (const FrontEndCase& c : cases) {
            const PlanOutcome outcome = plan(c.target, c.head);
            const std::string where = row.what + " via " + c.name;
            if (row.status == 0) {
                const RequestPlan& p = planned(outcome);
                EXPECT_EQ(p.mode, row.mode) << where;
                EXPECT_EQ(p.service, &runtime_->config.services[0]) << where;
                EXPECT_EQ(p.upstream_host, "api.stripe.com") << where;
                EXPECT_EQ(p.upstream_port, 443) << where;
                EXPECT_TRUE(p.upstream_tls) << where;
                // Redaction whether or not this request injected (invariant 1).
                EXPECT_TRUE(p.redacts()) << where;
                EXPECT_EQ(p.injection != nullptr, row.mode == RequestPlan::Mode::Inject) << where;
            } else {
                const Refusal r = refused(outcome);
                EXPECT_EQ(r.status, row.status) << where << ": " << r.reason;
                EXPECT_EQ(r.error, row.error) << where << ": " << r.reason;
                EXPECT_THAT(r.reason, Not(HasSubstr(kSecret))) << where;
                EXPECT_THAT(r.reason, Not(HasSubstr(good))) << where;
            }
        }
    }
}

TEST_F(RequestPlanTest, TargetMismatchIsMisdirectedOnTheFrontEndsThatHaveATarget) {
    const http::Head other_host =
        request(bhttp::verb::get, "/v1/x", {{"Host", "api.anthropic.com"}});
    EXPECT_EQ(refused(plan(connect_target("api.stripe.com:443"), other_host)).status, 421u);
    const http::Head absolute_other =
        request(bhttp::verb::get, "http://docs.example.com/v1/x", {{"Host", "api.anthropic.com"}});
    EXPECT_EQ(refused(plan(absolute_target("docs.example.com"), absolute_other)).status, 421u);
    const http::Head absolute_same =
        request(bhttp::verb::get, "http://docs.example.com/v1/x", {{"Host", "docs.example.com"}});
    EXPECT_TRUE(std::holds_alternative<RequestPlan>(
        plan(absolute_target("docs.example.com"), absolute_same)));

    // SNI: the TLS name the agent asked for must be the CONNECT host.
    Target sni = connect_target("api.stripe.com:443");
    sni.tls_server_name = "api.anthropic.com";
    const http::Head good_host = request(bhttp::verb::get, "/v1/x", {{"Host", "api.stripe.com"}});
    const Refusal r = refused(plan(sni, good_host));
    EXPECT_EQ(r.status, 421u);
    EXPECT_EQ(r.error, "misdirected_request");
    sni.tls_server_name = "API.Stripe.COM";
    EXPECT_TRUE(std::holds_alternative<RequestPlan>(plan(sni, good_host)));

    // The reverse listener's Host names Cloakroom itself: not compared.
    std::string rewritten;
    const Target reverse = reverse_target("/stripe/v1/x", rewritten);
    EXPECT_TRUE(std::holds_alternative<RequestPlan>(
        plan(reverse, request(bhttp::verb::get, rewritten, {{"Host", "localhost:8081"}}))));
}

TEST_F(RequestPlanTest, DeniedRoutesAreRefusalsWithTheRoutesWords) {
    Target unknown = absolute_target("unknown.example.com");
    const Refusal r = refused(plan(unknown, request(bhttp::verb::get, "http://unknown.example.com/",
                                                    {{"Host", "unknown.example.com"}})));
    EXPECT_EQ(r.status, 403u);
    EXPECT_EQ(r.error, "host_not_configured");
    // A credential host over plain http is refused: the secret would go out in clear text.
    const Refusal clear = refused(plan(
        absolute_target("api.stripe.com:80"),
        request(bhttp::verb::get, "http://api.stripe.com/v1/x", {{"Host", "api.stripe.com"}})));
    EXPECT_EQ(clear.error, "https_required");
    std::string rewritten;
    const Refusal no_service =
        refused(plan(reverse_target("/nosuch/v1", rewritten), request(bhttp::verb::get, "/")));
    EXPECT_EQ(no_service.status, 404u);
}

TEST_F(RequestPlanTest, AllowedHostsArePlainForwardsWithoutTokenOrCredential) {
    const PlanOutcome outcome =
        plan(absolute_target("pypi.org"),
             request(bhttp::verb::get, "http://pypi.org/simple/./x/?q=1", {{"Host", "pypi.org"}}));
    const RequestPlan& p = planned(outcome);
    EXPECT_EQ(p.mode, RequestPlan::Mode::Plain);
    EXPECT_FALSE(p.upstream_tls);
    EXPECT_EQ(p.upstream_port, 80);
    EXPECT_EQ(p.path, "/simple/x/");
    EXPECT_EQ(p.service, nullptr);
    EXPECT_FALSE(p.redacts());

    http::Head head = request(bhttp::verb::get, "http://pypi.org/simple/./x/?q=1",
                              {{"Host", "pypi.org"},
                               {"Proxy-Authorization", "Basic eDp5"},
                               {"Connection", "keep-alive, X-Drop"},
                               {"X-Drop", "1"}});
    apply_plan(p, head);
    EXPECT_EQ(head.target(), "/simple/x/?q=1");
    EXPECT_EQ(head["Host"], "pypi.org");
    EXPECT_FALSE(head.find("Proxy-Authorization"));
    EXPECT_FALSE(head.find("X-Drop"));
    EXPECT_FALSE(head.keep_alive());
}

TEST_F(RequestPlanTest, ApplyingAnInjectPlanSwapsTheTokenForTheCredential) {
    const std::string t = token();
    http::Head head = request(bhttp::verb::get, "/v1/../v1/customers?limit=3",
                              {{"Host", "api.stripe.com"},
                               {"Authorization", "Bearer " + t},
                               {"Accept-Encoding", "gzip"},
                               {"Expect", "100-continue"},
                               {"TE", "trailers"}});
    const PlanOutcome outcome = plan(connect_target("api.stripe.com:443"), head);
    const RequestPlan& p = planned(outcome);
    ASSERT_EQ(p.mode, RequestPlan::Mode::Inject);
    EXPECT_FALSE(p.token_id.empty());
    apply_plan(p, head);
    EXPECT_EQ(head["Authorization"], std::string("Bearer ") + kSecret);
    EXPECT_THAT(test::all_fields(head), Not(HasSubstr(t)));
    EXPECT_EQ(head.target(), "/v1/customers?limit=3");
    // Narrowed to the codings the response redaction decodes (docs/redaction.md).
    EXPECT_EQ(head["Accept-Encoding"], "gzip");
    EXPECT_FALSE(head.find("Expect"));
    EXPECT_FALSE(head.find("TE"));
    EXPECT_EQ(head["Host"], "api.stripe.com");
    EXPECT_TRUE(head.keep_alive());
}

TEST_F(RequestPlanTest, PassthroughKeepsTheAgentsOwnAuthorizationButRedacts) {
    http::Head head = request(bhttp::verb::get, "/v1/x",
                              {{"Host", "api.stripe.com"}, {"Authorization", "Bearer sk_own"}});
    const PlanOutcome outcome = plan(connect_target("api.stripe.com:443"), head);
    const RequestPlan& p = planned(outcome);
    ASSERT_EQ(p.mode, RequestPlan::Mode::Passthrough);
    EXPECT_TRUE(p.redacts());
    apply_plan(p, head);
    EXPECT_EQ(head["Authorization"], "Bearer sk_own");
    EXPECT_EQ(head["Accept-Encoding"], "identity");
}

// The upstream is asked only for content codings the response redaction decodes, and for none
// on a range request (a range of a compressed body cannot be decoded alone).
TEST_F(RequestPlanTest, AcceptEncodingIsNarrowedToDecodableCodings) {
    for (const auto& [accept, range, expected] :
         std::vector<std::tuple<std::string, bool, std::string>>{
             {"compress, br;q=0.9, zstd", false, "br;q=0.9, zstd"},
             {"compress", false, "identity"},
             {"gzip, br", true, "identity"}}) {
        std::vector<std::pair<std::string, std::string>> fields = {{"Host", "api.stripe.com"},
                                                                   {"Accept-Encoding", accept}};
        if (range) fields.emplace_back("Range", "bytes=0-9");
        http::Head head = request(bhttp::verb::get, "/v1/x", fields);
        const PlanOutcome outcome = plan(connect_target("api.stripe.com:443"), head);
        apply_plan(planned(outcome), head);
        EXPECT_EQ(head["Accept-Encoding"], expected) << accept;
    }
}

TEST_F(RequestPlanTest, AnUnloadableSecretRefusesEvenPassthrough) {
    secrets::testing_support::ScopedEnv gone("CLOAKROOM_TEST_SECRET", nullptr);
    const http::Head head = request(bhttp::verb::get, "/v1/x", {{"Host", "api.stripe.com"}});
    const Refusal r = refused(plan(connect_target("api.stripe.com:443"), head));
    EXPECT_EQ(r.status, 502u);
    EXPECT_EQ(r.error, "credential_unavailable");
    EXPECT_THAT(r.reason, HasSubstr("CLOAKROOM_TEST_SECRET"));
}

TEST_F(RequestPlanTest, PlanningReadsNoSecretThePreparationStepDoes) {
    secrets::testing_support::ScopedEnv gone("CLOAKROOM_TEST_SECRET", nullptr);
    const http::Head head =
        request(bhttp::verb::get, "/v1/x",
                {{"Host", "api.stripe.com"}, {"Authorization", "Bearer " + token()}});
    PlanOutcome outcome = plan_request(*runtime_, connect_target("api.stripe.com:443"), head, kNow);
    ASSERT_TRUE(std::holds_alternative<RequestPlan>(outcome));
    RequestPlan& p = std::get<RequestPlan>(outcome);
    ASSERT_NE(p.credential, nullptr);
    EXPECT_EQ(p.injection, nullptr);
    EXPECT_FALSE(p.redacts());
    const auto refusal = attach_credential(p, prepare_credential(runtime_, *p.credential));
    ASSERT_TRUE(refusal.has_value());
    EXPECT_EQ(refusal->error, "credential_unavailable");
}

TEST(RequestPlanSlowSecrets, OnlyExecHelpersAreResolvedOffTheEventLoop) {
    EXPECT_FALSE(prepares_slowly(test::bearer("env:X")));
    EXPECT_FALSE(prepares_slowly(test::bearer("file:x")));
    EXPECT_TRUE(prepares_slowly(test::bearer("exec:pass show x")));
    config::Credential basic = test::bearer("env:X");
    basic.type = config::CredentialType::Basic;
    basic.username_secret = test::secret_ref("exec:op read user");
    EXPECT_TRUE(prepares_slowly(basic));
}

TEST_F(RequestPlanTest, NonDefaultPortsAreNamedInTheUpstreamHost) {
    const std::string t = token();
    http::Head head = request(bhttp::verb::get, "/repo.git/info/refs",
                              {{"Host", "git.example.com:8443"}, {"Authorization", "Bearer " + t}});
    const PlanOutcome outcome = plan(connect_target("git.example.com:8443"), head);
    const RequestPlan& p = planned(outcome);
    EXPECT_EQ(p.upstream_port, 8443);
    apply_plan(p, head);
    EXPECT_EQ(head["Host"], "git.example.com:8443");
}

}  // namespace
}  // namespace cloakroom::proxy
