// `cloakroom serve`: the forward-proxy listener, one io_context per core, SIGHUP and
// config-file-change reloads that keep the last good configuration on error.
#pragma once

#include <filesystem>
#include <vector>

#include "config/environment.hpp"

namespace cloakroom::proxy {

struct ServeOptions {
    std::vector<std::filesystem::path> config_files;  // empty: default resolution order
    unsigned threads = 0;                             // 0: one per core
};

// Blocks until SIGINT/SIGTERM. Returns the process exit code; prints why on failure.
int serve(const ServeOptions& options, const config::Environment& environment);

}  // namespace cloakroom::proxy
