// The revocation file, `<data_dir>/revocations` (runtime/revocation_list.hpp for its format),
// and the live list the gateway checks on every access decision.
//
// Appends are durable and safe from several processes at once: one O_APPEND write per record
// under an exclusive flock, then fsync of the file and of its directory (the first append
// creates the file, mode 0600, in a directory created 0700). A reader never mistakes a record
// being written for a broken one: an unterminated last line is skipped until it is complete,
// and an append after a writer that died midway starts on a fresh line.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/revocation_list.hpp"
#include "util/result.hpp"

namespace cloakroom::runtime {

std::filesystem::path revocations_path(const std::filesystem::path& data_dir);

// The whole file parsed; a missing file is an empty list. Errors: "revocations.read" (with
// the path), "revocations.invalid" (the line and the problem).
Result<RevocationList> load_revocations(const std::filesystem::path& path);

// Appends one record durably (see above). Error code "revocations.write".
Result<void> append_revocation(const std::filesystem::path& path, const RevocationRecord& record);

// The revocations the running gateway enforces: loaded at start, re-read by refresh() when the
// file changed (the serve control loop calls it several times a second), and looked up on every
// access decision. Lookups are lock-free on the hot path: each thread keeps its own reference to
// the current list and takes the lock only after a change.
class Revocations {
  public:
    explicit Revocations(std::filesystem::path path = {}) : path_(std::move(path)) {}

    // Replaces the list (tests, and refresh()).
    void set(std::shared_ptr<const RevocationList> list);
    std::shared_ptr<const RevocationList> current() const;

    // Fleet mode: records learnt from other gateways, enforced at once. They stay in force
    // across refresh() until the file holds them too (the control thread appends them).
    void add(const std::vector<RevocationRecord>& records);

    // Re-reads the file when its identity, size or mtime changed. Returns true when a new list
    // was applied; an unreadable or invalid file keeps the previous list (revocations are never
    // dropped) and returns the error.
    Result<bool> refresh();

    // The record revoking this token on the calling thread's view of the list, or nullptr. The
    // pointer is valid until this thread's next lookup.
    const RevocationRecord* find(std::string_view token_id,
                                 std::optional<std::int64_t> minted) const;

    const std::filesystem::path& path() const { return path_; }

    // Fleet mode (fleet/fleet.hpp): set while this gateway's copy of the fleet's revocations is
    // older than [fleet] max_staleness. Every genuine token is then refused (fail closed).
    void set_stale(bool stale) { stale_.store(stale, std::memory_order_relaxed); }
    bool stale() const { return stale_.load(std::memory_order_relaxed); }

  private:
    struct FileStamp {
        dev_t dev = 0;
        ino_t ino = 0;
        off_t size = -1;
        std::int64_t mtime_ns = 0;
        bool operator==(const FileStamp&) const = default;
    };
    static std::uint64_t next_version();
    void set_locked(std::shared_ptr<const RevocationList> list);

    std::filesystem::path path_;
    mutable std::mutex mutex_;
    std::shared_ptr<const RevocationList> list_ = std::make_shared<RevocationList>();
    std::atomic<std::uint64_t> version_{next_version()};
    std::optional<FileStamp> stamp_;
    std::atomic<bool> stale_{false};
    std::vector<RevocationRecord> pending_;  // add()ed, not yet seen in the file (mutex_)  //
                                             // refresh() only (one caller: the control loop)
};

}  // namespace cloakroom::runtime
