#include "sandbox/landlock.hpp"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "util/unique_fd.hpp"

namespace cloakroom::sandbox {
namespace {

// <linux/landlock.h> of Debian 12 predates network rules and scopes; the ABI is stable.
constexpr long kSysCreateRuleset = 444;
constexpr long kSysAddRule = 445;
constexpr long kSysRestrictSelf = 446;
constexpr unsigned kCreateRulesetVersion = 1;
constexpr int kRulePathBeneath = 1;
constexpr int kRuleNetPort = 2;

constexpr std::uint64_t kExecute = 1ull << 0;
constexpr std::uint64_t kWriteFile = 1ull << 1;
constexpr std::uint64_t kReadFile = 1ull << 2;
constexpr std::uint64_t kReadDir = 1ull << 3;
constexpr std::uint64_t kTruncate = 1ull << 14;  // ABI 3
constexpr std::uint64_t kIoctlDev = 1ull << 15;  // ABI 5
constexpr std::uint64_t kBindTcp = 1ull << 0;
constexpr std::uint64_t kConnectTcp = 1ull << 1;
constexpr std::uint64_t kScopeAbstractUnix = 1ull << 0;
constexpr std::uint64_t kScopeSignal = 1ull << 1;

struct RulesetAttr {
    std::uint64_t handled_access_fs;
    std::uint64_t handled_access_net;
    std::uint64_t scoped;
};

struct __attribute__((packed)) PathBeneathAttr {
    std::uint64_t allowed_access;
    std::int32_t parent_fd;
};

struct NetPortAttr {
    std::uint64_t allowed_access;
    std::uint64_t port;
};

Error landlock_error(const std::string& what) {
    return make_error("sandbox.landlock", what + ": " + std::strerror(errno));
}

// Every filesystem right the kernel knows at this ABI.
std::uint64_t all_fs_rights(int abi) {
    std::uint64_t rights = (1ull << 13) - 1;  // ABI 1: execute .. make_sym
    if (abi >= 2) rights |= 1ull << 13;       // refer
    if (abi >= 3) rights |= kTruncate;
    if (abi >= 5) rights |= kIoctlDev;
    return rights;
}

constexpr std::uint64_t kFileRights = kExecute | kWriteFile | kReadFile | kTruncate | kIoctlDev;

Result<void> allow_path(int ruleset, const std::filesystem::path& path, std::uint64_t rights,
                        std::uint64_t handled) {
    UniqueFd fd(::open(path.c_str(), O_PATH | O_CLOEXEC));
    if (!fd) return {};  // absent: nothing to allow
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return landlock_error("fstat " + path.string());
    PathBeneathAttr attr{rights & handled, fd.get()};
    if (!S_ISDIR(st.st_mode)) attr.allowed_access &= kFileRights;
    if (::syscall(kSysAddRule, ruleset, kRulePathBeneath, &attr, 0) != 0)
        return landlock_error("landlock_add_rule " + path.string());
    return {};
}

}  // namespace

Result<int> landlock_abi() {
    const long abi = ::syscall(kSysCreateRuleset, nullptr, 0, kCreateRulesetVersion);
    if (abi < 0) {
        if (errno == ENOSYS)
            return make_error("sandbox.landlock",
                              "Landlock is not in this kernel (CONFIG_SECURITY_LANDLOCK)");
        if (errno == EOPNOTSUPP)
            return make_error("sandbox.landlock",
                              "Landlock is disabled at boot (add landlock to the lsm= parameter)");
        return landlock_error("Landlock unavailable");
    }
    return static_cast<int>(abi);
}

LandlockPolicy default_landlock_policy(const std::filesystem::path& cwd,
                                       const std::filesystem::path& private_tmp,
                                       const std::filesystem::path& public_dir,
                                       std::vector<std::uint16_t> ports) {
    LandlockPolicy policy;
    policy.read_only = {"/usr",    "/bin", "/sbin", "/lib",  "/lib32", "/lib64",
                        "/libx32", "/etc", "/opt",  "/proc", "/sys"};
    if (!public_dir.empty()) policy.read_only.push_back(public_dir);
    policy.devices = {"/dev"};
    policy.read_write = {cwd, private_tmp};
    policy.connect_ports = std::move(ports);
    return policy;
}

Result<void> apply_landlock(const LandlockPolicy& policy) {
    auto abi = landlock_abi();
    if (!abi.ok()) return abi.error();
    if (*abi < kLandlockMinimumAbi) {
        return make_error("sandbox.landlock",
                          "Landlock ABI " + std::to_string(*abi) +
                              " has no TCP port rules (ABI 4, Linux 6.7, is needed)");
    }
    RulesetAttr attr{};
    attr.handled_access_fs = all_fs_rights(*abi);
    attr.handled_access_net = kBindTcp | kConnectTcp;
    std::size_t size = offsetof(RulesetAttr, scoped);
    if (*abi >= kLandlockScopeAbi) {
        attr.scoped = kScopeAbstractUnix | kScopeSignal;
        size = sizeof attr;
    }
    UniqueFd ruleset(static_cast<int>(::syscall(kSysCreateRuleset, &attr, size, 0)));
    if (!ruleset) return landlock_error("landlock_create_ruleset");
    const std::uint64_t handled = attr.handled_access_fs;
    const std::uint64_t read = kExecute | kReadFile | kReadDir;
    for (const auto& path : policy.read_only) {
        if (auto a = allow_path(ruleset.get(), path, read, handled); !a.ok()) return a;
    }
    for (const auto& path : policy.devices) {
        const std::uint64_t rights = kReadFile | kReadDir | kWriteFile | kTruncate | kIoctlDev;
        if (auto a = allow_path(ruleset.get(), path, rights, handled); !a.ok()) return a;
    }
    for (const auto& path : policy.read_write) {
        // Everything but creating device nodes (bits 6 and 11).
        const std::uint64_t rights = handled & ~((1ull << 6) | (1ull << 11));
        if (auto a = allow_path(ruleset.get(), path, rights, handled); !a.ok()) return a;
    }
    for (const auto port : policy.connect_ports) {
        NetPortAttr net{kConnectTcp, port};
        if (::syscall(kSysAddRule, ruleset.get(), kRuleNetPort, &net, 0) != 0)
            return landlock_error("landlock_add_rule port " + std::to_string(port));
    }
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return landlock_error("no_new_privs");
    if (::syscall(kSysRestrictSelf, ruleset.get(), 0) != 0)
        return landlock_error("landlock_restrict_self");
    return {};
}

}  // namespace cloakroom::sandbox
