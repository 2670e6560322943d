#include "token/keys.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "token/crypto.hpp"
#include "util/base64.hpp"

namespace cloakroom::token {
namespace {

constexpr std::string_view kKeySuffix = ".key";
constexpr std::size_t kMaxKeyFileSize = 4096;

Error keys_error(std::string message) {
    return make_error("token.keys", std::move(message));
}

std::string errno_text(int err) {
    return std::strerror(err);
}

// Closes a file descriptor on scope exit.
class Fd {
  public:
    explicit Fd(int fd) : fd_(fd) {}
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    ~Fd() {
        if (fd_ >= 0) ::close(fd_);
    }
    int get() const { return fd_; }

  private:
    int fd_;
};

struct DirCloser {
    void operator()(DIR* d) const { ::closedir(d); }
};

std::string mode_text(mode_t mode) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
    return buf;
}

// Reads one key file; `warning` is set when it is accessible by group or others.
Result<std::string> read_key_file(const std::string& path, std::string& warning) {
    struct stat link_info {};
    if (::lstat(path.c_str(), &link_info) != 0) {
        return keys_error("cannot stat key file " + path + ": " + errno_text(errno));
    }
    if (S_ISLNK(link_info.st_mode)) {
        return keys_error("key file " + path + " is a symlink; refusing to follow it");
    }
    // O_NOFOLLOW closes the race between lstat and open.
    Fd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY));
    if (fd.get() < 0) {
        return keys_error("cannot open key file " + path + ": " + errno_text(errno));
    }
    struct stat info {};
    if (::fstat(fd.get(), &info) != 0 || !S_ISREG(info.st_mode)) {
        return keys_error("key file " + path + " is not a regular file");
    }
    if ((info.st_mode & 077) != 0) {
        warning = "key file " + path + " is accessible by group or others (mode " +
                  mode_text(info.st_mode) + "); use chmod 600";
    }
    if (info.st_size > static_cast<off_t>(kMaxKeyFileSize)) {
        return keys_error("key file " + path + " is too large for a key");
    }
    std::string content(kMaxKeyFileSize + 1, '\0');
    std::size_t total = 0;
    while (total < content.size()) {
        const ssize_t n = ::read(fd.get(), content.data() + total, content.size() - total);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            OPENSSL_cleanse(content.data(), content.size());
            return keys_error("cannot read key file " + path + ": " + errno_text(errno));
        }
        if (n == 0) break;
        total += static_cast<std::size_t>(n);
    }
    if (total > kMaxKeyFileSize) {
        OPENSSL_cleanse(content.data(), content.size());
        return keys_error("key file " + path + " is too large for a key");
    }
    content.resize(total);
    return content;
}

}  // namespace

bool valid_key_id(std::string_view kid) {
    if (kid.empty() || kid.size() > 128) return false;
    for (const char c : kid) {
        const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                        (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
        if (!ok) return false;
    }
    // "." and ".." are valid by charset but would name directories, not key files.
    return kid != "." && kid != "..";
}

namespace {

// Two different keys under one id: which one signs and verifies would depend on load order, so
// neither is used. The message names both sources and how to keep one.
Error conflicting_key(std::string_view kid, std::string_view first, std::string_view second) {
    const std::string a = first.empty() ? std::string("an earlier source") : std::string(first);
    const std::string b = second.empty() ? std::string("another source") : std::string(second);
    std::string message = "duplicate key id '" + std::string(kid) + "' with different keys: " + a +
                          " and " + b + ". Keep one: ";
    const std::string env(kEnvSigningKey);
    const std::string& file = a == env ? b : a;
    if (a == env || b == env) {
        message += "unset " + env + " to use " + file + ", or move " + file + " out of the key " +
                   "directory to use " + env + " (tokens signed with the key you drop stop " +
                   "verifying; a renamed key file is a different key id)";
    } else {
        message += "remove one of them";
    }
    return keys_error(std::move(message));
}

}  // namespace

Result<void> KeyStore::add(std::string_view kid, secrets::SecretValue key,
                           std::string_view source) {
    if (!valid_key_id(kid)) {
        return keys_error("invalid key id '" + std::string(kid) + "' (allowed: [A-Za-z0-9._-]+)");
    }
    if (key.size() < kMinKeySize) {
        return keys_error("key '" + std::string(kid) + "' is " + std::to_string(key.size()) +
                          " bytes; at least 32 are required");
    }
    if (const auto* existing = find(kid)) {
        if (crypto::equal(existing->reveal(), key.reveal())) return {};  // the same key twice
        auto it = sources_.find(kid);
        return conflicting_key(kid, it == sources_.end() ? "" : it->second, source);
    }
    keys_.emplace(std::string(kid), std::move(key));
    sources_[std::string(kid)] = std::string(source);
    return {};
}

Result<void> KeyStore::add_base64(std::string_view kid, std::string_view base64_key,
                                  std::string_view source) {
    auto decoded = base64_decode(base64_key);
    if (!decoded) {
        return keys_error("key '" + std::string(kid) +
                          "' is not valid standard base64: " + decoded.error().message);
    }
    return add(kid, secrets::SecretValue(std::move(*decoded)), source);
}

Result<void> KeyStore::add_from_env() {
    const char* value = std::getenv(std::string(kEnvSigningKey).c_str());
    if (value == nullptr || *value == '\0') {
        return keys_error(std::string(kEnvSigningKey) + " is not set");
    }
    auto added = add_base64(kEnvKeyId, value, kEnvSigningKey);
    if (!added) {
        if (contains(kEnvKeyId)) return added.error();  // a conflict: the message says it all
        return keys_error(std::string(kEnvSigningKey) + ": " + added.error().message);
    }
    return {};
}

Result<std::vector<std::string>> KeyStore::load_dir(const std::string& dir) {
    std::unique_ptr<DIR, DirCloser> handle(::opendir(dir.c_str()));
    if (!handle) return keys_error("cannot open key directory " + dir + ": " + errno_text(errno));
    std::vector<std::string> names;
    while (const dirent* entry = ::readdir(handle.get())) {
        const std::string_view name = entry->d_name;
        if (name.size() <= kKeySuffix.size() ||
            name.substr(name.size() - kKeySuffix.size()) != kKeySuffix) {
            continue;
        }
        names.emplace_back(name);
    }
    // Everything is read before anything is added, so a bad file leaves the store unchanged.
    std::vector<std::string> warnings;
    std::vector<std::pair<std::string, secrets::SecretValue>> loaded;
    for (const auto& name : names) {
        const std::string kid = name.substr(0, name.size() - kKeySuffix.size());
        const std::string path = dir + "/" + name;
        if (!valid_key_id(kid)) {
            return keys_error("key file " + path + ": invalid key id (allowed: [A-Za-z0-9._-]+)");
        }
        std::string warning;
        auto content = read_key_file(path, warning);
        if (!content) return content.error();
        std::string_view text = *content;
        if (!text.empty() && text.back() == '\n') text.remove_suffix(1);
        auto decoded = base64_decode(text);
        OPENSSL_cleanse(content->data(), content->size());
        if (!decoded) {
            return keys_error("key file " + path +
                              " is not valid standard base64: " + decoded.error().message);
        }
        if (decoded->size() < kMinKeySize) {
            OPENSSL_cleanse(decoded->data(), decoded->size());
            return keys_error("key file " + path + " holds " + std::to_string(decoded->size()) +
                              " bytes; at least 32 are required");
        }
        if (!warning.empty()) warnings.push_back(std::move(warning));
        if (const auto* existing = find(kid)) {
            const bool same = crypto::equal(existing->reveal(), *decoded);
            OPENSSL_cleanse(decoded->data(), decoded->size());
            if (same) continue;
            auto it = sources_.find(kid);
            return conflicting_key(kid, it == sources_.end() ? "" : it->second, path);
        }
        loaded.emplace_back(kid, secrets::SecretValue(std::move(*decoded)));
        sources_[kid] = path;  // harmless if the load fails: only read for an existing kid
    }
    for (auto& [kid, key] : loaded) keys_.emplace(kid, std::move(key));
    return warnings;
}

Result<std::string> KeyStore::generate(const std::string& dir, std::string_view kid) {
    if (!valid_key_id(kid)) {
        return keys_error("invalid key id '" + std::string(kid) + "' (allowed: [A-Za-z0-9._-]+)");
    }
    // Missing parents (e.g. a fresh $XDG_DATA_HOME/cloakroom) are created owner-only too: the
    // data directory will hold key material.
    for (std::size_t slash = dir.find('/', 1); slash != std::string::npos;
         slash = dir.find('/', slash + 1)) {
        const std::string parent = dir.substr(0, slash);
        if (::mkdir(parent.c_str(), 0700) != 0 && errno != EEXIST) {
            return keys_error("cannot create directory " + parent + ": " + errno_text(errno));
        }
    }
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
        return keys_error("cannot create key directory " + dir + ": " + errno_text(errno));
    }
    const std::string path = dir + "/" + std::string(kid) + std::string(kKeySuffix);
    Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (fd.get() < 0) {
        return keys_error("cannot create key file " + path + ": " + errno_text(errno));
    }
    std::string key = crypto::random_bytes(kMinKeySize);
    std::string text = base64_encode(key) + "\n";
    OPENSSL_cleanse(key.data(), key.size());
    std::size_t written = 0;
    while (written < text.size()) {
        const ssize_t n = ::write(fd.get(), text.data() + written, text.size() - written);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            const int err = errno;
            OPENSSL_cleanse(text.data(), text.size());
            ::unlink(path.c_str());
            return keys_error("cannot write key file " + path + ": " + errno_text(err));
        }
        written += static_cast<std::size_t>(n);
    }
    OPENSSL_cleanse(text.data(), text.size());
    if (::fsync(fd.get()) != 0) {
        const int err = errno;
        ::unlink(path.c_str());
        return keys_error("cannot sync key file " + path + ": " + errno_text(err));
    }
    return path;
}

bool KeyStore::remove(std::string_view kid) {
    auto it = keys_.find(kid);
    if (it == keys_.end()) return false;
    keys_.erase(it);
    if (auto source = sources_.find(kid); source != sources_.end()) sources_.erase(source);
    return true;
}

const secrets::SecretValue* KeyStore::find(std::string_view kid) const {
    auto it = keys_.find(kid);
    return it == keys_.end() ? nullptr : &it->second;
}

std::vector<std::string> KeyStore::key_ids() const {
    std::vector<std::string> ids;
    for (const auto& [kid, key] : keys_) ids.push_back(kid);
    return ids;
}

}  // namespace cloakroom::token
