// The DevTools protocol filter between an agent and the host's browser: one per agent WebSocket
// connection, pure (messages in, messages out), so every rule is tested without a browser
// (docs/browser.md, "DevTools protocol filter").
//
// What it guarantees, whatever the agent sends:
// - The agent never sees a disallowed target: Target.getTargets results, Target.* events and
//   auto-attach notifications are filtered; a target that navigates or retitles out of the
//   rules is detached and reported destroyed.
// - Every message the agent sends is parsed (duplicate keys, unknown top-level keys and non-JSON
//   are refused) and re-serialized, so the browser receives exactly what was checked; its `id`
//   is replaced by the filter's own, so answers to the filter's internal commands never reach
//   the agent and the agent cannot forge answers.
// - A command names a session only if that session is attached to an allowed target; commands
//   without a session (browser level) are limited to an allow-list; commands that reach outside
//   the tab (cookie jars, host files, downloads, browser-wide settings, raw protocol exposure)
//   are refused everywhere. A refused command gets a JSON-RPC error, never silence.
// - The filter keeps its own target discovery on (started by `start()`), so it sees every
//   change even when the agent turns discovery off.
// - The filter enables Page itself on every session it learns of (cdp_domains.hpp), so it hears
//   of each navigation when it starts, whatever the agent enabled; the agent gets Page events
//   only after its own Page.enable, and its Page.disable leaves the filter's subscription on.
//
// `page_target`: the agent connected to /devtools/page/<id>. The filter then attaches to that
// target itself (flattened) and moves the agent's session-less messages onto that session.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "browser/cdp_domains.hpp"
#include "browser/cdp_target_rule.hpp"

namespace cloakroom::browser {

struct CdpOutput {
    std::vector<std::string> to_browser;
    std::vector<std::string> to_agent;
    // Each refusal's reason, for the audit (method names only, never parameters).
    std::vector<std::string> refusals;
    bool close = false;  // the page the agent connected to is gone or no longer allowed
};

// Largest message the filter parses; screenshots and large DOM snapshots stay below.
inline constexpr std::size_t kMaxCdpMessage = 64 * 1024 * 1024;

class CdpFilter {
  public:
    CdpFilter(const CdpTargetPolicy& policy, std::optional<std::string> page_target = {});

    // The filter's own commands to send when the connection to the browser is up.
    CdpOutput start();
    CdpOutput from_agent(std::string_view message);
    CdpOutput from_browser(std::string_view message);
    // False until the filter's own discovery is answered (the browser reports every existing
    // target first) and, in page mode, its own attach to the page: before that it could not
    // judge a target the agent names, so the I/O side reads nothing from the agent.
    bool ready() const { return discovered_ && (!page_target_ || page_session_.has_value()); }

  private:
    struct Pending {
        bool internal = false;
        nlohmann::json agent_id;  // the id the agent used
        std::string method;
        nlohmann::json params;
        std::optional<std::string> session;  // as the agent named it (nullopt in page mode)
    };
    struct Known {
        TargetInfo info;
        bool owned = false;
        bool visible = false;  // the agent has been told about it
    };

    void send_internal(CdpOutput& out, std::string method, nlohmann::json params,
                       std::optional<std::string> session = {});
    void refuse(CdpOutput& out, const nlohmann::json& id, std::string_view method,
                std::string reason);
    std::optional<std::string> check_command(const std::string& method,
                                             const nlohmann::json& params, bool browser_level);
    void on_target_info(CdpOutput& out, const nlohmann::json& info, bool announce);
    // Detaches every session on the target and tells a discovering agent it is gone.
    void leave_rules(CdpOutput& out, const std::string& target_id, Known& known);
    // True (and the target left) when a session event says its page navigates to a URL the
    // rules do not admit (cdp_navigation.hpp).
    bool navigates_out_of_rules(CdpOutput& out, const std::string& method,
                                const nlohmann::json& params, const std::string& session);
    void detach_target(CdpOutput& out, const std::string& target_id);
    // Records a session the agent now holds (or the filter's page session) and enables the
    // filter's own subscription on it.
    void hold_session(CdpOutput& out, const std::string& session, const std::string& target_id);
    void release_session(const std::string& session);
    void handle_event(CdpOutput& out, nlohmann::json& message);
    void handle_response(CdpOutput& out, nlohmann::json& message);
    bool target_allowed(const std::string& target_id) const;
    void emit_to_agent(CdpOutput& out, nlohmann::json message);

    const CdpTargetPolicy& policy_;
    std::optional<std::string> page_target_;
    std::optional<std::string> page_session_;  // the filter's session on page_target_
    std::int64_t next_id_ = 1;
    std::map<std::int64_t, Pending> pending_;
    std::map<std::string, Known> targets_;
    std::map<std::string, std::string> sessions_;        // agent-visible session -> target id
    std::map<std::string, AgentDomains> agent_domains_;  // per session in sessions_
    std::set<std::string> owned_contexts_;
    bool agent_discovers_ = false;
    bool discovered_ = false;
};

}  // namespace cloakroom::browser
