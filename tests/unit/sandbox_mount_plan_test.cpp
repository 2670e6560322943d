#include <gtest/gtest.h>

#include <algorithm>

#include "sandbox/mount_plan.hpp"

namespace cloakroom::sandbox {
namespace {

namespace fs = std::filesystem;

bool contains(const std::vector<fs::path>& list, const fs::path& p) {
    return std::find(list.begin(), list.end(), p) != list.end();
}

MountInputs inputs() {
    MountInputs in;
    in.home = "/home/u";
    in.cwd = "/home/u/project";
    in.cloakroom_paths = {"/home/u/.config/cloakroom", "/home/u/.local/share/cloakroom",
                          "/home/u/.local/share/cloakroom/keys", "/srv/secrets/stripe"};
    in.extra_hidden = {"/tmp/ssh-XYZ/agent.1", "relative/ignored"};
    return in;
}

TEST(SandboxMountPlan, HidesCloakroomAndCredentialStores) {
    auto plan = plan_mounts(inputs());
    ASSERT_TRUE(plan.ok()) << plan.error().message;
    for (const char* p :
         {"/home/u/.config/cloakroom", "/home/u/.local/share/cloakroom", "/srv/secrets/stripe",
          "/home/u/.ssh", "/home/u/.aws", "/home/u/.config/gh", "/home/u/.netrc",
          "/home/u/.git-credentials", "/home/u/.docker", "/home/u/.kube", "/home/u/.gnupg",
          "/home/u/.mozilla", "/home/u/.config/google-chrome", "/tmp/ssh-XYZ/agent.1"}) {
        EXPECT_TRUE(contains(plan->hidden, p)) << p;
    }
    // Nested entries collapse into the outermost; relative ones are ignored.
    EXPECT_FALSE(contains(plan->hidden, "/home/u/.local/share/cloakroom/keys"));
    EXPECT_FALSE(contains(plan->hidden, "relative/ignored"));
    EXPECT_TRUE(std::is_sorted(plan->hidden.begin(), plan->hidden.end()));
}

TEST(SandboxMountPlan, WorkingDirectoryWritableHostCodeReadOnly) {
    auto plan = plan_mounts(inputs());
    ASSERT_TRUE(plan.ok());
    EXPECT_EQ(plan->writable, std::vector<fs::path>{"/home/u/project"});
    for (const char* p :
         {"/home/u/project/.git/hooks", "/home/u/project/.git/config", "/home/u/project/.envrc",
          "/home/u/project/.vscode", "/home/u/project/.mcp.json"}) {
        EXPECT_TRUE(contains(plan->read_only, p)) << p;
    }
    EXPECT_TRUE(contains(plan->private_tmp, "/tmp"));
    EXPECT_TRUE(contains(plan->private_tmp, "/dev/shm"));
    EXPECT_EQ(plan->run_dir, "/run");
}

TEST(SandboxMountPlan, HomeAsWorkingDirectoryKeepsShellStartupFilesReadOnly) {
    auto in = inputs();
    in.cwd = "/home/u";
    auto plan = plan_mounts(in);
    ASSERT_TRUE(plan.ok());
    EXPECT_TRUE(contains(plan->read_only, "/home/u/.bashrc"));
    EXPECT_TRUE(contains(plan->hidden, "/home/u/.ssh"));
}

TEST(SandboxMountPlan, RefusesAWorkingDirectoryInsideAHiddenPath) {
    for (const char* cwd :
         {"/home/u/.ssh", "/home/u/.config/cloakroom/secrets", "/home/u/.local/share/cloakroom"}) {
        auto in = inputs();
        in.cwd = cwd;
        auto plan = plan_mounts(in);
        ASSERT_FALSE(plan.ok()) << cwd;
        EXPECT_EQ(plan.error().code, "sandbox.cwd");
    }
    // A sibling whose name merely starts the same is fine.
    auto in = inputs();
    in.cwd = "/home/u/.sshfoo";
    EXPECT_TRUE(plan_mounts(in).ok());
    in.cwd = "relative";
    EXPECT_FALSE(plan_mounts(in).ok());
}

TEST(SandboxMountPlan, ProfileWritablePathsFollowTheWorkingDirectory) {
    auto in = inputs();
    in.extra_writable = {"/home/u/.claude", "/home/u/.claude.json", "/home/u/.claude/"};
    auto plan = plan_mounts(in);
    ASSERT_TRUE(plan.ok()) << plan.error().message;
    ASSERT_EQ(plan->writable.size(), 3u);
    EXPECT_EQ(plan->writable[0], "/home/u/project");  // the launcher chdirs to the first
    EXPECT_EQ(plan->writable[1], "/home/u/.claude");
    EXPECT_EQ(plan->writable[2], "/home/u/.claude.json");
}

TEST(SandboxMountPlan, WritablePathInsideAHiddenOneIsRefused) {
    for (const char* bad : {"/home/u/.ssh", "/home/u/.ssh/keys", "/home/u/.config/cloakroom/x"}) {
        auto in = inputs();
        in.extra_writable = {bad};
        auto plan = plan_mounts(in);
        ASSERT_FALSE(plan.ok()) << bad;
        EXPECT_EQ(plan.error().code, "sandbox.writable") << bad;
    }
    auto in = inputs();
    in.extra_writable = {"relative"};
    EXPECT_FALSE(plan_mounts(in).ok());
}

TEST(SandboxMountPlan, WritableHomeKeepsShellStartupFilesReadOnlyAndStoresHidden) {
    auto in = inputs();
    in.cwd = "/srv/project";
    in.extra_writable = {"/home/u"};
    auto plan = plan_mounts(in);
    ASSERT_TRUE(plan.ok()) << plan.error().message;
    EXPECT_TRUE(contains(plan->read_only, "/home/u/.bashrc"));
    EXPECT_TRUE(contains(plan->hidden, "/home/u/.ssh"));  // mounted over the writable bind
}

}  // namespace
}  // namespace cloakroom::sandbox
