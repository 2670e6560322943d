// Profile resolution (config/profile.hpp): extends chains, list merging, built-ins, cycles and
// unknown parents; and the [profile.NAME] / agent-creds [sandbox] parsing that feeds it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/config.hpp"
#include "config/profile.hpp"

namespace cloakroom::config {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;
using Strings = std::vector<std::string>;

ProfileSpec spec(std::string name, std::optional<std::string> extends = std::nullopt) {
    ProfileSpec p;
    p.name = std::move(name);
    p.extends = std::move(extends);
    p.where = SourceLocation{"cloakroom.toml", 7};
    return p;
}

Profile resolved(std::string_view name, const std::vector<ProfileSpec>& user) {
    auto r = resolve_profile(name, user);
    EXPECT_TRUE(r.ok()) << r.error().message;
    return r.ok() ? *r : Profile{};
}

TEST(ProfileResolve, AbsentListInheritsWrittenListMergesEmptyListClears) {
    auto base = spec("base");
    base.allowed_hosts = Strings{"a.example", "b.example"};
    base.writable_paths = Strings{"~/.base"};
    base.hidden_paths = Strings{"~/.secret"};
    base.services = Strings{"stripe"};
    auto child = spec("child", "base");
    child.allowed_hosts = Strings{"b.example", "c.example"};  // merged, no duplicate
    child.writable_paths = Strings{};                         // cleared
    // hidden_paths and services absent: inherited
    auto p = resolved("child", {base, child});
    EXPECT_THAT(p.allowed_hosts, ElementsAre("a.example", "b.example", "c.example"));
    EXPECT_THAT(p.writable_paths, IsEmpty());
    EXPECT_THAT(p.hidden_paths, ElementsAre("~/.secret"));
    ASSERT_TRUE(p.services.has_value());
    EXPECT_THAT(*p.services, ElementsAre("stripe"));
    EXPECT_THAT(p.chain, ElementsAre("child", "base"));
    EXPECT_FALSE(p.builtin);
}

TEST(ProfileResolve, ClearedListCanBeRefilledFurtherDown) {
    auto a = spec("a");
    a.allowed_hosts = Strings{"a.example"};
    auto b = spec("b", "a");
    b.allowed_hosts = Strings{};
    auto c = spec("c", "b");
    c.allowed_hosts = Strings{"c.example"};
    EXPECT_THAT(resolved("c", {a, b, c}).allowed_hosts, ElementsAre("c.example"));
}

TEST(ProfileResolve, ServicesStayUnsetWhenNoProfileWritesThem) {
    auto p = resolved("solo", {spec("solo")});
    EXPECT_FALSE(p.services.has_value());  // the session then gets every configured service
    auto cleared = spec("none");
    cleared.services = Strings{};
    auto q = resolved("none", {cleared});
    ASSERT_TRUE(q.services.has_value());
    EXPECT_THAT(*q.services, IsEmpty());
}

TEST(ProfileResolve, ScalarsNearestWins) {
    auto a = spec("a");
    a.contain = "landlock";
    a.valid_for = std::chrono::seconds(3600);
    auto b = spec("b", "a");
    b.valid_for = std::chrono::seconds(60);
    auto p = resolved("b", {a, b});
    EXPECT_EQ(p.contain, "landlock");
    EXPECT_EQ(p.valid_for, std::chrono::seconds(60));
}

TEST(ProfileResolve, BuiltinsForTheCommonAgents) {
    for (const auto& [name, api, state] :
         std::vector<std::tuple<std::string, std::string, std::string>>{
             {"claude", "api.anthropic.com", "~/.claude"},
             {"codex", "api.openai.com", "~/.codex"},
             {"gemini", "generativelanguage.googleapis.com", "~/.gemini"},
             {"opencode", "api.anthropic.com", "~/.config/opencode"}}) {
        auto p = resolved(name, {});
        EXPECT_TRUE(p.builtin) << name;
        ASSERT_TRUE(p.services.has_value()) << name;
        EXPECT_THAT(*p.services, Contains(api)) << name;
        EXPECT_THAT(p.writable_paths, Contains(state)) << name;
        EXPECT_THAT(p.allowed_hosts, Contains("registry.npmjs.org")) << name;
    }
}

TEST(ProfileResolve, UserProfileExtendsABuiltin) {
    auto mine = spec("mine", "claude");
    mine.allowed_hosts = Strings{"internal.example"};
    mine.writable_paths = Strings{};
    auto p = resolved("mine", {mine});
    EXPECT_THAT(p.chain, ElementsAre("mine", "claude"));
    EXPECT_THAT(p.allowed_hosts, Contains("registry.npmjs.org"));
    EXPECT_THAT(p.allowed_hosts, Contains("internal.example"));
    EXPECT_THAT(p.writable_paths, IsEmpty());
    EXPECT_THAT(*p.services, ElementsAre("api.anthropic.com"));
}

TEST(ProfileResolve, UserProfileShadowsTheBuiltinAndExtendingItsOwnNameMeansTheBuiltin) {
    auto claude = spec("claude", "claude");
    claude.allowed_hosts = Strings{"extra.example"};
    auto p = resolved("claude", {claude});
    EXPECT_FALSE(p.builtin);
    EXPECT_THAT(p.chain, ElementsAre("claude", "claude"));
    EXPECT_THAT(p.allowed_hosts, Contains("statsig.anthropic.com"));
    EXPECT_THAT(p.allowed_hosts, Contains("extra.example"));
    auto replaced = spec("codex");  // no extends: the built-in is not used at all
    EXPECT_FALSE(resolved("codex", {replaced}).services.has_value());
}

TEST(ProfileResolve, CycleIsAnErrorThatSpellsOutTheChain) {
    auto a = spec("a", "b");
    auto b = spec("b", "c");
    auto c = spec("c", "a");
    auto r = resolve_profile("a", {a, b, c});
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, "profile.cycle");
    EXPECT_THAT(r.error().message,
                HasSubstr("\"a\" (cloakroom.toml:7) extends \"b\" (cloakroom.toml:7) extends "
                          "\"c\" (cloakroom.toml:7) extends \"a\""));
    auto self = spec("self", "x");
    auto x = spec("x", "x2");
    auto x2 = spec("x2", "x");  // a cycle further up the chain names only its members
    auto r2 = resolve_profile("self", {self, x, x2});
    ASSERT_FALSE(r2.ok());
    EXPECT_EQ(r2.error().code, "profile.cycle");
    EXPECT_THAT(r2.error().message, ::testing::Not(HasSubstr("\"self\"")));
}

TEST(ProfileResolve, UnknownParentAndUnknownNameAreErrorsListingTheKnownOnes) {
    auto a = spec("a", "nope");
    auto r = resolve_profile("a", {a});
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, "profile.parent");
    EXPECT_THAT(r.error().message, HasSubstr("\"a\" (cloakroom.toml:7) extends \"nope\""));
    EXPECT_THAT(r.error().message, HasSubstr("known: a, claude, codex, gemini, opencode"));
    auto unknown = resolve_profile("zzz", {});
    ASSERT_FALSE(unknown.ok());
    EXPECT_EQ(unknown.error().code, "profile.unknown");
    EXPECT_THAT(unknown.error().message, HasSubstr("\"zzz\""));
}

TEST(ProfileResolve, ExpandHome) {
    EXPECT_EQ(expand_home("~/.claude", "/home/a"), "/home/a/.claude");
    EXPECT_EQ(expand_home("~", "/home/a/"), "/home/a/");
    EXPECT_EQ(expand_home("~/x", "/home/a/"), "/home/a/x");
    EXPECT_EQ(expand_home("/abs", "/home/a"), "/abs");
    EXPECT_EQ(expand_home("~other/x", "/home/a"), "~other/x");
}

// ---- parsing ----

Environment test_env() {
    return Environment(Environment::Variables{{"HOME", "/home/agent"}});
}

TEST(ProfileParse, ProfileTablesLoadWithEveryField) {
    auto config = parse_config_string(R"(
[profile.mine]
extends = "claude"
services = ["stripe"]
hidden_paths = ["~/.private", "/srv/keys"]
writable_paths = ["~/.cache/mine"]
allowed_hosts = ["Registry.Example.com"]
contain = "netns"
valid_for = "2h"

[profile.bare]
)",
                                      "cloakroom.toml", test_env());
    ASSERT_TRUE(config.ok()) << config.error().message;
    ASSERT_EQ(config->profiles.size(), 2u);
    // toml++ keeps a table's keys sorted: "bare" comes first.
    ASSERT_EQ(config->profiles[1].name, "mine");
    const auto& p = config->profiles[1];
    EXPECT_EQ(p.extends, "claude");
    EXPECT_THAT(*p.services, ElementsAre("stripe"));
    EXPECT_THAT(*p.hidden_paths, ElementsAre("~/.private", "/srv/keys"));
    EXPECT_THAT(*p.writable_paths, ElementsAre("~/.cache/mine"));
    EXPECT_THAT(*p.allowed_hosts, ElementsAre("registry.example.com"));
    EXPECT_EQ(p.contain, "netns");
    EXPECT_EQ(p.valid_for, std::chrono::seconds(7200));
    EXPECT_EQ(p.where.line, 2u);
    EXPECT_FALSE(config->profiles[0].services.has_value());
}

TEST(ProfileParse, BadFieldsAreReportedWithTheirLine) {
    auto config = parse_config_string(R"([profile.bad]
contain = "docker"
writable_paths = ["relative/dir"]
valid_for = "soon"
colour = "blue"
)",
                                      "cloakroom.toml", test_env());
    ASSERT_FALSE(config.ok());
    const auto& m = config.error().message;
    EXPECT_THAT(m, HasSubstr("cloakroom.toml:2"));
    EXPECT_THAT(m, HasSubstr("contain \"docker\" is not one of auto, netns, landlock"));
    EXPECT_THAT(m, HasSubstr("\"relative/dir\" must be an absolute path or start with ~/"));
    EXPECT_THAT(m, HasSubstr("valid_for"));
    EXPECT_THAT(m, HasSubstr("colour"));
}

TEST(ProfileParse, CyclesAndUnknownParentsFailTheLoad) {
    auto cycle = parse_config_string("[profile.a]\nextends = \"b\"\n[profile.b]\nextends = \"a\"\n",
                                     "cloakroom.toml", test_env());
    ASSERT_FALSE(cycle.ok());
    EXPECT_THAT(cycle.error().message, HasSubstr("profile extends cycle"));
    EXPECT_THAT(cycle.error().message, HasSubstr("cloakroom.toml:1"));
    auto parent =
        parse_config_string("[profile.a]\nextends = \"ghost\"\n", "cloakroom.toml", test_env());
    ASSERT_FALSE(parent.ok());
    EXPECT_THAT(parent.error().message, HasSubstr("extends \"ghost\", which is neither"));
}

TEST(ProfileParse, AgentCredsSandboxIsAProfileOfItsUpstreams) {
    auto config = parse_config_string(R"([sandbox]
name = "myproject"
image = "ignored"

[upstream."api.anthropic.com"]
[upstream."Claude.AI"]
)",
                                      "agent-creds.toml", test_env());
    ASSERT_TRUE(config.ok()) << config.error().message;
    ASSERT_EQ(config->profiles.size(), 1u);
    EXPECT_EQ(config->profiles[0].name, "myproject");
    // toml++ keeps a table's keys sorted; the order does not matter to a session.
    EXPECT_THAT(*config->profiles[0].services,
                UnorderedElementsAre("api.anthropic.com", "claude.ai"));
    auto p = resolved("myproject", config->profiles);
    EXPECT_THAT(*p.services, UnorderedElementsAre("api.anthropic.com", "claude.ai"));
}

TEST(ProfileParse, AgentCredsSandboxWithoutAUsableNameStillLoads) {
    for (const char* sandbox : {"[sandbox]\nimage = \"x\"\n", "[sandbox]\nname = \"my project\"\n",
                                "[sandbox]\nname = 3\n"}) {
        auto config = parse_config_string(std::string(sandbox) + "[upstream.\"a.example\"]\n",
                                          "agent-creds.toml", test_env());
        ASSERT_TRUE(config.ok()) << sandbox << config.error().message;
        EXPECT_THAT(config->profiles, IsEmpty()) << sandbox;
        EXPECT_THAT(config->allowed_hosts, ElementsAre("a.example"));
    }
}

TEST(ProfileParse, ARepeatedTableInOneFileIsASyntaxError) {
    // Across files (config_load_test.cpp, OneProfileDefinedInTwoFilesNamesBoth) it is reported
    // by the loader.
    auto config = parse_config_string("[profile.a]\n[profile.a]\n", "cloakroom.toml", test_env());
    ASSERT_FALSE(config.ok());
}

}  // namespace
}  // namespace cloakroom::config
