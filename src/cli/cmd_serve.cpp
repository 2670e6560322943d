// `cloakroom serve`: run the gateway until SIGINT/SIGTERM; SIGHUP or a config file change
// reloads (the last good configuration keeps serving if the new one is broken).
#include <malloc.h>

#include <memory>

#include "cli/command.hpp"
#include "config/environment.hpp"
#include "serve/server.hpp"

namespace cloakroom::cli {
namespace {

// glibc malloc, for a long-running server with a worker thread per core (issue 5): by default
// free() trims the top of each arena back to the kernel as soon as 128 KiB are free there, so the
// per-request allocate/free cycle shows up as madvise()/brk() calls on the hot path, in every
// per-thread arena. A 64 MiB trim threshold keeps that memory for the next request; a fixed
// 4 MiB mmap threshold keeps mid-sized buffers on the heap. Setting either one also turns off
// glibc's dynamic adjustment of both (which would otherwise move them on its own). Memory is
// still returned for big frees: blocks >= 4 MiB are mmap()ed and unmapped on free, and a free
// top chunk beyond 64 MiB is trimmed. No fastbins (M_MXFAST 0): every allocation of 1 KiB or more
// (a request carries several: OpenSSL's record buffers, the head buffer) first consolidates all
// fastbin chunks of the arena, which showed in profiles; small blocks are still recycled per
// thread by tcache. Measured: keep-alive CPU per request -7 % (bench/run, two paired runs).
// Called once, before the worker threads start, and only for `serve` (the short-lived commands
// keep glibc's defaults).
void tune_malloc_for_serve() {
#if defined(__GLIBC__)
    mallopt(M_TRIM_THRESHOLD, 64 * 1024 * 1024);
    mallopt(M_MMAP_THRESHOLD, 4 * 1024 * 1024);
    mallopt(M_MXFAST, 0);
#endif
}

int run_serve(const GlobalOptions& global, unsigned threads, unsigned db_relay_threads) {
    tune_malloc_for_serve();
    serve::ServeOptions options;
    options.config_files.assign(global.config_files.begin(), global.config_files.end());
    options.threads = threads;
    options.db_relay_threads = db_relay_threads;
    const auto environment = config::Environment::from_process();
    return serve::serve(options, environment);
}

}  // namespace

void register_serve(CLI::App& app, const GlobalOptions& global, Commands& commands) {
    auto threads = std::make_shared<unsigned>(0);
    auto* command = app.add_subcommand(
        "serve",
        "Run the HTTPS gateway (forward proxy with TLS interception and credential injection)");
    auto db_relay_threads = std::make_shared<unsigned>(serve::ServeOptions{}.db_relay_threads);
    command->add_option("--threads", *threads, "Worker threads (default: one per core)");
    command->add_option("--db-relay-threads", *db_relay_threads,
                        "Threads that relay logged-in database sessions, besides the workers "
                        "(default: 1; 0: relay on the worker that accepted the session)");
    commands.push_back({command, [&global, threads, db_relay_threads] {
                            return run_serve(global, *threads, *db_relay_threads);
                        }});
}

}  // namespace cloakroom::cli
