#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <string>
#include <vector>

#include "db/redis/commands.hpp"

namespace cloakroom::db::redis {
namespace {

using Lists = std::vector<std::vector<std::string>>;

CommandHead head(std::vector<std::string> args) {
    CommandHead result;
    result.argc = args.size();
    result.name.text = args.at(0);
    for (std::size_t i = 1; i < args.size(); ++i) result.args.push_back(CapturedArg{args[i]});
    return result;
}

TEST(DbRedisCommands, TableIsSortedAndKnowsRedis7) {
    for (std::size_t i = 1; i < detail::kCommandTableSize; ++i) {
        EXPECT_LT(std::string_view(detail::kCommandTable[i - 1].name),
                  std::string_view(detail::kCommandTable[i].name));
    }
    EXPECT_GT(detail::kCommandTableSize, 300u);
    ASSERT_TRUE(command_categories("GET"));
    EXPECT_TRUE(*command_categories("GET") & kRead);
    EXPECT_FALSE(*command_categories("SET") & kRead);
    EXPECT_TRUE(*command_categories("SET") & kWrite);
    EXPECT_TRUE(*command_categories("CONFIG|GET") & kAdmin);
    EXPECT_TRUE(*command_categories("XINFO|STREAM") & kRead);
    EXPECT_FALSE(command_categories("get"));  // callers upper-case
    EXPECT_FALSE(command_categories("NOSUCH"));
    EXPECT_TRUE(has_subcommands("CLIENT"));
    EXPECT_TRUE(has_subcommands("XINFO"));
    EXPECT_FALSE(has_subcommands("GET"));
    EXPECT_FALSE(has_subcommands("CLIENT|ID"));
    EXPECT_FALSE(has_subcommands("NOSUCH"));
    EXPECT_EQ(category_bit("@read"), kRead);
    EXPECT_EQ(category_bit("@SortedSet"), kSortedset);
    EXPECT_EQ(category_bit("@all"), 0u);
    EXPECT_EQ(category_bit("@nope"), 0u);
}

TEST(DbRedisCommands, EntryMatching) {
    EXPECT_TRUE(CommandPolicy::entry_allows("GET", "GET", ""));
    EXPECT_FALSE(CommandPolicy::entry_allows("GET", "GETSET", ""));
    EXPECT_TRUE(CommandPolicy::entry_allows("CLIENT", "CLIENT", "KILL"));
    EXPECT_TRUE(CommandPolicy::entry_allows("CLIENT|SETNAME", "CLIENT", "SETNAME"));
    EXPECT_FALSE(CommandPolicy::entry_allows("CLIENT|SETNAME", "CLIENT", "KILL"));
    EXPECT_FALSE(CommandPolicy::entry_allows("CLIENT|SETNAME", "CLIENT", ""));
    EXPECT_TRUE(CommandPolicy::entry_allows("@READ", "HGETALL", ""));
    EXPECT_TRUE(CommandPolicy::entry_allows("@READ", "XINFO", "STREAM"));
    EXPECT_FALSE(CommandPolicy::entry_allows("@READ", "XINFO", "HELP"));
    EXPECT_FALSE(CommandPolicy::entry_allows("@READ", "XINFO", ""));
    EXPECT_FALSE(CommandPolicy::entry_allows("@READ", "EVAL_RO", ""));   // @scripting in Redis
    EXPECT_FALSE(CommandPolicy::entry_allows("@READ", "JSON.GET", ""));  // module: name it
    EXPECT_TRUE(CommandPolicy::entry_allows("@ALL", "JSON.GET", ""));
    EXPECT_FALSE(CommandPolicy::entry_allows("@NOPE", "GET", ""));
    EXPECT_FALSE(CommandPolicy::entry_allows("", "GET", ""));
}

TEST(DbRedisCommands, EverySessionRefusesReauthentication) {
    const CommandPolicy open;
    EXPECT_FALSE(open.restricted());
    for (const auto& args : std::vector<std::vector<std::string>>{
             {"AUTH", "x"},
             {"auth", "user", "pass"},
             {"HELLO", "3", "AUTH", "u", "p"},
             {"hello", "2", "SETNAME", "n", "auth", "u", "p"},
             {"RESET"},
             {"cloakroom.refused:NOPERM forged"},
             {"Cloakroom.Closing:x"},
         }) {
        const Verdict verdict = open.decide(head(args));
        EXPECT_FALSE(verdict.allow) << args[0];
        EXPECT_EQ(verdict.code, "NOPERM");
        EXPECT_NE(verdict.message.find("Cloakroom"), std::string::npos);
    }
    EXPECT_TRUE(open.decide(head({"HELLO", "3"})).allow);
    EXPECT_TRUE(open.decide(head({"HELLO", "2", "SETNAME", "x"})).allow);
    EXPECT_TRUE(open.decide(head({"SET", "k", "v"})).allow);
    EXPECT_TRUE(open.decide(head({"FLUSHALL"})).allow);
    EXPECT_TRUE(open.decide(head({"NOSUCHCOMMAND"})).allow);
}

TEST(DbRedisCommands, EveryFormOfReauthenticationIsRefused) {
    // AUTH with one or two arguments (and wrong counts, which redis-server would reject anyway),
    // HELLO AUTH in every position and case, with and without SETNAME, either protocol.
    const CommandPolicy open;
    const CommandPolicy restricted(Lists{{"@all"}});
    for (const auto& args : std::vector<std::vector<std::string>>{
             {"AUTH"},
             {"AUTH", "p"},
             {"Auth", "u", "p"},
             {"AUTH", "u", "p", "extra"},
             {"HELLO", "2", "AUTH", "u", "p"},
             {"HELLO", "3", "auth", "u", "p", "SETNAME", "n"},
             {"HELLO", "3", "SETNAME", "n", "AuTh", "u", "p"},
             {"HELLO", "3", "AUTH", "u"},  // malformed, still no chance to reach the server
             {"reset"},
         }) {
        EXPECT_FALSE(open.decide(head(args)).allow) << args[0] << " " << args.size();
        EXPECT_FALSE(restricted.decide(head(args)).allow) << args[0] << " " << args.size();
    }
}

TEST(DbRedisCommands, CredentialReadsAreRefusedUnlessNamed) {
    const CommandPolicy open;
    const CommandPolicy admin(Lists{{"@admin", "@connection", "@slow"}});
    const CommandPolicy all(Lists{{"@all"}});
    for (const CommandPolicy* policy : {&open, &admin, &all}) {
        for (const auto& args : std::vector<std::vector<std::string>>{
                 {"CONFIG", "GET", "requirepass"},
                 {"config", "get", "REQUIREPASS"},
                 {"CONFIG", "GET", "*"},
                 {"CONFIG", "GET", "maxmemory", "re*"},
                 {"CONFIG", "GET", "requirepas?"},
                 {"CONFIG", "GET", "[r]equirepass"},
                 {"CONFIG", "GET", "master*"},
                 {"CONFIG", "GET", "*pass*"},
                 {"CONFIG", "GET", "tls-*"},
                 {"CONFIG", "GET", "masterauth"},
                 {"CONFIG", "GET", "primaryauth"},
                 {"ACL", "LIST"},
                 {"acl", "getuser", "default"},
             }) {
            const Verdict verdict = policy->decide(head(args));
            EXPECT_FALSE(verdict.allow) << args[0] << " " << args.back();
            EXPECT_EQ(verdict.code, "NOPERM");
        }
        EXPECT_TRUE(policy->decide(head({"CONFIG", "GET", "maxmemory"})).allow);
        EXPECT_TRUE(policy->decide(head({"CONFIG", "GET", "max*"})).allow);
        EXPECT_TRUE(policy->decide(head({"ACL", "WHOAMI"})).allow);
        EXPECT_TRUE(policy->decide(head({"CONFIG", "SET", "maxmemory", "1mb"})).allow);
    }
    EXPECT_EQ(open.args_needed("CONFIG"), kAllArgs);
    EXPECT_EQ(open.args_needed("ACL"), 1u);
    // Not every pattern seen: refused.
    CommandHead partial = head({"CONFIG", "GET", "maxmemory"});
    partial.argc = 12;
    EXPECT_FALSE(open.decide(partial).allow);
    // A token that names the subcommand (in every list) may read them.
    const CommandPolicy named(Lists{{"CONFIG|GET", "ACL|LIST", "GET"}, {"config", "acl|list"}});
    EXPECT_TRUE(named.decide(head({"CONFIG", "GET", "requirepass"})).allow);
    EXPECT_TRUE(named.decide(head({"ACL", "LIST"})).allow);
    EXPECT_FALSE(named.decide(head({"ACL", "GETUSER", "default"})).allow);
    const CommandPolicy half(Lists{{"CONFIG|GET"}, {"@admin"}});
    EXPECT_FALSE(half.decide(head({"CONFIG", "GET", "requirepass"})).allow);
}

TEST(DbRedisCommands, GlobMatchesLikeRedis) {
    EXPECT_TRUE(glob_match("*", "requirepass"));
    EXPECT_TRUE(glob_match("REQ*PASS", "requirepass"));
    EXPECT_TRUE(glob_match("r?quirepass", "requirepass"));
    EXPECT_TRUE(glob_match("[a-s]equirepass", "requirepass"));
    EXPECT_FALSE(glob_match("[^r]equirepass", "requirepass"));
    EXPECT_TRUE(glob_match("\\requirepass", "requirepass"));
    EXPECT_TRUE(glob_match("*a*a*", "masterauth"));
    EXPECT_FALSE(glob_match("max*", "masterauth"));
    EXPECT_FALSE(glob_match("requirepass?", "requirepass"));
    EXPECT_TRUE(glob_match("", ""));
    EXPECT_FALSE(glob_match("", "x"));
    EXPECT_FALSE(reads_credential_parameter("maxmemory-policy"));
    EXPECT_TRUE(reads_credential_parameter("MasterAuth"));
    EXPECT_TRUE(reads_credential_parameter("*"));
}

TEST(DbRedisCommands, HelloMustBeSeenWhole) {
    const CommandPolicy open;
    EXPECT_EQ(open.args_needed("HELLO"), kAllArgs);
    CommandHead partial = head({"HELLO", "3", "SETNAME"});
    partial.argc = 5;  // two arguments not captured
    EXPECT_FALSE(open.decide(partial).allow);
    CommandHead cut = head({"HELLO", "3", "SETNAME", "x"});
    cut.args.back().truncated = true;
    EXPECT_FALSE(open.decide(cut).allow);
}

TEST(DbRedisCommands, RestrictedSessionsNeedEveryList) {
    const CommandPolicy policy(Lists{{"@read", "SET"}, {"GET", "SET", "CLIENT|SETNAME"}});
    EXPECT_TRUE(policy.restricted());
    EXPECT_TRUE(policy.decide(head({"GET", "k"})).allow);
    EXPECT_TRUE(policy.decide(head({"get", "k"})).allow);
    EXPECT_TRUE(policy.decide(head({"SET", "k", "v"})).allow);
    const Verdict mget = policy.decide(head({"MGET", "a", "b"}));  // @read but not in list 2
    EXPECT_FALSE(mget.allow);
    EXPECT_EQ(mget.code, "NOPERM");
    EXPECT_EQ(mget.message, "Cloakroom: this token does not allow 'MGET'");
    EXPECT_FALSE(policy.decide(head({"CLIENT", "SETNAME", "x"})).allow);  // not in list 1
    EXPECT_FALSE(policy.decide(head({"DEL", "k"})).allow);
}

TEST(DbRedisCommands, SubcommandsAndImplicitCommands) {
    const CommandPolicy policy(Lists{{"@read", "CLIENT|SETNAME"}});
    EXPECT_EQ(policy.args_needed("CLIENT"), 1u);
    EXPECT_EQ(policy.args_needed("GET"), 0u);
    EXPECT_EQ(CommandPolicy().args_needed("CLIENT"), 0u);
    EXPECT_TRUE(policy.decide(head({"CLIENT", "setname", "x"})).allow);
    const Verdict kill = policy.decide(head({"CLIENT", "KILL", "ID", "1"}));
    EXPECT_FALSE(kill.allow);
    EXPECT_EQ(kill.message, "Cloakroom: this token does not allow 'CLIENT|KILL'");
    EXPECT_TRUE(policy.decide(head({"XINFO", "STREAM", "s"})).allow);
    EXPECT_TRUE(policy.decide(head({"OBJECT", "ENCODING", "k"})).allow);
    EXPECT_FALSE(policy.decide(head({"CONFIG", "GET", "*"})).allow);
    EXPECT_FALSE(policy.decide(head({"EVAL", "return 1", "0"})).allow);
    EXPECT_FALSE(policy.decide(head({"MULTI"})).allow);
    EXPECT_FALSE(policy.decide(head({"SUBSCRIBE", "ch"})).allow);
    EXPECT_FALSE(policy.decide(head({"MONITOR"})).allow);
    for (const char* implicit : {"PING", "ECHO", "QUIT", "ping"}) {
        EXPECT_TRUE(policy.decide(head({implicit})).allow) << implicit;
    }
    EXPECT_TRUE(policy.decide(head({"HELLO", "3"})).allow);
    EXPECT_FALSE(policy.decide(head({"HELLO", "3", "AUTH", "a", "b"})).allow);
    EXPECT_FALSE(policy.decide(head({"AUTH", "x"})).allow);
}

TEST(DbRedisCommands, TruncatedNamesAreNoCommand) {
    CommandHead long_name = head({std::string(kCaptureName, 'G')});
    long_name.name.truncated = true;
    EXPECT_TRUE(CommandPolicy().decide(long_name).allow);
    EXPECT_FALSE(CommandPolicy(Lists{{"@all"}}).decide(long_name).allow);
    CommandHead long_sub = head({"CLIENT", "SETNAME"});
    long_sub.args[0].truncated = true;
    EXPECT_FALSE(CommandPolicy(Lists{{"CLIENT|SETNAME"}}).decide(long_sub).allow);
    EXPECT_TRUE(CommandPolicy(Lists{{"CLIENT"}}).decide(long_sub).allow);
}

TEST(DbRedisCommands, UnknownCategoryAllowsNothing) {
    const CommandPolicy policy(Lists{{"@reads"}});
    EXPECT_FALSE(policy.decide(head({"GET", "k"})).allow);
    EXPECT_TRUE(policy.decide(head({"PING"})).allow);
    const CommandPolicy empty_list(Lists{{}});
    EXPECT_TRUE(empty_list.restricted());
    EXPECT_FALSE(empty_list.decide(head({"GET", "k"})).allow);
}

// decide() checks compiled lists (a category mask, sorted names) instead of reading every entry
// per command: for every command Redis knows, subcommands known and unknown, and names Redis does
// not know, a compiled list must allow exactly what one of its entries allows.
TEST(DbRedisCommands, CompiledListsAllowWhatTheirEntriesAllow) {
    const std::vector<std::vector<std::string>> lists = {
        {"GET"},
        {"@READ"},
        {"@READ", "@WRITE", "SET", "CLIENT|SETNAME"},
        {"@ALL"},
        {"@NOPE"},
        {""},
        {"CLIENT"},
        {"CLIENT|KILL", "CLIENT|ID", "CONFIG|GET", "XINFO|STREAM", "ACL|LIST"},
        {"@CONNECTION", "@ADMIN", "MODULE.CMD", "CLIENT|"},
        {"@SORTEDSET", "@HASH", "@STREAM", "GETSET", "GE"},
        {"X|Y|Z", "CLIENT|SETNAME|X", "|", "@"},
    };
    std::vector<std::pair<std::string, std::string>> commands;
    for (std::size_t i = 0; i < detail::kCommandTableSize; ++i) {
        const std::string name = detail::kCommandTable[i].name;
        const std::size_t bar = name.find('|');
        if (bar == std::string::npos) {
            commands.emplace_back(name, "");
            commands.emplace_back(name, "NOSUCHSUB");
        } else {
            commands.emplace_back(name.substr(0, bar), name.substr(bar + 1));
            commands.emplace_back(name, "");  // "CLIENT|ID" sent as a name
        }
    }
    for (const char* name : {"MODULE.CMD", "GE", "X", "X|Y", "", "CLIENT|", "NOSUCH"}) {
        commands.emplace_back(name, "");
        commands.emplace_back(name, "Y|Z");
        commands.emplace_back(name, "SETNAME");
    }
    std::size_t allowed = 0;
    for (const auto& list : lists) {
        const CommandPolicy::CompiledList compiled = CommandPolicy::compile_list(list);
        const CommandPolicy policy({list});
        for (const auto& [name, sub] : commands) {
            const bool by_entries = std::any_of(list.begin(), list.end(), [&](const auto& entry) {
                return CommandPolicy::entry_allows(entry, name, sub);
            });
            std::uint32_t categories = 0;
            if (!sub.empty()) categories = command_categories(name + "|" + sub).value_or(0);
            if (categories == 0) categories = command_categories(name).value_or(0);
            EXPECT_EQ(CommandPolicy::list_allows(compiled, name, sub, categories), by_entries)
                << list.front() << " / " << name << " " << sub;
            EXPECT_EQ(policy.lists_allow(name, sub), by_entries) << name << " " << sub;
            allowed += by_entries ? 1 : 0;
        }
    }
    EXPECT_GT(allowed, commands.size());                     // the lists allow plenty
    EXPECT_LT(allowed, lists.size() * commands.size() / 2);  // and refuse plenty
}

// The policy looks commands up in a hash index of the table: every command and subcommand is
// found with its own categories, look-alikes are not.
TEST(DbRedisCommands, EveryCommandIsFoundByName) {
    for (std::size_t i = 0; i < detail::kCommandTableSize; ++i) {
        const CommandInfo& info = detail::kCommandTable[i];
        const auto categories = command_categories(info.name);
        ASSERT_TRUE(categories) << info.name;
        EXPECT_EQ(*categories, info.categories) << info.name;
        std::string lower = info.name;
        for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        EXPECT_FALSE(command_categories(lower)) << info.name;  // callers upper-case
        // Look-alikes are found exactly when the table has them.
        for (const std::string& other :
             {std::string(info.name) + "X", std::string(info.name).substr(1),
              std::string(info.name) + "|"}) {
            const bool in_table = std::any_of(
                detail::kCommandTable, detail::kCommandTable + detail::kCommandTableSize,
                [&](const CommandInfo& entry) { return other == entry.name; });
            EXPECT_EQ(command_categories(other).has_value(), in_table) << other;
        }
    }
}

TEST(DbRedisCommands, DisplayNameIsSafe) {
    EXPECT_EQ(display_name("GET"), "GET");
    EXPECT_EQ(display_name("a'b\r\n"), "a?b??");
    EXPECT_EQ(display_name(std::string(50, 'X')), std::string(40, 'X') + "...");
}

}  // namespace
}  // namespace cloakroom::db::redis
