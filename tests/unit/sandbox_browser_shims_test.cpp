// The browser shims of `cloakroom run`: every usual opener runs `cloakroom open --`, and the
// variables point the agent's tools at them (docs/browser.md, "Inside cloakroom run").
#include <gtest/gtest.h>

#include <algorithm>

#include "sandbox/browser_shims.hpp"

namespace cloakroom::sandbox {
namespace {

TEST(BrowserShims, EveryOpenerRunsCloakroomOpen) {
    const auto& names = browser_shim_names();
    for (const char* name :
         {"xdg-open", "open", "sensible-browser", "x-www-browser", "www-browser"}) {
        EXPECT_NE(std::find(names.begin(), names.end(), name), names.end()) << name;
    }
    const std::string script = browser_shim_script("/run/cloakroom/cloakroom");
    EXPECT_TRUE(script.starts_with("#!/bin/sh\n"));
    // `--` keeps a URL starting with '-' from being read as an option; "$@" keeps it one word.
    EXPECT_NE(script.find("exec '/run/cloakroom/cloakroom' open -- \"$@\""), std::string::npos);
}

TEST(BrowserShims, VariablesPutTheShimsFirst) {
    const Variables vars = browser_variables({{"HOME", "/h"}, {"PATH", "/opt/bin:/usr/bin"}});
    auto value = [&](const std::string& name) {
        for (const auto& [n, v] : vars) {
            if (n == name) return v;
        }
        return std::string("<unset>");
    };
    EXPECT_EQ(value("PATH"), "/run/cloakroom/bin:/opt/bin:/usr/bin");
    EXPECT_EQ(value("BROWSER"), "/run/cloakroom/bin/xdg-open");
    EXPECT_EQ(value("CLOAKROOM_BROWSER_SOCKET"), "/run/cloakroom/browser.sock");
    EXPECT_EQ(browser_variables({})[2].second, "/run/cloakroom/bin:/usr/local/bin:/usr/bin:/bin");
}

}  // namespace
}  // namespace cloakroom::sandbox
