// The DevTools domain the filter enables for itself on every page session, and which of its
// events the agent is owed (docs/browser.md, "DevTools protocol filter", Navigations).
//
// The filter must hear of a navigation when it starts, before the new page commits: only the
// Page domain's session events (frameRequestedNavigation, frameStartedNavigating) say so, and
// Chrome sends them only to a session that enabled Page. So the filter enables Page on each page
// session itself. The agent shares that session, so it must not see events it did not ask for
// (a client that never enabled Page gets none), and its Page.disable must not end the filter's
// subscription. Pure: the filter asks, per session, what to do.
#pragma once

#include <string_view>

namespace cloakroom::browser {

// The command the filter sends, for itself, on each page session it learns of.
inline constexpr std::string_view kFilterSubscription = "Page.enable";

// Whether the filter subscribes on a session to a target of this type: every type but workers
// and worklets, whose sessions have no Page domain. A type not known yet subscribes: a Page.enable
// that fails costs nothing, a navigation the filter does not hear of is the gap this closes.
bool filter_subscribes(std::string_view target_type);

// One session's view of which of the filter's subscribed domains the agent enabled itself.
class AgentDomains {
  public:
    enum class Command {
        forward,        // pass to the browser
        answer_locally  // answer `{}` without reaching the browser
    };
    // The agent sends `method` on this session. Page.enable is forwarded (the agent gets the
    // browser's answer) and from then on Page events reach the agent; Page.disable is answered
    // by the filter, so the browser keeps the filter's subscription, and Page events stop
    // reaching the agent.
    Command on_command(std::string_view method);
    // Whether event `method` on this session reaches the agent.
    bool passes_event(std::string_view method) const;

  private:
    bool page_ = false;
};

}  // namespace cloakroom::browser
