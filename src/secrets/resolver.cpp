#include "secrets/resolver.hpp"

#include <sys/stat.h>
#include <time.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <unordered_map>
#include <utility>

#include "secrets/exec_provider.hpp"
#include "secrets/file_provider.hpp"
#include "secrets/ref_rules.hpp"
#include "secrets/secret_buffer.hpp"
#include "secrets/value_rules.hpp"

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
    };
    std::mutex mutex;
    std::unordered_map<std::string, Entry> entries;  // key: provider tag + ID
    std::atomic<std::uint64_t> hits{0};
    std::atomic<std::uint64_t> reads{0};
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
                      cache_->reads.load(std::memory_order_relaxed)};
}

Result<SecretValue> SecretResolver::resolve_file(const SecretRef& ref, const std::string& source,
                                                 std::vector<SecretWarning>* warnings) const {
    const bool systemd = ref.provider == Provider::Systemd;
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
    std::string key = systemd ? "s:" : "f:";
    key += ref.name;

    // Fast path: two stats prove the file (and its directory) are what the last read saw.
    if (!root.empty()) {
        const std::string path = (root / ref.name).string();
        struct stat dir_now {};
        struct stat file_now {};
        if (::stat(root.c_str(), &dir_now) == 0 && ::lstat(path.c_str(), &file_now) == 0) {
            std::lock_guard lock(cache_->mutex);
            const auto it = cache_->entries.find(key);
            if (it != cache_->entries.end() && same_dir(it->second.identity.dir, dir_now) &&
                same_file(it->second.identity.file, file_now)) {
                if (warnings != nullptr) {
                    warnings->insert(warnings->end(), it->second.warnings.begin(),
                                     it->second.warnings.end());
                }
                cache_->hits.fetch_add(1, std::memory_order_relaxed);
                return it->second.value;
            }
        }
    }

    // Full read: the uncached path, with every check.
    cache_->reads.fetch_add(1, std::memory_order_relaxed);
    const auto drop = [&] {
        std::lock_guard lock(cache_->mutex);
        cache_->entries.erase(key);
    };
    std::vector<SecretWarning> seen;
    FileIdentity identity;
    auto raw = read_secret_file(root, ref.name, rules, source, &seen, &identity);
    if (warnings != nullptr) warnings->insert(warnings->end(), seen.begin(), seen.end());
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
    auto& entry = cache_->entries[key];
    entry.identity = identity;
    entry.value = value;
    entry.warnings = std::move(seen);
    return value;
}

Result<SecretValue> SecretResolver::resolve(const SecretRef& ref,
                                            std::vector<SecretWarning>* warnings) const {
    const std::string source = ref.text();
    if (ref.provider == Provider::File || ref.provider == Provider::Systemd) {
        return resolve_file(ref, source, warnings);
    }
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
