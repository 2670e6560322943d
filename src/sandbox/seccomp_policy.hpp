// The system calls the command of a sandbox may not make (docs/sandbox.md, "Seccomp"), as data:
// seccomp_filter.cpp turns the list into a libseccomp filter. Everything not listed is allowed;
// each listed call fails with the errno given (the command sees an ordinary error, not a kill),
// and a call from another architecture's table (x32 numbers, ia32 `int 0x80` and its
// `socketcall`) kills the process.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace cloakroom::sandbox {

enum class ArgOp { Eq, Ge, Gt, MaskedEq };

struct ArgCheck {
    unsigned arg = 0;  // 0-based argument index
    ArgOp op = ArgOp::Eq;
    std::uint64_t value = 0;
    std::uint64_t mask = 0;  // MaskedEq: (arg & mask) == value
};

struct SeccompRule {
    std::string syscall;         // name as libseccomp knows it
    int error = 0;               // errno returned
    std::vector<ArgCheck> when;  // all must hold; empty = always
    std::string why;             // for docs and test messages
};

struct SeccompOptions {
    // netns mode: the command needs nothing but TCP/UDP/unix and route netlink (getaddrinfo).
    bool allow_netlink_route = true;
    // landlock mode: Landlock does not cover UDP, so IPv4/IPv6 datagram sockets are refused
    // (the gateway resolves names; the command needs no DNS of its own).
    bool allow_udp = true;
};

std::vector<SeccompRule> seccomp_rules(const SeccompOptions& options);

}  // namespace cloakroom::sandbox
