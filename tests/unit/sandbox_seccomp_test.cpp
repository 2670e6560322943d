#include <gtest/gtest.h>

#include <sys/socket.h>

#include <algorithm>

#include "sandbox/seccomp_filter.hpp"
#include "sandbox/seccomp_policy.hpp"

namespace cloakroom::sandbox {
namespace {

bool refused_always(const std::vector<SeccompRule>& rules, const std::string& name) {
    return std::any_of(rules.begin(), rules.end(),
                       [&](const auto& r) { return r.syscall == name && r.when.empty(); });
}

bool has_socket_rule(const std::vector<SeccompRule>& rules, std::uint64_t family) {
    return std::any_of(rules.begin(), rules.end(), [&](const SeccompRule& r) {
        return r.syscall == "socket" && r.when.size() == 1 && r.when[0].arg == 0 &&
               r.when[0].op == ArgOp::Eq && r.when[0].value == family;
    });
}

TEST(SandboxSeccomp, RefusesTheListedInterfaces) {
    const auto rules = seccomp_rules({});
    for (const char* name :
         {"io_uring_setup", "io_uring_enter", "ptrace", "process_vm_readv", "keyctl", "bpf",
          "perf_event_open", "unshare", "setns", "mount", "umount2", "pivot_root",
          "open_by_handle_at", "fsopen", "move_mount", "clone3"}) {
        EXPECT_TRUE(refused_always(rules, name)) << name;
    }
    EXPECT_FALSE(refused_always(rules, "clone"));  // only with namespace flags
    EXPECT_FALSE(refused_always(rules, "socket"));
}

TEST(SandboxSeccomp, SocketFamiliesAllowList) {
    const auto rules = seccomp_rules({});
    for (std::uint64_t bad : {AF_PACKET, AF_BLUETOOTH, AF_ALG, AF_VSOCK, AF_XDP, AF_KEY, 0}) {
        EXPECT_TRUE(has_socket_rule(rules, static_cast<std::uint64_t>(bad))) << bad;
    }
    for (std::uint64_t good : {AF_UNIX, AF_INET, AF_INET6, AF_NETLINK}) {
        EXPECT_FALSE(has_socket_rule(rules, good)) << good;
    }
    SeccompOptions strict;
    strict.allow_netlink_route = false;
    EXPECT_TRUE(has_socket_rule(seccomp_rules(strict), AF_NETLINK));
}

TEST(SandboxSeccomp, CloneWithEveryNamespaceFlagIsRefused) {
    const auto rules = seccomp_rules({});
    for (std::uint64_t flag : {0x10000000ull /* NEWUSER */, 0x40000000ull /* NEWNET */,
                               0x00020000ull /* NEWNS */, 0x20000000ull /* NEWPID */}) {
        EXPECT_TRUE(std::any_of(rules.begin(), rules.end(), [&](const SeccompRule& r) {
            return r.syscall == "clone" && r.when.size() == 1 && r.when[0].op == ArgOp::MaskedEq &&
                   r.when[0].mask == flag && r.when[0].value == flag;
        })) << flag;
    }
}

TEST(SandboxSeccomp, TiocstiAndRawSockets) {
    const auto rules = seccomp_rules({});
    EXPECT_TRUE(std::any_of(rules.begin(), rules.end(), [](const SeccompRule& r) {
        return r.syscall == "ioctl" && r.why.find("TIOCSTI") != std::string::npos;
    }));
    EXPECT_TRUE(std::any_of(rules.begin(), rules.end(), [](const SeccompRule& r) {
        return r.syscall == "socket" && r.when.size() == 2 && r.when[1].op == ArgOp::MaskedEq &&
               r.when[1].value == SOCK_RAW;
    }));
}

// The compiled filter: native architecture only (anything else is killed), x32 numbers
// refused, the rules resolved by libseccomp without error.
TEST(SandboxSeccomp, CompiledFilterChecksTheArchitecture) {
    auto pfc = seccomp_pseudo_code({});
    ASSERT_TRUE(pfc.ok()) << pfc.error().message;
    EXPECT_NE(pfc->find("if ($arch == 3221225534)"), std::string::npos) << *pfc;  // x86_64
    EXPECT_EQ(pfc->find("1073741827"), std::string::npos);  // no ia32 section (AUDIT_ARCH_I386)
    EXPECT_NE(pfc->find("# filter for syscall \"io_uring_setup\""), std::string::npos);

    auto program = seccomp_bpf_program({});
    ASSERT_TRUE(program.ok()) << program.error().message;
    const auto& p = *program;
    ASSERT_GE(p.size(), 5u);
    constexpr std::uint32_t kKillProcess = 0x80000000u;  // SECCOMP_RET_KILL_PROCESS
    auto target = [&](std::size_t i, std::uint8_t offset) { return p.at(i + 1 + offset); };
    // ld arch; jeq x86_64 else -> kill the process.
    EXPECT_EQ(p[0].code, 0x20);
    EXPECT_EQ(p[0].k, 4u);  // offsetof(seccomp_data, arch)
    EXPECT_EQ(p[1].code, 0x15);
    EXPECT_EQ(p[1].k, 0xc000003eu);
    EXPECT_EQ(target(1, p[1].jf).code, 0x06);
    EXPECT_EQ(target(1, p[1].jf).k, kKillProcess);
    // ld nr; jge __X32_SYSCALL_BIT -> (unless -1) kill the process.
    EXPECT_EQ(p[2].code, 0x20);
    EXPECT_EQ(p[2].k, 0u);
    EXPECT_EQ(p[3].code, 0x35);
    EXPECT_EQ(p[3].k, 0x40000000u);
    const std::size_t x32 = 3 + 1 + p[3].jt;
    EXPECT_EQ(p[x32].code, 0x15);
    EXPECT_EQ(p[x32].k, 0xffffffffu);
    EXPECT_EQ(target(x32, p[x32].jf).k, kKillProcess);
}

}  // namespace
}  // namespace cloakroom::sandbox

namespace cloakroom::sandbox {
namespace {

TEST(SandboxSeccomp, LandlockModeRefusesUdp) {
    auto udp_rule = [](const SeccompRule& r) {
        return r.syscall == "socket" && r.when.size() == 2 && r.when[1].op == ArgOp::MaskedEq &&
               r.when[1].value == SOCK_DGRAM;
    };
    const auto netns = seccomp_rules({});
    EXPECT_FALSE(std::any_of(netns.begin(), netns.end(), udp_rule));  // DNS goes via nftables
    SeccompOptions landlock;
    landlock.allow_udp = false;
    const auto rules = seccomp_rules(landlock);
    EXPECT_EQ(std::count_if(rules.begin(), rules.end(), udp_rule), 2);  // IPv4 and IPv6
}

}  // namespace
}  // namespace cloakroom::sandbox
