// What a resolved `cloakroom run` profile (config/profile.hpp) means for one session against the
// loaded configuration: which services the token names, which hosts the session's gateway must
// let through, which paths are hidden or writable (docs/sandbox.md, "Profiles"). Pure.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "config/model.hpp"
#include "config/profile.hpp"
#include "util/result.hpp"

namespace cloakroom::sandbox {

struct ProfileSession {
    // Configured service and database names for session_scope(); empty with `services_set`
    // false: every configured one (the profile says nothing about services).
    std::vector<std::string> services;
    bool services_set = false;
    // Hosts the session must reach that the configuration neither allows nor gives to a
    // service: the profile's allowed hosts and its service hosts no service owns (the agent
    // logs in itself there; nothing is injected). Normalized, no duplicates.
    std::vector<std::string> extra_hosts;
    std::vector<std::filesystem::path> hidden;    // "~/" expanded
    std::vector<std::filesystem::path> writable;  // "~/" expanded
};

// Errors "usage": a service entry that is neither a configured service or database name nor a
// host name (the configured names are listed); "~/" paths without a home directory.
Result<ProfileSession> profile_session(const config::Config& config, const config::Profile& profile,
                                       const std::string& home);

}  // namespace cloakroom::sandbox
