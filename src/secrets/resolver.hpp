// Turns a SecretRef into a SecretValue. Rotating a secret (rewrite or rename the file, update
// the helper) needs no reload: every resolve() either reads the source afresh or proves that the
// source has not changed since it was last read.
//
// File cache (file and systemd providers only; env is a getenv, exec is never cached): the last
// good value of each file secret is held in memory, inside the resolver, between requests (it was
// already copied into every injected request). A cached value is only served once the resolver
// has proved that neither the file nor its directory changed since it was read, in one of two
// ways:
//
// 1. inotify (SecretSources::watch, the default). Each root directory (file_root, the systemd
//    credentials directory) has an inotify fd watching the directory inode (content, metadata
//    and name changes of every child, and changes of the directory itself) and the inode of
//    every cached file (so a write through a hard link elsewhere is seen too). fsnotify queues
//    the event inside the changing syscall, so once a writer's write/rename/chmod/chown/unlink
//    has returned, the event is queued. A resolve() asks the inotify fd whether anything is
//    queued (one ioctl(FIONREAD), under the cache mutex; events are read only when there are
//    some): nothing means the entry is served with no stat at all. Any event (or a queue
//    overflow, or a watch the kernel dropped) starts a new "generation" of that root: every
//    entry of it is revalidated once with the two stats below and then served from inotify
//    again. What inotify cannot see is the root *path* being redirected to another directory (a
//    parent renamed or replaced, a symlink in the path swapped, a mount on top); for that every
//    entry is also revalidated with stats once per SecretSources::root_recheck (1 s). So a
//    replaced directory path is noticed within 1 s, every change of the directory or the files
//    immediately. If inotify is unavailable (limits, /proc not mounted), the directory is not on
//    a known local filesystem (NFS, SMB, FUSE: changes made elsewhere raise no event) or the
//    watch is lost (directory removed or moved), the root falls back to method 2 until a full
//    read can watch it again (retried at every full read, never per hit). The inotify path skips
//    nothing else: the ID of a cached entry was validated when it was read.
// 2. Two stats (the fallback, and the revalidation after an event): stat() of the root directory
//    and lstat() of <root>/<ID> (the final component is never followed, like the read path); the
//    cached value is used only if both match what the last full read saw: for the file dev,
//    inode, type+mode, uid, gid, size, mtime (ns) and ctime (ns); for the directory dev, inode,
//    type+mode, uid, gid and ctime (ns), so a chmod/chown or a replacement of either is noticed
//    on the next request.
//
// Otherwise (a difference, a failed stat) a full read goes through the uncached path with all of
// its checks (symlink and file-type refusal, permission warnings, value rules); a failed read
// drops the entry. A hit replays the warnings of the read it came from (they depend only on the
// validated modes). Timestamps are only as fine as the filesystem's clock (often a few ms, 1-2 s
// on some filesystems), so a value is cached only once its file's ctime is older than
// SecretSources::cache_settle (the "racy git" rule): a write in the same clock tick as the read
// could otherwise leave the stats unchanged. Cached values are SecretValues (wiped when
// replaced, dropped or destroyed).
//
// Providers:
//   file     <file_root>/<ID>                  dir 0700, file 0600, regular file, no symlinks
//   systemd  $CREDENTIALS_DIRECTORY/<ID>       same file rules; read-only 0500/0400 expected
//   env      getenv(NAME)
//   exec     argv run without a shell, stdout is the value, killed after exec_timeout
// Value rules (all providers): one trailing "\n" or "\r\n" stripped; then non-empty, no NUL/CR/LF,
// valid UTF-8; at most 64 KiB.
//
// Error codes: "secret.ref" (reference itself invalid), "secret.missing" (no such file/variable),
// "secret.unsafe" (symlink, non-regular file), "secret.invalid" (value rules, size cap),
// "secret.exec" (helper failed/timed out), "secret.io" (other system errors).
// No error or warning ever contains the value or any part of it.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "secrets/secret_ref.hpp"
#include "secrets/secret_value.hpp"
#include "util/result.hpp"

namespace cloakroom::secrets {

struct SecretSources {
    std::filesystem::path file_root;  // directory of the file provider
    // systemd credentials directory; when unset, taken from $CREDENTIALS_DIRECTORY at
    // SecretResolver construction.
    std::optional<std::filesystem::path> credentials_directory;
    std::chrono::milliseconds exec_timeout{5000};
    // A file value is cached only when its file's ctime is at least this old at the end of the
    // read (see the header comment). 0 only in tests that set distinct timestamps themselves.
    std::chrono::milliseconds cache_settle{2000};
    // Serve unchanged cached file values with no stat, watching the root directories with
    // inotify (see the header comment). false: always validate with two stats (also what
    // happens when inotify is unavailable).
    bool watch = true;
    // With `watch`: every cached entry is revalidated with stats at least this often, which is
    // how a redirection of a root directory's path (invisible to inotify) is noticed.
    std::chrono::milliseconds root_recheck{1000};
};

// Emitted (not fatal) when a secret directory or file is readable or writable by group/other.
struct SecretWarning {
    std::string code;  // "unsafe_permissions"
    std::string path;
    unsigned actual_mode = 0;    // permission bits, e.g. 0755
    unsigned expected_mode = 0;  // e.g. 0700
    std::string message;
};

// Outcome of checking one reference; never carries the value.
struct SecretStatus {
    // Unscoped so callers can write SecretStatus::Ok or SecretStatus::Status::Ok.
    enum Status { Ok, Missing, UnsafePermissions, Invalid, Error };

    SecretRef ref;
    Status status = Ok;
    std::string detail;      // error message, or the warning messages joined by "; "; empty when Ok
    std::string error_code;  // the Error code when the status comes from an error
    std::vector<SecretWarning> warnings;  // structured form of UnsafePermissions
};

// "ok", "missing", "unsafe_permissions", "invalid", "error".
std::string_view to_string(SecretStatus::Status status);

class SecretResolver {
  public:
    explicit SecretResolver(SecretSources sources);
    ~SecretResolver();
    SecretResolver(SecretResolver&&) noexcept;
    SecretResolver& operator=(SecretResolver&&) noexcept;
    SecretResolver(const SecretResolver&) = delete;
    SecretResolver& operator=(const SecretResolver&) = delete;

    // Resolves the secret now (file/systemd: from the validated cache or a fresh read; see the
    // header comment). Thread-safe. Warnings (if `warnings` is given) are appended even when
    // resolution then fails; they never block it. Without `warnings` (the gateway), each
    // distinct warning is logged once (spdlog, warning level) with the message `check` reports.
    Result<SecretValue> resolve(const SecretRef& ref,
                                std::vector<SecretWarning>* warnings = nullptr) const;

    // Resolves each reference and discards (wipes) the value at once: for `cloakroom secrets
    // check` and startup validation. Status precedence: an error maps to Missing / Invalid /
    // Error; a resolved secret with warnings is UnsafePermissions (usable: the gateway uses it
    // and logs the same warning); otherwise Ok.
    std::vector<SecretStatus> check(const std::vector<SecretRef>& refs) const;

    const SecretSources& sources() const { return sources_; }

    // File-cache counters (file and systemd providers), for tests and diagnostics.
    struct CacheStats {
        std::uint64_t hits = 0;       // served from the cache (inotify or stat check)
        std::uint64_t reads = 0;      // full reads (miss, changed, racy or failed)
        std::uint64_t fast_hits = 0;  // the part of `hits` served on inotify alone, no stat
    };
    CacheStats cache_stats() const;

  private:
    struct FileCache;  // resolver.cpp

    Result<SecretValue> resolve_file(const SecretRef& ref,
                                     std::vector<SecretWarning>* warnings) const;
    void log_warnings(const std::string& source, const std::vector<SecretWarning>& seen) const;

    SecretSources sources_;
    // Mutex-guarded inside; SecretResolver is shared const by the worker threads.
    std::unique_ptr<FileCache> cache_;
};

}  // namespace cloakroom::secrets
