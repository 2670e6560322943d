#include <gtest/gtest.h>

#include <algorithm>

#include "sandbox/landlock.hpp"

namespace cloakroom::sandbox {
namespace {

namespace fs = std::filesystem;

bool has(const std::vector<fs::path>& list, const fs::path& p) {
    return std::find(list.begin(), list.end(), p) != list.end();
}

TEST(SandboxLandlock, DefaultPolicyIsANarrowAllowList) {
    const auto policy =
        default_landlock_policy("/work/project", "/tmp/cloakroom-run-x", "/d/public", {3128});
    EXPECT_EQ(policy.read_write, (std::vector<fs::path>{"/work/project", "/tmp/cloakroom-run-x"}));
    for (const char* p : {"/usr", "/etc", "/lib", "/bin", "/d/public"}) {
        EXPECT_TRUE(has(policy.read_only, p)) << p;
    }
    // Never $HOME, /tmp as a whole, /home or /root.
    for (const char* p : {"/", "/home", "/root", "/tmp", "/var"}) {
        EXPECT_FALSE(has(policy.read_only, p)) << p;
        EXPECT_FALSE(has(policy.read_write, p)) << p;
    }
    EXPECT_EQ(policy.connect_ports, std::vector<std::uint16_t>{3128});
    EXPECT_EQ(policy.devices, std::vector<fs::path>{"/dev"});
}

}  // namespace
}  // namespace cloakroom::sandbox
