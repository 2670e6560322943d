#include "browser/cdp_domains.hpp"

namespace cloakroom::browser {

bool filter_subscribes(std::string_view target_type) {
    return !target_type.ends_with("worker") && !target_type.ends_with("worklet");
}

AgentDomains::Command AgentDomains::on_command(std::string_view method) {
    if (method == "Page.enable") {
        // From the moment it is sent: events Chrome emits right after enabling are the agent's.
        page_ = true;
        return Command::forward;
    }
    if (method == "Page.disable") {
        page_ = false;
        return Command::answer_locally;
    }
    return Command::forward;
}

bool AgentDomains::passes_event(std::string_view method) const {
    if (!method.starts_with("Page.")) return true;
    // Screencast frames answer the agent's own Page.startScreencast, which Chrome serves
    // without Page.enable: withholding them would stall the screencast (each frame waits for
    // its ack).
    if (method == "Page.screencastFrame" || method == "Page.screencastVisibilityChanged") {
        return true;
    }
    return page_;
}

}  // namespace cloakroom::browser
