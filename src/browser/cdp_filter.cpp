#include "browser/cdp_filter.hpp"

#include "browser/cdp_navigation.hpp"

#include <array>
#include <vector>

namespace cloakroom::browser {
namespace {

using nlohmann::json;

constexpr int kMaxDepth = 64;

// Parses one protocol message the way the filter must see it: a JSON object without duplicate
// keys at any depth. nlohmann keeps the last of two equal keys; Chrome's parser may not agree
// on every input, so a message where the two could differ is refused rather than interpreted.
std::optional<json> parse_strict(std::string_view text) {
    if (text.size() > kMaxCdpMessage) return std::nullopt;
    std::vector<std::vector<std::string>> keys;
    bool duplicate = false;
    bool too_deep = false;
    json::parser_callback_t callback = [&](int depth, json::parse_event_t event, json& parsed) {
        if (depth > kMaxDepth) too_deep = true;
        switch (event) {
            case json::parse_event_t::object_start:
                keys.emplace_back();
                break;
            case json::parse_event_t::object_end:
                if (!keys.empty()) keys.pop_back();
                break;
            case json::parse_event_t::key:
                if (!keys.empty() && parsed.is_string()) {
                    const auto& key = parsed.get_ref<const std::string&>();
                    for (const auto& seen : keys.back()) {
                        if (seen == key) duplicate = true;
                    }
                    keys.back().push_back(key);
                }
                break;
            default:
                break;
        }
        return true;
    };
    json value = json::parse(text.begin(), text.end(), callback, /*allow_exceptions=*/false);
    if (value.is_discarded() || duplicate || too_deep || !value.is_object()) return std::nullopt;
    return value;
}

std::string dump(const json& value) {
    return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string string_field(const json& object, const char* key) {
    auto it = object.find(key);
    if (it == object.end() || !it->is_string()) return {};
    return it->get<std::string>();
}

bool starts_with_any(std::string_view method, std::initializer_list<std::string_view> prefixes) {
    for (auto prefix : prefixes) {
        if (method.starts_with(prefix)) return true;
    }
    return false;
}

// Commands that reach outside the tab they are sent to: the browser-wide cookie jar, files on
// the host, downloads to the host, browser-wide settings and permissions, and ways to get an
// unfiltered protocol channel. Refused on every session.
bool reaches_outside_the_tab(std::string_view method, const json& params) {
    static constexpr std::array<std::string_view, 23> kMethods{
        "Target.attachToBrowserTarget",
        "Target.exposeDevToolsProtocol",
        "Target.sendMessageToTarget",
        "Target.setRemoteLocations",
        "Network.getAllCookies",
        "Network.clearBrowserCookies",
        "Network.setCookie",
        "Network.setCookies",
        "Network.deleteCookies",
        "DOM.setFileInputFiles",
        "Page.setDownloadBehavior",
        "Browser.setDownloadBehavior",
        "Browser.cancelDownload",
        "Browser.grantPermissions",
        "Browser.setPermission",
        "Browser.resetPermissions",
        "Browser.close",
        "Browser.crash",
        "Browser.crashGpuProcess",
        "Browser.executeBrowserCommand",
        "Browser.addPrivacySandboxEnrollmentOverride",
        "Security.setIgnoreCertificateErrors",
        "Page.captureSnapshot",  // MHTML of the page incl. cross-origin frames' resources
    };
    for (auto refused : kMethods) {
        if (method == refused) return true;
    }
    // Network.getCookies with `urls` reads any site's cookies, not the tab's.
    if (method == "Network.getCookies" && params.contains("urls")) return true;
    return starts_with_any(method, {"Storage.", "Tethering.", "Extensions.", "PWA.", "Cast.",
                                    "Autofill.", "Tracing.", "BackgroundService."});
}

json refusal_message(const json& id, std::string_view method, const std::string& reason,
                     const std::optional<std::string>& session) {
    json message{{"id", id},
                 {"error",
                  {{"code", -32000},
                   {"message", "Cloakroom refused " + std::string(method) + ": " + reason}}}};
    if (session) message["sessionId"] = *session;
    return message;
}

}  // namespace

CdpFilter::CdpFilter(const CdpTargetPolicy& policy, std::optional<std::string> page_target)
    : policy_(policy), page_target_(std::move(page_target)) {}

CdpOutput CdpFilter::start() {
    CdpOutput out;
    send_internal(out, "Target.setDiscoverTargets", json{{"discover", true}});
    if (page_target_) {
        send_internal(out, "Target.attachToTarget",
                      json{{"targetId", *page_target_}, {"flatten", true}});
    }
    return out;
}

void CdpFilter::send_internal(CdpOutput& out, std::string method, json params,
                              std::optional<std::string> session) {
    std::int64_t id = next_id_++;
    json message{{"id", id}, {"method", method}, {"params", params}};
    if (session) message["sessionId"] = *session;
    Pending pending;
    pending.internal = true;
    pending.method = std::move(method);
    pending.params = std::move(params);
    pending.session = std::move(session);
    pending_.emplace(id, std::move(pending));
    out.to_browser.push_back(dump(message));
}

void CdpFilter::refuse(CdpOutput& out, const json& id, std::string_view method,
                       std::string reason) {
    out.refusals.push_back(std::string(method) + ": " + reason);
    out.to_agent.push_back(dump(refusal_message(id, method, reason, {})));
}

void CdpFilter::emit_to_agent(CdpOutput& out, json message) {
    if (page_session_) {
        auto it = message.find("sessionId");
        if (it != message.end() && it->is_string() && it->get<std::string>() == *page_session_) {
            message.erase("sessionId");
        }
    }
    out.to_agent.push_back(dump(message));
}

bool CdpFilter::target_allowed(const std::string& target_id) const {
    auto it = targets_.find(target_id);
    return it != targets_.end() && policy_.allows(it->second.info, it->second.owned);
}

std::optional<std::string> CdpFilter::check_command(const std::string& method, const json& params,
                                                    bool browser_level) {
    if (reaches_outside_the_tab(method, params)) return "it reaches outside the allowed tabs";
    auto target_param = [&]() { return string_field(params, "targetId"); };
    if (method.starts_with("Target.")) {
        if (method == "Target.getTargets" || method == "Target.setDiscoverTargets" ||
            method == "Target.createBrowserContext" || method == "Target.getBrowserContexts") {
            return std::nullopt;
        }
        if (method == "Target.attachToTarget") {
            if (!target_allowed(target_param())) return "the target is not allowed";
            if (params.value("flatten", false) != true)
                return "only flattened sessions are supported";
            return std::nullopt;
        }
        if (method == "Target.setAutoAttach") {
            if (params.value("flatten", false) != true)
                return "only flattened sessions are supported";
            return std::nullopt;
        }
        if (method == "Target.activateTarget" || method == "Target.closeTarget" ||
            method == "Target.autoAttachRelated") {
            if (!target_allowed(target_param())) return "the target is not allowed";
            return std::nullopt;
        }
        if (method == "Target.getTargetInfo") {
            if (params.contains("targetId") && !target_allowed(target_param())) {
                return "the target is not allowed";
            }
            return std::nullopt;
        }
        if (method == "Target.detachFromTarget") {
            std::string session = string_field(params, "sessionId");
            if (!session.empty() ? !sessions_.contains(session) : !target_allowed(target_param())) {
                return "no such session";
            }
            return std::nullopt;
        }
        if (method == "Target.createTarget") {
            if (!policy_.allows_navigation(string_field(params, "url"))) {
                return "the URL is not allowed";
            }
            return std::nullopt;
        }
        if (method == "Target.disposeBrowserContext") {
            if (!owned_contexts_.contains(string_field(params, "browserContextId"))) {
                return "the browser context was not created through Cloakroom";
            }
            return std::nullopt;
        }
        return "this Target command is not supported";
    }
    if (method == "Page.navigate" && !policy_.allows_navigation(string_field(params, "url"))) {
        return "the URL is not allowed";
    }
    if (method.starts_with("Browser.")) {
        if (method == "Browser.getVersion" || method == "Browser.getWindowBounds" ||
            method == "Browser.setWindowBounds") {
            return std::nullopt;
        }
        if (method == "Browser.getWindowForTarget") {
            if (params.contains("targetId") && !target_allowed(target_param())) {
                return "the target is not allowed";
            }
            return std::nullopt;
        }
        return "browser-wide commands are not allowed";
    }
    if (browser_level && method != "Schema.getDomains") {
        return "only Target and Browser commands are allowed without a session on an allowed "
               "target";
    }
    return std::nullopt;
}

CdpOutput CdpFilter::from_agent(std::string_view text) {
    CdpOutput out;
    auto parsed = parse_strict(text);
    if (!parsed) {
        out.refusals.push_back("malformed message");
        json reply{{"error",
                    {{"code", -32700},
                     {"message",
                      "Cloakroom refused the message: not a JSON object without duplicate keys"}}}};
        // Answer with the message's id when it has one, so the client's call fails instead of
        // waiting forever.
        if (text.size() <= kMaxCdpMessage) {
            json lenient = json::parse(text.begin(), text.end(), nullptr, false);
            if (lenient.is_object()) {
                auto id = lenient.find("id");
                if (id != lenient.end() && id->is_number_integer()) reply["id"] = *id;
                auto session = lenient.find("sessionId");
                if (session != lenient.end() && session->is_string()) reply["sessionId"] = *session;
            }
        }
        out.to_agent.push_back(dump(reply));
        return out;
    }
    json& message = *parsed;
    auto id_it = message.find("id");
    if (id_it == message.end() || !id_it->is_number_integer()) {
        out.refusals.push_back("message without an integer id");
        out.to_agent.push_back(
            dump(json{{"error",
                       {{"code", -32600},
                        {"message", "Cloakroom refused the message: it has no integer 'id'"}}}}));
        return out;
    }
    json id = *id_it;
    auto method_it = message.find("method");
    if (method_it == message.end() || !method_it->is_string()) {
        refuse(out, id, "the message", "it has no string 'method'");
        return out;
    }
    std::string method = method_it->get<std::string>();
    for (auto it = message.begin(); it != message.end(); ++it) {
        if (it.key() != "id" && it.key() != "method" && it.key() != "params" &&
            it.key() != "sessionId") {
            refuse(out, id, method,
                   "the message has a key other than id, method, params, sessionId");
            return out;
        }
    }
    if (message.contains("params") && !message["params"].is_object()) {
        refuse(out, id, method, "'params' is not an object");
        return out;
    }
    const json params = message.value("params", json::object());
    std::optional<std::string> session;
    if (message.contains("sessionId")) {
        if (!message["sessionId"].is_string()) {
            refuse(out, id, method, "'sessionId' is not a string");
            return out;
        }
        session = message["sessionId"].get<std::string>();
        auto it = sessions_.find(*session);
        if (it == sessions_.end() || !target_allowed(it->second)) {
            out.refusals.push_back(method + ": unknown session");
            out.to_agent.push_back(
                dump(refusal_message(id, method, "no session with that id", session)));
            return out;
        }
    }
    if (page_target_ && !session && !page_session_) {
        // The filter's own attach to the page is still on its way; nothing may pass before it.
        refuse(out, id, method, "the page session is not ready yet");
        return out;
    }
    bool browser_level = !session && !page_target_;
    if (browser_level && method == "Browser.setDownloadBehavior") {
        // Playwright sends this when it connects (allowAndName, to a directory of its own
        // machine). Downloads would write to the host's disk: the browser is told "deny",
        // whatever was asked, and the agent gets the browser's answer.
        json safe{{"behavior", "deny"}};
        auto context = params.find("browserContextId");
        if (context != params.end() && context->is_string()) safe["browserContextId"] = *context;
        std::int64_t our_id = next_id_++;
        Pending pending;
        pending.agent_id = id;
        pending.method = method;
        pending.params = safe;
        pending_.emplace(our_id, std::move(pending));
        out.to_browser.push_back(
            dump(json{{"id", our_id}, {"method", method}, {"params", std::move(safe)}}));
        return out;
    }
    if (auto reason = check_command(method, params, browser_level)) {
        out.refusals.push_back(method + ": " + *reason);
        out.to_agent.push_back(dump(refusal_message(id, method, *reason, session)));
        return out;
    }
    if (method == "Target.setDiscoverTargets") {
        // The filter's own discovery stays on; the agent's choice only decides what it is told.
        bool discover = params.value("discover", false) == true;
        json reply{{"id", id}, {"result", json::object()}};
        if (session) reply["sessionId"] = *session;
        out.to_agent.push_back(dump(reply));
        if (discover && !agent_discovers_) {
            agent_discovers_ = true;
            for (auto& [target_id, known] : targets_) {
                if (!policy_.allows(known.info, known.owned)) continue;
                known.visible = true;
                emit_to_agent(out, json{{"method", "Target.targetCreated"},
                                        {"params",
                                         {{"targetInfo",
                                           {{"targetId", known.info.id},
                                            {"type", known.info.type},
                                            {"title", known.info.title},
                                            {"url", known.info.url},
                                            {"attached", false}}}}}});
            }
        }
        agent_discovers_ = discover;
        return out;
    }
    const std::optional<std::string> on_session = session ? session : page_session_;
    if (on_session &&
        agent_domains_[*on_session].on_command(method) == AgentDomains::Command::answer_locally) {
        // The browser keeps the filter's own subscription; the agent stops getting the events.
        json reply{{"id", id}, {"result", json::object()}};
        if (session) reply["sessionId"] = *session;
        out.to_agent.push_back(dump(reply));
        return out;
    }
    std::int64_t our_id = next_id_++;
    Pending pending;
    pending.agent_id = id;
    pending.method = method;
    pending.params = params;
    pending.session = session;
    pending_.emplace(our_id, std::move(pending));
    message["id"] = our_id;
    if (!session && page_session_) message["sessionId"] = *page_session_;
    out.to_browser.push_back(dump(message));
    return out;
}

void CdpFilter::detach_target(CdpOutput& out, const std::string& target_id) {
    for (auto it = sessions_.begin(); it != sessions_.end();) {
        if (it->second != target_id) {
            ++it;
            continue;
        }
        send_internal(out, "Target.detachFromTarget", json{{"sessionId", it->first}});
        // Commands still waiting on that session get their answer now: Chrome may never send
        // one after the detach, and a late one is dropped (its id is no longer pending).
        for (auto waiting = pending_.begin(); waiting != pending_.end();) {
            if (waiting->second.internal || waiting->second.session != it->first) {
                ++waiting;
                continue;
            }
            out.to_agent.push_back(dump(
                refusal_message(waiting->second.agent_id, waiting->second.method,
                                "the target left the allowed rules", waiting->second.session)));
            waiting = pending_.erase(waiting);
        }
        emit_to_agent(out, json{{"method", "Target.detachedFromTarget"},
                                {"params", {{"sessionId", it->first}, {"targetId", target_id}}}});
        out.refusals.push_back("target left the allowed rules: detached");
        agent_domains_.erase(it->first);
        it = sessions_.erase(it);
    }
    if (page_target_ && *page_target_ == target_id) out.close = true;
}

void CdpFilter::hold_session(CdpOutput& out, const std::string& session,
                             const std::string& target_id) {
    sessions_[session] = target_id;
    agent_domains_[session] = AgentDomains{};
    auto known = targets_.find(target_id);
    const std::string type = known == targets_.end() ? std::string() : known->second.info.type;
    // Sent before any command of the agent on the session can be (the I/O side writes the
    // filter's output in order, and the browser runs a session's commands in order).
    if (filter_subscribes(type)) {
        send_internal(out, std::string(kFilterSubscription), json::object(), session);
    }
}

void CdpFilter::release_session(const std::string& session) {
    sessions_.erase(session);
    agent_domains_.erase(session);
}

void CdpFilter::leave_rules(CdpOutput& out, const std::string& target_id, Known& known) {
    detach_target(out, target_id);
    if (known.visible && agent_discovers_) {
        emit_to_agent(
            out, json{{"method", "Target.targetDestroyed"}, {"params", {{"targetId", target_id}}}});
    }
    known.visible = false;
}

bool CdpFilter::navigates_out_of_rules(CdpOutput& out, const std::string& method,
                                       const json& params, const std::string& session) {
    auto held = sessions_.find(session);
    if (held == sessions_.end()) return false;
    const std::string target_id = held->second;
    auto url = main_frame_navigation_url(method, params, target_id);
    if (!url) return false;
    auto known = targets_.find(target_id);
    if (known == targets_.end()) return false;
    TargetInfo heading = known->second.info;
    heading.url = *url;
    if (policy_.allows(heading, known->second.owned)) return false;
    // Remember where it is going: a late targetInfoChanged with the old URL must not make it
    // visible again before the browser reports the new one.
    known->second.info.url = std::move(heading.url);
    leave_rules(out, target_id, known->second);
    return true;
}

void CdpFilter::on_target_info(CdpOutput& out, const json& info, bool announce) {
    if (!info.is_object()) return;
    std::string id = string_field(info, "targetId");
    if (id.empty()) return;
    Known& known = targets_[id];
    known.info = TargetInfo{id, string_field(info, "type"), string_field(info, "title"),
                            string_field(info, "url")};
    bool allowed = policy_.allows(known.info, known.owned);
    if (!allowed) {
        leave_rules(out, id, known);
        return;
    }
    if (announce && agent_discovers_) {
        emit_to_agent(out, json{{"method", known.visible ? "Target.targetInfoChanged"
                                                         : "Target.targetCreated"},
                                {"params", {{"targetInfo", info}}}});
        known.visible = true;
    }
}

void CdpFilter::handle_response(CdpOutput& out, json& message) {
    const json& id = message["id"];
    if (!id.is_number_integer()) return;
    auto it = pending_.find(id.get<std::int64_t>());
    if (it == pending_.end()) return;  // not an answer to anything sent: dropped
    Pending pending = std::move(it->second);
    pending_.erase(it);
    const bool ok = message.contains("result") && message["result"].is_object();
    if (pending.internal) {
        if (pending.method == "Target.setDiscoverTargets") discovered_ = true;
        if (pending.method == kFilterSubscription && !ok && pending.session) {
            // Without it the filter would hear of the tab's navigations only when they commit:
            // a tab it cannot watch is not driven at all.
            auto held = sessions_.find(*pending.session);
            if (held != sessions_.end()) {
                const std::string target_id = held->second;
                auto known = targets_.find(target_id);
                if (known != targets_.end() && known->second.info.type == "page") {
                    out.refusals.push_back("the tab's navigations cannot be watched");
                    detach_target(out, target_id);
                }
            }
            return;
        }
        if (page_target_ && !page_session_ && pending.method == "Target.attachToTarget") {
            std::string session = ok ? string_field(message["result"], "sessionId") : "";
            if (session.empty() || !target_allowed(*page_target_)) {
                if (!session.empty()) {
                    send_internal(out, "Target.detachFromTarget", json{{"sessionId", session}});
                }
                out.refusals.push_back("the page is not an allowed target");
                out.close = true;
                return;
            }
            page_session_ = session;
            hold_session(out, session, *page_target_);
        }
        return;
    }
    if (ok) {
        json& result = message["result"];
        if (pending.method == "Target.getTargets" && result.contains("targetInfos") &&
            result["targetInfos"].is_array()) {
            json filtered = json::array();
            for (const auto& info : result["targetInfos"]) {
                on_target_info(out, info, false);
                std::string target_id = string_field(info, "targetId");
                if (target_allowed(target_id)) {
                    targets_[target_id].visible = true;
                    filtered.push_back(info);
                }
            }
            result["targetInfos"] = std::move(filtered);
        } else if (pending.method == "Target.attachToTarget") {
            std::string session = string_field(result, "sessionId");
            if (!session.empty()) {
                hold_session(out, session, string_field(pending.params, "targetId"));
            }
        } else if (pending.method == "Target.createTarget") {
            std::string target_id = string_field(result, "targetId");
            if (!target_id.empty()) {
                targets_[target_id].owned = true;
                targets_[target_id].info.id = target_id;
            }
        } else if (pending.method == "Target.createBrowserContext") {
            std::string context = string_field(result, "browserContextId");
            if (!context.empty()) owned_contexts_.insert(context);
        } else if (pending.method == "Target.getTargetInfo" && result.contains("targetInfo")) {
            const json& info = result["targetInfo"];
            std::string target_id = string_field(info, "targetId");
            on_target_info(out, info, false);
            if (string_field(info, "type") != "browser" && !target_allowed(target_id)) {
                refuse(out, pending.agent_id, pending.method, "the target is not allowed");
                return;
            }
        }
    }
    message["id"] = pending.agent_id;
    if (pending.session) {
        message["sessionId"] = *pending.session;
    } else {
        message.erase("sessionId");
    }
    out.to_agent.push_back(dump(message));
}

void CdpFilter::handle_event(CdpOutput& out, json& message) {
    std::string method = string_field(message, "method");
    json params = message.value("params", json::object());
    std::optional<std::string> session;
    if (message.contains("sessionId") && message["sessionId"].is_string()) {
        session = message["sessionId"].get<std::string>();
        if (!sessions_.contains(*session)) return;  // a session the agent does not hold
    }
    if (method == "Target.targetCreated" || method == "Target.targetInfoChanged") {
        on_target_info(out, params.value("targetInfo", json::object()), true);
        return;
    }
    if (method == "Target.targetDestroyed" || method == "Target.targetCrashed") {
        std::string target_id = string_field(params, "targetId");
        auto it = targets_.find(target_id);
        if (it == targets_.end()) return;
        bool visible = it->second.visible;
        if (method == "Target.targetDestroyed") {
            detach_target(out, target_id);
            targets_.erase(it);
        }
        if (visible && agent_discovers_) emit_to_agent(out, message);
        if (page_target_ && *page_target_ == target_id) out.close = true;
        return;
    }
    if (method == "Target.attachedToTarget") {
        const json info = params.value("targetInfo", json::object());
        on_target_info(out, info, false);
        std::string child = string_field(params, "sessionId");
        std::string target_id = string_field(info, "targetId");
        if (child.empty()) return;
        if (target_allowed(target_id)) {
            hold_session(out, child, target_id);
            emit_to_agent(out, message);
            return;
        }
        // Auto-attach reached a target the agent may not see: let it run and let go of it.
        if (params.value("waitingForDebugger", false) == true) {
            send_internal(out, "Runtime.runIfWaitingForDebugger", json::object(), child);
        }
        send_internal(out, "Target.detachFromTarget", json{{"sessionId", child}});
        out.refusals.push_back("auto-attach to a target outside the rules: detached");
        return;
    }
    if (method == "Target.detachedFromTarget") {
        const std::string gone = string_field(params, "sessionId");
        if (sessions_.contains(gone)) {
            release_session(gone);
            emit_to_agent(out, message);
        }
        return;
    }
    if (method.starts_with("Target.")) return;  // receivedMessageFromTarget and the like
    if (session) {
        // The event that says the tab is leaving the rules is not passed on: it carries the
        // new URL. The agent gets Target.detachedFromTarget instead.
        if (navigates_out_of_rules(out, method, params, *session)) return;
        // Events of the filter's own subscription that the agent did not ask for.
        static const AgentDomains kNoneEnabled;
        auto domains = agent_domains_.find(*session);
        const AgentDomains& enabled =
            domains == agent_domains_.end() ? kNoneEnabled : domains->second;
        if (!enabled.passes_event(method)) return;
        emit_to_agent(out, message);
        return;
    }
    if (method == "Inspector.detached") emit_to_agent(out, message);
    // Other browser-level events (downloads, tracing, ...) concern the whole browser: dropped.
}

CdpOutput CdpFilter::from_browser(std::string_view text) {
    CdpOutput out;
    auto parsed = parse_strict(text);
    if (!parsed) return out;  // never passed on unparsed
    if (parsed->contains("id")) {
        handle_response(out, *parsed);
    } else if (parsed->contains("method")) {
        handle_event(out, *parsed);
    }
    return out;
}

}  // namespace cloakroom::browser
