#include "secrets/resolver.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <unordered_map>
#include <utility>

#include <spdlog/spdlog.h>

#include "secrets/dir_watch.hpp"
#include "secrets/exec_provider.hpp"
#include "secrets/file_provider.hpp"
#include "secrets/ref_rules.hpp"
#include "secrets/secret_buffer.hpp"
#include "secrets/value_rules.hpp"
#include "util/unique_fd.hpp"

namespace cloakroom::secrets {
namespace {

Result<SecretBuffer> read_env(const std::string& name, std::string_view source) {
    const char* raw = std::getenv(name.c_str());
    if (raw == nullptr) {
        return make_error("secret.missing",
                          std::string(source) + ": environment variable " + name + " is not set");
    }
    const std::size_t length = std::strlen(raw);
    if (length > kMaxSecretBytes) {
        return make_error("secret.invalid", std::string(source) + ": environment variable " + name +
                                                " is larger than " +
                                                std::to_string(kMaxSecretBytes) + " bytes");
    }
    SecretBuffer buffer(length);
    std::memcpy(buffer.data(), raw, length);
    buffer.set_size(length);
    return buffer;
}

// The env and exec providers (file and systemd go through SecretResolver::resolve_file).
Result<SecretBuffer> read_raw(const SecretSources& sources, const SecretRef& ref,
                              const std::string& source) {
    switch (ref.provider) {
        case Provider::File:
        case Provider::Systemd:
            break;  // SecretResolver::resolve_file
        case Provider::Env: {
            if (auto valid = validate_env_name(ref.name); !valid) return valid.error();
            return read_env(ref.name, source);
        }
        case Provider::Exec: {
            // A hand-built ref may carry only the command line; split it the same way the
            // parser does.
            std::vector<std::string> argv = ref.argv;
            if (argv.empty()) {
                auto split = split_exec_command(ref.name);
                if (!split) return split.error();
                argv = std::move(*split);
            } else if (auto valid = validate_exec_argv(argv); !valid) {
                return valid.error();
            }
            return run_secret_command(argv, sources.exec_timeout, source);
        }
    }
    return make_error("secret.ref", source + ": unknown provider");
}

bool same_time(const struct timespec& a, const struct timespec& b) {
    return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

bool same_dir(const struct stat& a, const struct stat& b) {
    return a.st_dev == b.st_dev && a.st_ino == b.st_ino && a.st_mode == b.st_mode &&
           a.st_uid == b.st_uid && a.st_gid == b.st_gid && same_time(a.st_ctim, b.st_ctim);
}

bool same_file(const struct stat& a, const struct stat& b) {
    return a.st_dev == b.st_dev && a.st_ino == b.st_ino && a.st_mode == b.st_mode &&
           a.st_uid == b.st_uid && a.st_gid == b.st_gid && a.st_size == b.st_size &&
           same_time(a.st_mtim, b.st_mtim) && same_time(a.st_ctim, b.st_ctim);
}

// True when the file's last change (ctime) is at least `settle` before now: any later write
// then gets a timestamp different from the one recorded, whatever the clock granularity.
bool settled(const struct stat& file, std::chrono::milliseconds settle) {
    struct timespec now {};
    if (::clock_gettime(CLOCK_REALTIME, &now) != 0) return false;
    const auto to_ns = [](const struct timespec& t) {
        return static_cast<std::int64_t>(t.tv_sec) * 1'000'000'000 + t.tv_nsec;
    };
    const std::int64_t changed = to_ns(file.st_ctim);
    const std::int64_t current = to_ns(now);
    return changed < current &&
           current - changed >= static_cast<std::int64_t>(settle.count()) * 1'000'000;
}

// CLOCK_MONOTONIC_COARSE: a few ms of resolution is plenty for the periodic recheck, and it
// costs less than a precise clock on every hit.
std::chrono::nanoseconds coarse_now() {
    struct timespec now {};
    ::clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
    return std::chrono::seconds(now.tv_sec) + std::chrono::nanoseconds(now.tv_nsec);
}

SecretStatus::Status status_for(const std::string& code) {
    if (code == "secret.missing") return SecretStatus::Missing;
    if (code == "secret.invalid") return SecretStatus::Invalid;
    return SecretStatus::Error;
}

}  // namespace

std::string_view to_string(SecretStatus::Status status) {
    switch (status) {
        case SecretStatus::Ok:
            return "ok";
        case SecretStatus::Missing:
            return "missing";
        case SecretStatus::UnsafePermissions:
            return "unsafe_permissions";
        case SecretStatus::Invalid:
            return "invalid";
        case SecretStatus::Error:
            return "error";
    }
    return "error";
}

struct SecretResolver::FileCache {
    struct Entry {
        FileIdentity identity;
        SecretValue value;
        std::vector<SecretWarning> warnings;
        // The root's generation in which the entry was last validated (full read or stats).
        // While it equals the root's current generation and `wd` is set, nothing in the
        // directory or the file can have changed: the value is served without stats.
        std::uint64_t generation = 0;
        int wd = -1;  // inotify watch on the file's inode (roots[].watch), or -1
    };
    // One per root directory: 0 is file_root, 1 the systemd credentials directory.
    struct Root {
        DirWatch watch;
        // Bumped by every inotify event, every periodic recheck and every start/stop of the
        // watch, so an entry stamped before any of them is revalidated with stats.
        std::uint64_t generation = 1;
        std::uint64_t epoch = 0;  // bumped when the watch starts: file watch descriptors of an
                                  // older epoch belong to a closed inotify fd
        std::chrono::nanoseconds recheck_at{0};  // coarse_now() of the next recheck
        std::vector<int> ignored;                // scratch for drain()
    };

    // Exclusive for every change; shared for the read-only hit (Fastest path in resolve_file),
    // so worker threads resolving the same secret do not queue behind each other.
    std::shared_mutex mutex;
    std::unordered_map<std::string, Entry> entries;  // key: provider tag + ID
    // Warnings already logged ("path mode"), so a loose file warns once, not per request.
    std::set<std::string> reported;
    Root roots[2];
    std::atomic<std::uint64_t> hits{0};
    std::atomic<std::uint64_t> fast_hits{0};
    std::atomic<std::uint64_t> reads{0};

    static int root_of(const std::string& key) { return key[0] == 's' ? 1 : 0; }

    // Under the mutex. Consumes pending events and applies the periodic recheck; afterwards an
    // entry of root `r` with generation == roots[r].generation is unchanged since it was
    // stamped.
    void poll(int r, std::chrono::milliseconds recheck) {
        Root& root = roots[r];
        if (!root.watch.active()) return;
        root.ignored.clear();
        switch (root.watch.drain(root.ignored)) {
            case DirWatch::Drain::Quiet:
                break;
            case DirWatch::Drain::Changed:
                ++root.generation;
                break;
            case DirWatch::Drain::Lost:
                forget_watch(r);
                return;
        }
        for (const int wd : root.ignored) {  // the kernel dropped these file watches
            for (auto& [key, entry] : entries) {
                if (entry.wd == wd && root_of(key) == r) entry.wd = -1;
            }
        }
        const auto now = coarse_now();
        if (now >= root.recheck_at) {
            ++root.generation;
            root.recheck_at = now + recheck;
        }
    }

    // Under the mutex. Starts watching the directory now at `path` (after a failure, retried
    // at the next full read).
    void start_watch(int r, const std::filesystem::path& path, std::chrono::milliseconds recheck) {
        Root& root = roots[r];
        UniqueFd dir(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!dir || !root.watch.start(dir.get())) return;
        ++root.generation;
        ++root.epoch;
        root.recheck_at = coarse_now() + recheck;
    }

    // Under the mutex. Stops the watch of root `r`: its entries are validated with stats until
    // a full read starts a new one.
    void forget_watch(int r) {
        roots[r].watch.stop();
        ++roots[r].generation;
        for (auto& [key, entry] : entries) {
            if (root_of(key) == r) entry.wd = -1;
        }
    }

    // Under the mutex. Removes file watch `wd` of root `r` unless an entry still uses it.
    void release_wd(int r, int wd) {
        if (wd < 0) return;
        for (const auto& [key, entry] : entries) {
            if (entry.wd == wd && root_of(key) == r) return;
        }
        roots[r].watch.unwatch_file(wd);
    }
};

SecretResolver::SecretResolver(SecretSources sources)
    : sources_(std::move(sources)), cache_(std::make_unique<FileCache>()) {
    if (!sources_.credentials_directory) {
        // systemd sets this once per service start, so reading it at construction is enough.
        if (const char* dir = std::getenv("CREDENTIALS_DIRECTORY"); dir != nullptr && *dir != 0) {
            sources_.credentials_directory = std::filesystem::path(dir);
        }
    }
}

SecretResolver::~SecretResolver() = default;
SecretResolver::SecretResolver(SecretResolver&&) noexcept = default;
SecretResolver& SecretResolver::operator=(SecretResolver&&) noexcept = default;

SecretResolver::CacheStats SecretResolver::cache_stats() const {
    return CacheStats{cache_->hits.load(std::memory_order_relaxed),
                      cache_->reads.load(std::memory_order_relaxed),
                      cache_->fast_hits.load(std::memory_order_relaxed)};
}

Result<SecretValue> SecretResolver::resolve_file(const SecretRef& ref,
                                                 std::vector<SecretWarning>* warnings) const {
    const bool systemd = ref.provider == Provider::Systemd;
    const int r = systemd ? 1 : 0;
    std::string key = systemd ? "s:" : "f:";
    key += ref.name;
    const auto replay = [&](const FileCache::Entry& entry) {
        if (warnings != nullptr) {
            warnings->insert(warnings->end(), entry.warnings.begin(), entry.warnings.end());
        }
    };

    // Fastest path: no inotify event since the entry was validated, so neither the directory
    // nor the file changed (see the header comment). It runs before the ID is validated: an
    // entry only exists for an ID that passed validation, and the same ID still does.
    std::uint64_t stamp = 0;  // generation to give the entry if the stats below match
    std::uint64_t epoch = 0;
    if (sources_.watch) {
        // Read-only first: nothing pending, no recheck due, entry current.
        std::shared_lock shared(cache_->mutex);
        const auto it = cache_->entries.find(key);
        if (it != cache_->entries.end()) {
            const FileCache::Root& watched = cache_->roots[r];
            const FileCache::Entry& entry = it->second;
            if (watched.watch.active() && entry.wd >= 0 && entry.generation == watched.generation &&
                coarse_now() < watched.recheck_at && watched.watch.quiet()) {
                replay(entry);
                cache_->hits.fetch_add(1, std::memory_order_relaxed);
                cache_->fast_hits.fetch_add(1, std::memory_order_relaxed);
                return entry.value;
            }
        }
    }
    if (sources_.watch) {
        std::lock_guard lock(cache_->mutex);
        const auto it = cache_->entries.find(key);
        if (it != cache_->entries.end()) {
            FileCache::Root& watched = cache_->roots[r];
            cache_->poll(r, sources_.root_recheck);
            if (watched.watch.active()) {
                const FileCache::Entry& entry = it->second;
                if (entry.wd >= 0 && entry.generation == watched.generation) {
                    replay(entry);
                    cache_->hits.fetch_add(1, std::memory_order_relaxed);
                    cache_->fast_hits.fetch_add(1, std::memory_order_relaxed);
                    return entry.value;
                }
                stamp = watched.generation;
                epoch = watched.epoch;
            }
        }
    }

    const std::string source = ref.text();
    if (auto valid = validate_secret_id(systemd ? "systemd" : "file", ref.name); !valid) {
        return valid.error();
    }
    if (systemd && !sources_.credentials_directory) {
        return make_error("secret.missing",
                          source +
                              ": CREDENTIALS_DIRECTORY is not set (systemd credentials "
                              "need LoadCredential= or SetCredential= on the unit)");
    }
    const std::filesystem::path& root =
        systemd ? *sources_.credentials_directory : sources_.file_root;
    // systemd makes the directory and files read-only for the service user.
    const FileRules rules = systemd ? FileRules{0500, 0400, "credentials directory"} : FileRules{};
    const bool watching = sources_.watch && !root.empty();
    const std::string path = root.empty() ? std::string() : (root / ref.name).string();

    if (!root.empty()) {
        // Fast path: two stats prove the file (and its directory) are what the last read saw.
        struct stat dir_now {};
        struct stat file_now {};
        if (::stat(root.c_str(), &dir_now) == 0 && ::lstat(path.c_str(), &file_now) == 0) {
            std::lock_guard lock(cache_->mutex);
            const auto it = cache_->entries.find(key);
            if (it != cache_->entries.end() && same_dir(it->second.identity.dir, dir_now) &&
                same_file(it->second.identity.file, file_now)) {
                FileCache::Entry& entry = it->second;
                FileCache::Root& watched = cache_->roots[r];
                // Validated after generation `stamp` began: later changes bump the generation.
                // Only for the directory the watch is on (the path may name another one now).
                if (stamp != 0 && watched.watch.active() && watched.epoch == epoch &&
                    dir_now.st_dev == watched.watch.dev() &&
                    dir_now.st_ino == watched.watch.ino()) {
                    if (entry.wd < 0) entry.wd = watched.watch.watch_file(path);
                    if (entry.wd >= 0 && stamp > entry.generation) entry.generation = stamp;
                }
                replay(entry);
                cache_->hits.fetch_add(1, std::memory_order_relaxed);
                return entry.value;
            }
        }
    }

    // Full read: the uncached path, with every check.
    cache_->reads.fetch_add(1, std::memory_order_relaxed);
    // Start (or restart) the watch, and take the generation before reading: a change during
    // or after the read bumps it, so the entry is then revalidated.
    stamp = 0;
    epoch = 0;
    int wd = -1;
    if (watching) {
        std::lock_guard lock(cache_->mutex);
        FileCache::Root& watched = cache_->roots[r];
        if (!watched.watch.active()) cache_->start_watch(r, root, sources_.root_recheck);
        cache_->poll(r, sources_.root_recheck);
        if (watched.watch.active()) {
            stamp = watched.generation;
            epoch = watched.epoch;
            wd = watched.watch.watch_file(path);
        }
    }
    const auto drop = [&] {
        std::lock_guard lock(cache_->mutex);
        const auto it = cache_->entries.find(key);
        int old_wd = -1;
        if (it != cache_->entries.end()) {
            old_wd = it->second.wd;
            cache_->entries.erase(it);
        }
        if (cache_->roots[r].watch.active() && cache_->roots[r].epoch == epoch) {
            cache_->release_wd(r, wd);
        }
        cache_->release_wd(r, old_wd);
    };
    std::vector<SecretWarning> seen;
    FileIdentity identity;
    auto raw = read_secret_file(root, ref.name, rules, source, &seen, &identity);
    if (warnings != nullptr) {
        warnings->insert(warnings->end(), seen.begin(), seen.end());
    } else if (!seen.empty()) {
        log_warnings(source, seen);
    }
    if (!raw) {
        drop();
        return raw.error();
    }
    if (auto valid = apply_value_rules(*raw, source); !valid) {
        drop();
        return valid.error();
    }
    SecretValue value = raw->take();
    if (!settled(identity.file, sources_.cache_settle)) {
        drop();
        return value;
    }
    std::lock_guard lock(cache_->mutex);
    FileCache::Root& watched = cache_->roots[r];
    const bool same_watch = stamp != 0 && watched.watch.active() && watched.epoch == epoch;
    if (same_watch && (identity.dir.st_dev != watched.watch.dev() ||
                       identity.dir.st_ino != watched.watch.ino())) {
        // The root path names another directory than the watched one (replaced): watch the new
        // one from the next full read on, which this forces.
        cache_->forget_watch(r);
        const auto it = cache_->entries.find(key);
        if (it != cache_->entries.end()) cache_->entries.erase(it);
        return value;
    }
    auto& entry = cache_->entries[key];
    const int old_wd = entry.wd;
    entry.identity = identity;
    entry.value = value;
    entry.warnings = std::move(seen);
    entry.wd = same_watch ? wd : -1;
    entry.generation = same_watch && wd >= 0 ? stamp : 0;
    if (old_wd != entry.wd) cache_->release_wd(r, old_wd);
    return value;
}

void SecretResolver::log_warnings(const std::string& source,
                                  const std::vector<SecretWarning>& seen) const {
    // The gateway's path (no caller collecting warnings): the same message `secrets check`
    // prints, on stderr, once per file and mode. One rule on both paths: used, and warned about.
    for (const auto& warning : seen) {
        const std::string key = warning.path + " " + std::to_string(warning.actual_mode);
        {
            std::lock_guard lock(cache_->mutex);
            if (!cache_->reported.insert(key).second) continue;
        }
        spdlog::warn("{}: {}", source, warning.message);
    }
}

Result<SecretValue> SecretResolver::resolve(const SecretRef& ref,
                                            std::vector<SecretWarning>* warnings) const {
    if (ref.provider == Provider::File || ref.provider == Provider::Systemd) {
        return resolve_file(ref, warnings);
    }
    const std::string source = ref.text();
    auto raw = read_raw(sources_, ref, source);
    if (!raw) return raw.error();
    if (auto valid = apply_value_rules(*raw, source); !valid) return valid.error();
    return raw->take();
}

std::vector<SecretStatus> SecretResolver::check(const std::vector<SecretRef>& refs) const {
    std::vector<SecretStatus> out;
    out.reserve(refs.size());
    for (const auto& ref : refs) {
        SecretStatus status;
        status.ref = ref;
        {
            auto result = resolve(ref, &status.warnings);
            if (!result) {
                status.status = status_for(result.error().code);
                status.error_code = result.error().code;
                status.detail = result.error().message;
            }
        }  // the value (if any) is wiped here, before anything else happens
        if (status.status == SecretStatus::Ok && !status.warnings.empty()) {
            status.status = SecretStatus::UnsafePermissions;
            for (const auto& warning : status.warnings) {
                if (!status.detail.empty()) status.detail += "; ";
                status.detail += warning.message;
            }
        }
        out.push_back(std::move(status));
    }
    return out;
}

}  // namespace cloakroom::secrets
