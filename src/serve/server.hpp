// `cloakroom serve`: the process wiring. Loads the configuration, builds the runtime snapshot,
// registers every listener (forward proxy, reverse base URL, each database) with the listener
// registry, runs one io_context per core, and reloads on SIGHUP or a changed config file,
// keeping the last good configuration on error (docs/architecture.md, invariant 9).
#pragma once

#include <filesystem>
#include <vector>

#include "config/environment.hpp"

namespace cloakroom::serve {

struct ServeOptions {
    std::vector<std::filesystem::path> config_files;  // empty: default resolution order
    unsigned threads = 0;                             // 0: one per core
    // Threads that relay logged-in plaintext database sessions (db/relay_placement.hpp), on
    // top of `threads`; 0: each session relays on the worker that accepted it.
    unsigned db_relay_threads = 1;
};

// Blocks until SIGINT/SIGTERM. Returns the process exit code; prints why on failure.
int serve(const ServeOptions& options, const config::Environment& environment);

}  // namespace cloakroom::serve
