#include "runtime/revocation_store.hpp"

#include <set>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "tls/secure_files.hpp"
#include "util/unique_fd.hpp"

namespace cloakroom::runtime {
namespace {

// Far more than any real list (a record is ~100 bytes); a bigger file is refused, not read.
constexpr std::size_t kMaxFileBytes = 64 * 1024 * 1024;

std::string errno_text(int err) {
    return std::strerror(err);
}

Error read_error(const std::filesystem::path& path, std::string_view what, int err) {
    return make_error("revocations.read",
                      "cannot " + std::string(what) + " " + path.string() + ": " + errno_text(err));
}

Error write_error(const std::filesystem::path& path, std::string_view what, int err) {
    return make_error("revocations.write",
                      "cannot " + std::string(what) + " " + path.string() + ": " + errno_text(err));
}

Result<void> write_all(int fd, std::string_view text, const std::filesystem::path& path) {
    while (!text.empty()) {
        const ssize_t n = ::write(fd, text.data(), text.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return write_error(path, "write", errno);
        text.remove_prefix(static_cast<std::size_t>(n));
    }
    return {};
}

// The bytes after the file's last newline: "" for a clean file, else a line left unterminated
// (a writer that died midway, or a hand edit without the final newline). `offset` gets where
// it starts.
Result<std::string> unterminated_tail(int fd, const std::filesystem::path& path, off_t& offset) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) return write_error(path, "stat", errno);
    std::string tail;
    offset = st.st_size;
    char chunk[4096];
    while (offset > 0) {
        const off_t start = offset > static_cast<off_t>(sizeof chunk)
                                ? offset - static_cast<off_t>(sizeof chunk)
                                : 0;
        const auto length = static_cast<std::size_t>(offset - start);
        const ssize_t n = ::pread(fd, chunk, length, start);
        if (n != static_cast<ssize_t>(length))
            return write_error(path, "read", n < 0 ? errno : EIO);
        const std::string_view bytes(chunk, length);
        const auto newline = bytes.rfind('\n');
        if (newline != std::string_view::npos) {
            tail.insert(0, bytes.substr(newline + 1));
            offset = start + static_cast<off_t>(newline) + 1;
            return tail;
        }
        tail.insert(0, bytes);
        offset = start;
        if (tail.size() > 64 * 1024) break;  // no record is that long: the whole thing is junk
    }
    return tail;
}

}  // namespace

std::filesystem::path revocations_path(const std::filesystem::path& data_dir) {
    return data_dir / "revocations";
}

Result<RevocationList> load_revocations(const std::filesystem::path& path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) {
        if (errno == ENOENT) return RevocationList{};
        return read_error(path, "open", errno);
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return read_error(path, "stat", errno);
    if (!S_ISREG(st.st_mode)) {
        return make_error("revocations.read", path.string() + " is not a regular file");
    }
    if (static_cast<std::size_t>(st.st_size) > kMaxFileBytes) {
        return make_error("revocations.read", path.string() + " is larger than 64 MiB");
    }
    std::string text;
    char chunk[16384];
    for (;;) {
        const ssize_t n = ::read(fd.get(), chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return read_error(path, "read", errno);
        if (n == 0) break;
        text.append(chunk, static_cast<std::size_t>(n));
        if (text.size() > kMaxFileBytes) {
            return make_error("revocations.read", path.string() + " is larger than 64 MiB");
        }
    }
    auto list = RevocationList::parse(text);
    if (!list.ok()) {
        return make_error(list.error().code, path.string() + ": " + list.error().message);
    }
    return list;
}

Result<void> append_revocation(const std::filesystem::path& path, const RevocationRecord& record) {
    const std::filesystem::path dir = path.parent_path();
    if (auto made = tls::make_private_dirs(dir, "revocations.write"); !made.ok()) {
        return made.error();
    }
    // Read-write: the tail check below reads the file's end.
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fd) return write_error(path, "open", errno);
    // One writer at a time, across processes: the tail check and the append belong together.
    while (::flock(fd.get(), LOCK_EX) != 0) {
        if (errno != EINTR) return write_error(path, "lock", errno);
    }
    std::string line = format_revocation(record);
    off_t tail_offset = 0;
    auto tail = unterminated_tail(fd.get(), path, tail_offset);
    if (!tail.ok()) return tail.error();
    if (!tail->empty()) {
        // Under the lock nobody is writing, so an unterminated line is finished or never will
        // be. A complete record (a hand edit without the final newline) gets its newline; a
        // fragment of a writer that died before it could report success is cut off, so that
        // it does not make the whole file invalid.
        if (RevocationList::parse(*tail + "\n").ok()) {
            line.insert(line.begin(), '\n');
        } else if (::ftruncate(fd.get(), tail_offset) != 0) {
            return write_error(path, "truncate", errno);
        }
    }
    if (auto written = write_all(fd.get(), line, path); !written.ok()) return written.error();
    if (::fsync(fd.get()) != 0) return write_error(path, "sync", errno);
    UniqueFd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir_fd) return write_error(dir, "open directory", errno);
    if (::fsync(dir_fd.get()) != 0) return write_error(dir, "sync directory", errno);
    return {};
}

std::uint64_t Revocations::next_version() {
    static std::atomic<std::uint64_t> counter{0};
    return counter.fetch_add(1, std::memory_order_relaxed) + 1;
}

void Revocations::set(std::shared_ptr<const RevocationList> list) {
    std::lock_guard lock(mutex_);
    set_locked(std::move(list));
}

void Revocations::set_locked(std::shared_ptr<const RevocationList> list) {
    list_.swap(list);  // the previous list is released by the caller's `list` going away
    version_.store(next_version(), std::memory_order_release);
}

void Revocations::add(const std::vector<RevocationRecord>& records) {
    if (records.empty()) return;
    std::lock_guard lock(mutex_);
    auto next = std::make_shared<RevocationList>(*list_);
    for (const auto& record : records) {
        next->add(record);
        pending_.push_back(record);
    }
    set_locked(std::move(next));
}

std::shared_ptr<const RevocationList> Revocations::current() const {
    std::lock_guard lock(mutex_);
    return list_;
}

Result<bool> Revocations::refresh() {
    FileStamp stamp;
    struct stat st {};
    if (::stat(path_.c_str(), &st) == 0) {
        stamp = FileStamp{
            st.st_dev, st.st_ino, st.st_size,
            static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec};
    } else if (errno != ENOENT) {
        return read_error(path_, "stat", errno);
    }
    if (stamp_ && *stamp_ == stamp) return false;
    auto loaded = load_revocations(path_);
    if (!loaded.ok()) return loaded.error();
    stamp_ = stamp;
    std::lock_guard lock(mutex_);
    if (!pending_.empty()) {
        // Records from the fleet stay in force; those the file now holds need no more care.
        std::set<std::string> in_file;
        for (const auto& record : loaded->records()) in_file.insert(format_revocation(record));
        std::erase_if(pending_, [&](const RevocationRecord& record) {
            return in_file.contains(format_revocation(record));
        });
        for (const auto& record : pending_) loaded->add(record);
    }
    set_locked(std::make_shared<const RevocationList>(std::move(*loaded)));
    return true;
}

const RevocationRecord* Revocations::find(std::string_view token_id,
                                          std::optional<std::int64_t> minted) const {
    // Per thread: the version of the list this thread holds, so a lookup copies no shared_ptr
    // (no shared reference count bouncing between workers) unless the list changed. Versions
    // are unique across all instances, so one instance's view never passes for another's.
    struct View {
        std::uint64_t version = 0;
        std::shared_ptr<const RevocationList> list;
    };
    thread_local View view;
    const std::uint64_t version = version_.load(std::memory_order_acquire);
    if (view.version != version) {
        std::lock_guard lock(mutex_);
        view.version = version_.load(std::memory_order_relaxed);
        view.list = list_;
    }
    return view.list->find(token_id, minted);
}

}  // namespace cloakroom::runtime
