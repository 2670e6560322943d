// The DevTools filter without a browser: a scripted browser answers the filter's messages, and
// each test checks what the agent is told and what reaches the browser. Grouped by guarantee
// (src/browser/cdp_filter.hpp).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "browser/cdp_filter.hpp"

namespace cloakroom::browser {
namespace {

using nlohmann::json;

CdpTargetPolicy allow_app_tabs() {
    CdpTargetRule rule;
    rule.type = "page";
    rule.url = *UrlPattern::parse("http://127.0.0.1:*");
    return CdpTargetPolicy({rule});
}

json target_info(const std::string& id, const std::string& url, const std::string& type = "page") {
    return json{
        {"targetId", id}, {"type", type}, {"title", "t-" + id}, {"url", url}, {"attached", false}};
}

struct Harness {
    CdpTargetPolicy policy = allow_app_tabs();
    CdpFilter filter;
    std::vector<json> to_browser;
    std::vector<json> to_agent;
    std::vector<std::string> refusals;
    bool closed = false;

    explicit Harness(std::optional<std::string> page = {}) : filter(policy, std::move(page)) {
        take(filter.start());
        EXPECT_FALSE(filter.ready());
        // The filter's own discovery: the browser reports two tabs, one allowed.
        browser(json{
            {"method", "Target.targetCreated"},
            {"params", {{"targetInfo", target_info("ALLOWED", "http://127.0.0.1:8080/app")}}}});
        browser(json{
            {"method", "Target.targetCreated"},
            {"params", {{"targetInfo", target_info("SECRET", "https://mail.example/inbox")}}}});
        answer_internal();
        EXPECT_TRUE(filter.ready() || closed);
    }

    void take(CdpOutput out) {
        for (auto& m : out.to_browser) to_browser.push_back(json::parse(m));
        for (auto& m : out.to_agent) to_agent.push_back(json::parse(m));
        for (auto& r : out.refusals) refusals.push_back(r);
        closed = closed || out.close;
    }
    void agent(const json& message) { take(filter.from_agent(message.dump())); }
    void agent_text(const std::string& text) { take(filter.from_agent(text)); }
    void browser(const json& message) { take(filter.from_browser(message.dump())); }

    // Answers every internal command still unanswered with an empty result (and a session for
    // attachToTarget), the way Chrome would.
    void answer_internal() {
        auto sent = to_browser;
        to_browser.clear();
        for (const auto& m : sent) {
            json result = json::object();
            if (m["method"] == "Target.attachToTarget") result["sessionId"] = "PAGE-SESSION";
            json reply{{"id", m["id"]}, {"result", result}};
            if (m.contains("sessionId")) reply["sessionId"] = m["sessionId"];
            browser(reply);
        }
    }
    json last_to_browser() {
        EXPECT_FALSE(to_browser.empty());
        return to_browser.empty() ? json{} : to_browser.back();
    }
    json last_to_agent() {
        EXPECT_FALSE(to_agent.empty());
        return to_agent.empty() ? json{} : to_agent.back();
    }
    // Sends a command, lets the browser answer with `result`, returns what the agent got.
    json round_trip(const json& command, const json& result) {
        std::size_t before = to_browser.size();
        agent(command);
        if (to_browser.size() == before) return last_to_agent();
        json forwarded = to_browser.back();
        json reply{{"id", forwarded["id"]}, {"result", result}};
        if (forwarded.contains("sessionId")) reply["sessionId"] = forwarded["sessionId"];
        browser(reply);
        return last_to_agent();
    }
    std::string attach_allowed() {
        json reply = round_trip({{"id", 7},
                                 {"method", "Target.attachToTarget"},
                                 {"params", {{"targetId", "ALLOWED"}, {"flatten", true}}}},
                                {{"sessionId", "S-ALLOWED"}});
        EXPECT_EQ(reply["id"], 7);
        return reply["result"]["sessionId"].get<std::string>();
    }
    // The agent's own Page.enable on `session` (empty: page mode), answered by the browser.
    void agent_enables_page(const std::string& session, int id = 40) {
        json command{{"id", id}, {"method", "Page.enable"}};
        if (!session.empty()) command["sessionId"] = session;
        json reply = round_trip(command, json::object());
        EXPECT_EQ(reply["id"], id);
        EXPECT_TRUE(reply.contains("result"));
    }
    bool refused_with_error(int id) {
        json reply = last_to_agent();
        return reply["id"] == id && reply.contains("error") &&
               reply["error"]["message"].get<std::string>().starts_with("Cloakroom refused");
    }
};

// --- The agent never sees a disallowed target ----------------------------------------------

TEST(CdpFilterTargets, GetTargetsListsOnlyAllowedTargets) {
    Harness h;
    json reply = h.round_trip({{"id", 1}, {"method", "Target.getTargets"}},
                              {{"targetInfos",
                                {target_info("ALLOWED", "http://127.0.0.1:8080/app"),
                                 target_info("SECRET", "https://mail.example/inbox"),
                                 target_info("BROWSER", "", "browser")}}});
    ASSERT_EQ(reply["id"], 1);
    ASSERT_EQ(reply["result"]["targetInfos"].size(), 1u);
    EXPECT_EQ(reply["result"]["targetInfos"][0]["targetId"], "ALLOWED");
    EXPECT_EQ(reply.dump().find("mail.example"), std::string::npos);
}

TEST(CdpFilterTargets, DiscoveryEventsAnnounceOnlyAllowedTargets) {
    Harness h;
    h.agent({{"id", 2}, {"method", "Target.setDiscoverTargets"}, {"params", {{"discover", true}}}});
    std::string told;
    for (const auto& m : h.to_agent) told += m.dump();
    EXPECT_NE(told.find("ALLOWED"), std::string::npos);
    EXPECT_EQ(told.find("SECRET"), std::string::npos);
    h.to_agent.clear();
    h.browser({{"method", "Target.targetInfoChanged"},
               {"params", {{"targetInfo", target_info("SECRET", "https://mail.example/other")}}}});
    h.browser({{"method", "Target.targetCreated"},
               {"params", {{"targetInfo", target_info("NEW", "https://bank.example/")}}}});
    EXPECT_TRUE(h.to_agent.empty()) << h.to_agent.size();
    // The agent's discovery switch never reaches the browser: the filter keeps its own on.
    for (const auto& m : h.to_browser) EXPECT_NE(m["method"], "Target.setDiscoverTargets");
}

TEST(CdpFilterTargets, AttachToADisallowedTargetIsRefused) {
    Harness h;
    h.agent({{"id", 3},
             {"method", "Target.attachToTarget"},
             {"params", {{"targetId", "SECRET"}, {"flatten", true}}}});
    EXPECT_TRUE(h.refused_with_error(3));
    EXPECT_TRUE(h.to_browser.empty());
    h.agent({{"id", 4},
             {"method", "Target.attachToTarget"},
             {"params", {{"targetId", "ALLOWED"}, {"flatten", false}}}});
    EXPECT_TRUE(h.refused_with_error(4));
}

TEST(CdpFilterTargets, ATargetThatNavigatesAwayIsDetached) {
    Harness h;
    std::string session = h.attach_allowed();
    h.agent({{"id", 2}, {"method", "Target.setDiscoverTargets"}, {"params", {{"discover", true}}}});
    h.to_agent.clear();
    h.browser({{"method", "Target.targetInfoChanged"},
               {"params", {{"targetInfo", target_info("ALLOWED", "https://mail.example/")}}}});
    bool detached = false, destroyed = false;
    for (const auto& m : h.to_agent) {
        detached |=
            m["method"] == "Target.detachedFromTarget" && m["params"]["sessionId"] == session;
        destroyed |= m["method"] == "Target.targetDestroyed";
        EXPECT_EQ(m.dump().find("mail.example"), std::string::npos);
    }
    EXPECT_TRUE(detached);
    EXPECT_TRUE(destroyed);
    EXPECT_EQ(h.last_to_browser()["method"], "Target.detachFromTarget");
    // The session is gone: commands on it are refused, events from it dropped.
    h.agent({{"id", 9},
             {"sessionId", session},
             {"method", "Runtime.evaluate"},
             {"params", {{"expression", "document.cookie"}}}});
    EXPECT_EQ(h.last_to_agent()["id"], 9);
    EXPECT_TRUE(h.last_to_agent().contains("error"));
    h.to_agent.clear();
    h.browser(
        {{"sessionId", session}, {"method", "Page.frameNavigated"}, {"params", json::object()}});
    EXPECT_TRUE(h.to_agent.empty());
}

// Every session event that announces a top-level navigation of the tab, each carrying the URL
// it heads to. Chrome sends these before the browser-level targetInfoChanged, with the new
// page's URL, headers and cookies in and after them.
std::vector<json> navigation_events(const std::string& url) {
    return {
        {{"method", "Page.frameRequestedNavigation"},
         {"params",
          {{"frameId", "ALLOWED"},
           {"reason", "scriptInitiated"},
           {"disposition", "currentTab"},
           {"url", url}}}},
        {{"method", "Page.frameScheduledNavigation"},
         {"params", {{"frameId", "ALLOWED"}, {"delay", 0}, {"url", url}}}},
        {{"method", "Page.frameStartedNavigating"},
         {"params", {{"frameId", "ALLOWED"}, {"loaderId", "L1"}, {"url", url}}}},
        {{"method", "Page.navigatedWithinDocument"},
         {"params", {{"frameId", "ALLOWED"}, {"url", url}}}},
        {{"method", "Page.frameNavigated"},
         {"params", {{"frame", {{"id", "ALLOWED"}, {"loaderId", "L1"}, {"url", url}}}}}},
        {{"method", "Network.requestWillBeSent"},
         {"params",
          {{"requestId", "L1"},
           {"frameId", "ALLOWED"},
           {"type", "Document"},
           {"documentURL", url},
           {"request", {{"url", url}, {"method", "GET"}}}}}},
        {{"method", "Network.responseReceived"},
         {"params",
          {{"requestId", "L1"},
           {"frameId", "ALLOWED"},
           {"type", "Document"},
           {"response", {{"url", url}, {"status", 200}}}}}},
    };
}

TEST(CdpFilterTargets, ATabIsDetachedAtTheFirstEventThatNavigatesItOutOfTheRules) {
    for (const json& event : navigation_events("https://mail.example/inbox")) {
        SCOPED_TRACE(event["method"].get<std::string>());
        Harness h;
        std::string session = h.attach_allowed();
        h.agent(
            {{"id", 2}, {"method", "Target.setDiscoverTargets"}, {"params", {{"discover", true}}}});
        h.to_agent.clear();
        h.to_browser.clear();
        // A command in flight on the session (Page.navigate answers after the navigation
        // starts) gets an error when the session ends, not silence.
        h.agent({{"id", 5},
                 {"sessionId", session},
                 {"method", "Page.navigate"},
                 {"params", {{"url", "http://127.0.0.1:8080/hop"}}}});
        const json in_flight = h.last_to_browser();
        json message = event;
        message["sessionId"] = session;
        h.browser(message);
        bool answered = false;
        for (const auto& m : h.to_agent) {
            answered |= m["id"] == 5 && m["sessionId"] == session && m.contains("error");
        }
        EXPECT_TRUE(answered);
        const std::size_t told = h.to_agent.size();
        h.browser({{"id", in_flight["id"]},
                   {"sessionId", in_flight["sessionId"]},
                   {"result", {{"frameId", "ALLOWED"}}}});
        EXPECT_EQ(h.to_agent.size(), told);  // the late answer is dropped: answered once
        bool detached = false, destroyed = false;
        for (const auto& m : h.to_agent) {
            detached |=
                m["method"] == "Target.detachedFromTarget" && m["params"]["sessionId"] == session;
            destroyed |= m["method"] == "Target.targetDestroyed";
            EXPECT_EQ(m.dump().find("mail.example"), std::string::npos) << m.dump();
        }
        EXPECT_TRUE(detached);
        EXPECT_TRUE(destroyed);
        ASSERT_FALSE(h.to_browser.empty());
        EXPECT_EQ(h.to_browser.back()["method"], "Target.detachFromTarget");
        // What follows on that session (response headers, cookies, the new document's
        // contexts) is dropped, and commands on it are refused.
        h.to_agent.clear();
        h.browser({{"sessionId", session},
                   {"method", "Network.responseReceivedExtraInfo"},
                   {"params", {{"requestId", "L1"}, {"headers", {{"set-cookie", "mail=1"}}}}}});
        EXPECT_TRUE(h.to_agent.empty());
        h.agent({{"id", 9},
                 {"sessionId", session},
                 {"method", "Runtime.evaluate"},
                 {"params", {{"expression", "document.body.innerText"}}}});
        EXPECT_TRUE(h.last_to_agent().contains("error"));
        // A late targetInfoChanged still naming the old URL does not bring the tab back.
        h.to_agent.clear();
        h.browser(
            {{"method", "Target.targetInfoChanged"},
             {"params", {{"targetInfo", target_info("ALLOWED", "http://127.0.0.1:8080/app")}}}});
        for (const auto& m : h.to_agent) EXPECT_NE(m["method"], "Target.targetInfoChanged");
    }
}

TEST(CdpFilterTargets, NavigationsInsideTheRulesAndOtherFramesPassUnchanged) {
    Harness h;
    std::string session = h.attach_allowed();
    h.agent_enables_page(session);
    std::vector<json> passing = navigation_events("http://127.0.0.1:8080/next");
    // Not a top-level navigation of this tab, even with a URL outside the rules: a sub-frame,
    // a sub-resource, a link opened in a new tab (a new target the rules judge by itself).
    passing.push_back(
        {{"method", "Page.frameNavigated"},
         {"params",
          {{"frame",
            {{"id", "CHILD"}, {"parentId", "ALLOWED"}, {"url", "https://mail.example/frame"}}}}}});
    passing.push_back({{"method", "Page.frameStartedNavigating"},
                       {"params", {{"frameId", "CHILD"}, {"url", "https://mail.example/frame"}}}});
    passing.push_back({{"method", "Network.requestWillBeSent"},
                       {"params",
                        {{"requestId", "R2"},
                         {"frameId", "ALLOWED"},
                         {"type", "Image"},
                         {"request", {{"url", "https://cdn.example/logo.png"}}}}}});
    passing.push_back({{"method", "Page.frameRequestedNavigation"},
                       {"params",
                        {{"frameId", "ALLOWED"},
                         {"disposition", "newTab"},
                         {"url", "https://mail.example/inbox"}}}});
    for (json message : passing) {
        SCOPED_TRACE(message.dump());
        h.to_agent.clear();
        message["sessionId"] = session;
        h.browser(message);
        ASSERT_EQ(h.to_agent.size(), 1u);
        EXPECT_EQ(h.to_agent[0], message);
    }
    EXPECT_TRUE(h.refusals.empty());
}

TEST(CdpFilterTargets, AutoAttachToADisallowedTargetIsReleasedUnseen) {
    Harness h;
    h.round_trip(
        {{"id", 1},
         {"method", "Target.setAutoAttach"},
         {"params", {{"autoAttach", true}, {"waitForDebuggerOnStart", true}, {"flatten", true}}}},
        json::object());
    h.to_agent.clear();
    h.to_browser.clear();
    h.browser({{"method", "Target.attachedToTarget"},
               {"params",
                {{"sessionId", "S-SECRET"},
                 {"targetInfo", target_info("SECRET", "https://mail.example/")},
                 {"waitingForDebugger", true}}}});
    EXPECT_TRUE(h.to_agent.empty());
    ASSERT_EQ(h.to_browser.size(), 2u);
    EXPECT_EQ(h.to_browser[0]["method"], "Runtime.runIfWaitingForDebugger");
    EXPECT_EQ(h.to_browser[0]["sessionId"], "S-SECRET");
    EXPECT_EQ(h.to_browser[1]["method"], "Target.detachFromTarget");
    // Allowed targets are handed to the agent.
    h.browser({{"method", "Target.attachedToTarget"},
               {"params",
                {{"sessionId", "S-OK"},
                 {"targetInfo", target_info("ALLOWED", "http://127.0.0.1:8080/")},
                 {"waitingForDebugger", true}}}});
    EXPECT_EQ(h.last_to_agent()["params"]["sessionId"], "S-OK");
}

TEST(CdpFilterTargets, EventsOfSessionsTheAgentDoesNotHoldAreDropped) {
    Harness h;
    h.browser({{"sessionId", "S-SECRET"},
               {"method", "Network.requestWillBeSent"},
               {"params", {{"request", {{"url", "https://mail.example/"}}}}}});
    h.browser({{"method", "Target.receivedMessageFromTarget"},
               {"params", {{"sessionId", "S-SECRET"}, {"message", "{}"}}}});
    EXPECT_TRUE(h.to_agent.empty());
}

// --- What the browser receives is what was checked -------------------------------------------

TEST(CdpFilterMessages, IdsAreTheFiltersOwnAndUnknownAnswersAreDropped) {
    Harness h;
    std::string session = h.attach_allowed();
    h.agent({{"id", 1},
             {"sessionId", session},
             {"method", "Runtime.evaluate"},
             {"params", {{"expression", "1+1"}}}});
    json forwarded = h.last_to_browser();
    EXPECT_NE(forwarded["id"], 1);
    h.to_agent.clear();
    // An answer to an id the filter never sent (or to one of its internal commands) is dropped.
    h.browser({{"id", 999999}, {"result", json::object()}});
    EXPECT_TRUE(h.to_agent.empty());
    h.browser({{"id", forwarded["id"]}, {"sessionId", session}, {"result", {{"value", 2}}}});
    EXPECT_EQ(h.last_to_agent()["id"], 1);
    EXPECT_EQ(h.last_to_agent()["sessionId"], session);
}

TEST(CdpFilterMessages, MalformedAndAmbiguousMessagesAreRefused) {
    Harness h;
    std::string session = h.attach_allowed();
    h.to_browser.clear();
    const std::vector<std::string> refused{
        "not json",
        "[1,2]",
        R"({"method":"Runtime.evaluate"})",
        R"({"id":"1","method":"Runtime.evaluate"})",
        R"({"id":1.5,"method":"Runtime.evaluate"})",
        // Duplicate keys, at the top and inside params: two parsers may pick different ones.
        R"({"id":1,"sessionId":")" + session +
            R"(","method":"Runtime.evaluate","method":"Storage.getCookies"})",
        R"({"id":1,"sessionId":")" + session +
            R"(","method":"Page.navigate","params":{"url":"http://127.0.0.1:1/","url":"file:///etc/passwd"}})",
        // A key Chrome would ignore, or a differently cased one.
        R"({"id":1,"Method":"Storage.getCookies","method":"Runtime.evaluate"})",
        R"({"id":1,"method":"Runtime.evaluate","params":[]})",
        R"({"id":1,"method":"Runtime.evaluate","sessionId":5})",
    };
    for (const auto& text : refused) {
        h.agent_text(text);
        EXPECT_TRUE(h.last_to_agent().contains("error")) << text;
    }
    EXPECT_TRUE(h.to_browser.empty()) << h.to_browser.size();
    // A refused message that has an id is answered with it: the client's call fails, not hangs.
    h.agent_text(R"({"id":77,"method":"Runtime.evaluate","method":"Storage.getCookies"})");
    EXPECT_EQ(h.last_to_agent()["id"], 77);
    // An escaped key means the same key to every JSON parser, so it is judged as that key.
    h.agent_text(R"({"id":2,"sessionId":")" + session + R"(","met\u0068od":"Storage.getCookies"})");
    EXPECT_TRUE(h.refused_with_error(2));
}

// --- Commands that reach outside the tab ----------------------------------------------------

TEST(CdpFilterCommands, DangerousCommandsAreRefusedEvenOnAnAllowedTab) {
    Harness h;
    std::string session = h.attach_allowed();
    h.to_browser.clear();
    int id = 100;
    for (const char* method :
         {"Storage.getCookies", "Storage.clearDataForOrigin", "Network.getAllCookies",
          "Network.setCookie", "DOM.setFileInputFiles", "Browser.setDownloadBehavior",
          "Page.setDownloadBehavior", "Tethering.bind", "Target.exposeDevToolsProtocol",
          "Target.attachToBrowserTarget", "Target.sendMessageToTarget", "Browser.close",
          "Security.setIgnoreCertificateErrors", "Extensions.loadUnpacked", "Tracing.start"}) {
        h.agent(
            {{"id", ++id}, {"sessionId", session}, {"method", method}, {"params", json::object()}});
        EXPECT_TRUE(h.refused_with_error(id)) << method;
        EXPECT_EQ(h.last_to_agent()["sessionId"], session) << "answers route by session";
    }
    h.agent({{"id", ++id},
             {"sessionId", session},
             {"method", "Network.getCookies"},
             {"params", {{"urls", {"https://mail.example/"}}}}});
    EXPECT_TRUE(h.refused_with_error(id));
    EXPECT_TRUE(h.to_browser.empty());
}

TEST(CdpFilterCommands, BrowserLevelCommandsAreAnAllowList) {
    Harness h;
    int id = 200;
    for (const char* method : {"Fetch.enable", "Network.enable", "Runtime.evaluate",
                               "Storage.getCookies", "target.getTargets", "SystemInfo.getInfo"}) {
        h.agent({{"id", ++id}, {"method", method}, {"params", json::object()}});
        EXPECT_TRUE(h.refused_with_error(id)) << method;
    }
    EXPECT_TRUE(h.to_browser.empty());
    h.agent({{"id", ++id}, {"method", "Browser.getVersion"}});
    EXPECT_EQ(h.last_to_browser()["method"], "Browser.getVersion");
}

TEST(CdpFilterCommands, BrowserDownloadBehaviorIsAlwaysDeny) {
    // Playwright's connectOverCDP asks for allowAndName to its own directory; the browser is
    // told deny (same context), nothing else of the request passes.
    Harness h;
    h.agent({{"id", 7},
             {"method", "Browser.setDownloadBehavior"},
             {"params",
              {{"behavior", "allowAndName"},
               {"downloadPath", "/home/user/.ssh"},
               {"browserContextId", "CTX1"},
               {"eventsEnabled", true}}}});
    const json sent = h.last_to_browser();
    EXPECT_EQ(sent["method"], "Browser.setDownloadBehavior");
    EXPECT_EQ(sent["params"], (json{{"behavior", "deny"}, {"browserContextId", "CTX1"}}));
    h.agent({{"id", 8},
             {"method", "Browser.setDownloadBehavior"},
             {"params", {{"behavior", "allow"}, {"browserContextId", 5}}}});
    EXPECT_EQ(h.last_to_browser()["params"], (json{{"behavior", "deny"}}));
}

TEST(CdpFilterCommands, TabCommandsPassOnAnAllowedSession) {
    Harness h;
    std::string session = h.attach_allowed();
    for (const char* method :
         {"Runtime.evaluate", "Fetch.enable", "Network.enable", "Page.reload"}) {
        h.agent(
            {{"id", 5}, {"sessionId", session}, {"method", method}, {"params", json::object()}});
        EXPECT_EQ(h.last_to_browser()["method"], method);
        EXPECT_EQ(h.last_to_browser()["sessionId"], session);
    }
}

TEST(CdpFilterCommands, NavigationAndNewTabsStayInsideTheRules) {
    Harness h;
    std::string session = h.attach_allowed();
    h.to_browser.clear();
    int id = 300;
    for (const char* url :
         {"file:///etc/passwd", "chrome://settings", "javascript:alert(1)", "data:text/html,x",
          "https://mail.example/", "http://127.0.0.1@evil/"}) {
        h.agent({{"id", ++id}, {"method", "Target.createTarget"}, {"params", {{"url", url}}}});
        EXPECT_TRUE(h.refused_with_error(id)) << url;
        h.agent({{"id", ++id},
                 {"sessionId", session},
                 {"method", "Page.navigate"},
                 {"params", {{"url", url}}}});
        EXPECT_TRUE(h.refused_with_error(id)) << url;
    }
    EXPECT_TRUE(h.to_browser.empty());
    // A new blank tab the agent creates is its own, and visible while blank.
    json reply = h.round_trip(
        {{"id", 1}, {"method", "Target.createTarget"}, {"params", {{"url", "about:blank"}}}},
        {{"targetId", "MINE"}});
    EXPECT_EQ(reply["result"]["targetId"], "MINE");
    h.browser({{"method", "Target.targetCreated"},
               {"params", {{"targetInfo", target_info("MINE", "about:blank")}}}});
    json attach = h.round_trip({{"id", 2},
                                {"method", "Target.attachToTarget"},
                                {"params", {{"targetId", "MINE"}, {"flatten", true}}}},
                               {{"sessionId", "S-MINE"}});
    EXPECT_EQ(attach["result"]["sessionId"], "S-MINE");
}

// --- The filter's own Page subscription (cdp_domains.hpp) ----------------------------------

// The filter's own Page.enable commands sent on `session` so far.
int filter_subscriptions(const Harness& h, const std::string& session) {
    int count = 0;
    for (const auto& m : h.to_browser) {
        count += m["method"] == "Page.enable" && m.value("sessionId", "") == session;
    }
    return count;
}

bool any_page_event(const std::vector<json>& to_agent) {
    for (const auto& m : to_agent) {
        if (m.contains("method") && m["method"].get<std::string>().starts_with("Page."))
            return true;
    }
    return false;
}

TEST(CdpFilterSubscription, TheFilterEnablesPageOnEverySessionItLearnsOf) {
    {
        Harness h;
        std::string session = h.attach_allowed();
        EXPECT_EQ(filter_subscriptions(h, session), 1);
        // Sent with the attach's answer, so it precedes any command of the agent on the session
        // (the browser runs a session's commands in order).
        h.agent({{"id", 8},
                 {"sessionId", session},
                 {"method", "Runtime.evaluate"},
                 {"params", {{"expression", "1"}}}});
        ASSERT_GE(h.to_browser.size(), 2u);
        EXPECT_EQ(h.to_browser[h.to_browser.size() - 2]["method"], "Page.enable");
        EXPECT_EQ(h.to_browser.back()["method"], "Runtime.evaluate");
        // Auto-attached tabs too; a worker's session has no Page domain.
        h.browser({{"method", "Target.attachedToTarget"},
                   {"params",
                    {{"sessionId", "S-AUTO"},
                     {"targetInfo", target_info("ALLOWED", "http://127.0.0.1:8080/")},
                     {"waitingForDebugger", true}}}});
        EXPECT_EQ(filter_subscriptions(h, "S-AUTO"), 1);
    }
    {
        CdpTargetRule rule;
        rule.type = "service_worker";
        Harness h;
        h.policy = CdpTargetPolicy({rule});
        h.browser({{"method", "Target.attachedToTarget"},
                   {"params",
                    {{"sessionId", "S-WORKER"},
                     {"targetInfo",
                      target_info("W", "http://127.0.0.1:8080/sw.js", "service_worker")}}}});
        ASSERT_EQ(h.last_to_agent()["params"]["sessionId"], "S-WORKER");
        EXPECT_EQ(filter_subscriptions(h, "S-WORKER"), 0);
    }
    {
        Harness h(std::string("ALLOWED"));
        EXPECT_EQ(filter_subscriptions(h, "PAGE-SESSION"), 1);
    }
}

TEST(CdpFilterSubscription, AnAgentThatNeverEnabledPageGetsNoPageEventsYetTheTabIsDetached) {
    for (const json& event : navigation_events("https://mail.example/inbox")) {
        if (!event["method"].get<std::string>().starts_with("Page.")) continue;
        SCOPED_TRACE(event["method"].get<std::string>());
        Harness h;
        std::string session = h.attach_allowed();
        h.to_agent.clear();
        // The filter's subscription delivers Page events the agent never asked for: dropped,
        // navigations inside the rules included. Other domains' events pass.
        for (json message : navigation_events("http://127.0.0.1:8080/next")) {
            message["sessionId"] = session;
            h.browser(message);
        }
        h.browser({{"sessionId", session},
                   {"method", "Page.loadEventFired"},
                   {"params", {{"timestamp", 1}}}});
        EXPECT_FALSE(any_page_event(h.to_agent));
        EXPECT_EQ(h.to_agent.size(), 2u);  // Network.requestWillBeSent, responseReceived
        // The first Page event heading out of the rules ends the session.
        h.to_agent.clear();
        json message = event;
        message["sessionId"] = session;
        h.browser(message);
        bool detached = false;
        for (const auto& m : h.to_agent) {
            detached |=
                m["method"] == "Target.detachedFromTarget" && m["params"]["sessionId"] == session;
            EXPECT_EQ(m.dump().find("mail.example"), std::string::npos) << m.dump();
        }
        EXPECT_TRUE(detached);
        EXPECT_EQ(h.last_to_browser()["method"], "Target.detachFromTarget");
        h.agent({{"id", 9},
                 {"sessionId", session},
                 {"method", "Runtime.evaluate"},
                 {"params", {{"expression", "document.title"}}}});
        EXPECT_TRUE(h.refused_with_error(9));
    }
}

TEST(CdpFilterSubscription, PageEventsReachTheAgentAfterItsOwnPageEnableUntilItsPageDisable) {
    const json load{{"method", "Page.loadEventFired"}, {"params", {{"timestamp", 1}}}};
    for (bool page_mode : {false, true}) {
        SCOPED_TRACE(page_mode ? "page mode" : "browser mode");
        std::optional<Harness> harness;  // in place: the filter refers to its policy
        if (page_mode) {
            harness.emplace(std::string("ALLOWED"));
        } else {
            harness.emplace();
        }
        Harness& h = *harness;
        const std::string session = page_mode ? "" : h.attach_allowed();
        const std::string real = page_mode ? "PAGE-SESSION" : session;
        json event = load;
        event["sessionId"] = real;
        h.agent_enables_page(session);
        h.to_agent.clear();
        h.browser(event);
        ASSERT_EQ(h.to_agent.size(), 1u);
        EXPECT_EQ(h.to_agent[0]["method"], "Page.loadEventFired");
        // The agent's Page.disable is answered by the filter and never reaches the browser:
        // the filter's subscription stays on.
        h.to_browser.clear();
        json disable{{"id", 41}, {"method", "Page.disable"}};
        if (!page_mode) disable["sessionId"] = session;
        h.agent(disable);
        EXPECT_TRUE(h.to_browser.empty());
        json reply = h.last_to_agent();
        EXPECT_EQ(reply["id"], 41);
        EXPECT_EQ(reply["result"], json::object());
        EXPECT_EQ(reply.contains("sessionId"), !page_mode);
        h.to_agent.clear();
        h.browser(event);
        EXPECT_TRUE(h.to_agent.empty());
        // ...and still hears the tab leave the rules.
        h.browser({{"sessionId", real},
                   {"method", "Page.frameRequestedNavigation"},
                   {"params",
                    {{"frameId", "ALLOWED"},
                     {"disposition", "currentTab"},
                     {"url", "https://mail.example/inbox"}}}});
        EXPECT_TRUE(page_mode ? h.closed
                              : h.last_to_agent()["method"] == "Target.detachedFromTarget");
        for (const auto& m : h.to_agent)
            EXPECT_EQ(m.dump().find("mail.example"), std::string::npos);
    }
}

TEST(CdpFilterSubscription, TheFiltersRepliesNeverReachTheAgentAndIdsNeverCollide) {
    Harness h;
    std::string session = h.attach_allowed();
    json subscription;
    for (const auto& m : h.to_browser) {
        if (m["method"] == "Page.enable") subscription = m;
    }
    ASSERT_TRUE(subscription.is_object());
    const json filter_id = subscription["id"];
    // The agent uses the very id of the filter's command (and Page.enable itself).
    h.agent({{"id", filter_id},
             {"sessionId", session},
             {"method", "Page.enable"},
             {"params", json::object()}});
    const json forwarded = h.last_to_browser();
    EXPECT_NE(forwarded["id"], filter_id);
    h.to_agent.clear();
    // The browser answers the filter's command: the agent is told nothing.
    h.browser({{"id", filter_id}, {"sessionId", session}, {"result", json::object()}});
    EXPECT_TRUE(h.to_agent.empty());
    // Its own command is answered once, under its own id.
    h.browser({{"id", forwarded["id"]}, {"sessionId", session}, {"result", json::object()}});
    ASSERT_EQ(h.to_agent.size(), 1u);
    EXPECT_EQ(h.to_agent[0]["id"], filter_id);
    EXPECT_TRUE(h.to_agent[0].contains("result"));
    // A second answer under the filter's id (forged or late) is dropped as well.
    h.browser({{"id", filter_id}, {"sessionId", session}, {"result", json::object()}});
    EXPECT_EQ(h.to_agent.size(), 1u);
}

TEST(CdpFilterSubscription, ATabWhoseSubscriptionIsRefusedIsDetached) {
    Harness h;
    std::string session = h.attach_allowed();
    h.to_agent.clear();
    const json error{{"code", -32601}, {"message", "'Page.enable' wasn't found"}};
    const std::vector<json> sent = h.to_browser;
    for (const auto& m : sent) {
        if (m["method"] == "Page.enable") {
            h.browser({{"id", m["id"]}, {"sessionId", m["sessionId"]}, {"error", error}});
        }
    }
    // A tab the filter cannot watch is let go; the browser's answer is not passed on.
    bool tab_detached = false;
    for (const auto& m : h.to_agent) {
        EXPECT_EQ(m.dump().find("wasn't found"), std::string::npos);
        if (m["method"] == "Target.detachedFromTarget") {
            EXPECT_EQ(m["params"]["sessionId"], session);
            tab_detached = true;
        }
    }
    EXPECT_TRUE(tab_detached);
    EXPECT_EQ(h.last_to_browser()["method"], "Target.detachFromTarget");
    EXPECT_EQ(h.last_to_browser()["params"]["sessionId"], session);
}

// --- Page mode: /devtools/page/<id> ---------------------------------------------------------

TEST(CdpFilterPage, MessagesMoveOntoTheFiltersSessionAndBack) {
    Harness h(std::string("ALLOWED"));
    ASSERT_TRUE(h.filter.ready());
    h.agent({{"id", 1}, {"method", "Runtime.evaluate"}, {"params", {{"expression", "1"}}}});
    EXPECT_EQ(h.last_to_browser()["sessionId"], "PAGE-SESSION");
    h.browser({{"id", h.last_to_browser()["id"]},
               {"sessionId", "PAGE-SESSION"},
               {"result", json::object()}});
    EXPECT_EQ(h.last_to_agent()["id"], 1);
    EXPECT_FALSE(h.last_to_agent().contains("sessionId"));
    h.agent_enables_page("");
    h.browser({{"sessionId", "PAGE-SESSION"},
               {"method", "Page.loadEventFired"},
               {"params", json::object()}});
    EXPECT_EQ(h.last_to_agent()["method"], "Page.loadEventFired");
    EXPECT_FALSE(h.last_to_agent().contains("sessionId"));
    EXPECT_FALSE(h.closed);
    h.browser({{"method", "Target.targetInfoChanged"},
               {"params", {{"targetInfo", target_info("ALLOWED", "https://mail.example/")}}}});
    EXPECT_TRUE(h.closed);
}

TEST(CdpFilterPage, APageThatStartsNavigatingOutOfTheRulesClosesTheConnection) {
    Harness h(std::string("ALLOWED"));
    ASSERT_TRUE(h.filter.ready());
    h.to_agent.clear();
    h.browser({{"sessionId", "PAGE-SESSION"},
               {"method", "Page.frameStartedNavigating"},
               {"params", {{"frameId", "ALLOWED"}, {"url", "https://mail.example/inbox"}}}});
    EXPECT_TRUE(h.closed);
    for (const auto& m : h.to_agent) EXPECT_EQ(m.dump().find("mail.example"), std::string::npos);
}

TEST(CdpFilterPage, ADisallowedPageIsNeverAttached) {
    Harness h(std::string("SECRET"));
    EXPECT_TRUE(h.closed);
    EXPECT_FALSE(h.filter.ready());
}

}  // namespace
}  // namespace cloakroom::browser
