#include "db/redis/commands.hpp"

#include <algorithm>
#include <cstring>

#include "db/redis/resp.hpp"

namespace cloakroom::db::redis {
namespace {

const CommandInfo* find_command(std::string_view upper_name) {
    const CommandInfo* begin = detail::kCommandTable;
    const CommandInfo* end = begin + detail::kCommandTableSize;
    const CommandInfo* found =
        std::lower_bound(begin, end, upper_name, [](const CommandInfo& info, std::string_view key) {
            return std::string_view(info.name) < key;
        });
    if (found == end || std::string_view(found->name) != upper_name) return nullptr;
    return found;
}

struct NamedCategory {
    const char* name;
    std::uint32_t bit;
};
constexpr NamedCategory kCategories[] = {
    {"@READ", kRead},
    {"@WRITE", kWrite},
    {"@KEYSPACE", kKeyspace},
    {"@STRING", kString},
    {"@LIST", kList},
    {"@SET", kSet},
    {"@SORTEDSET", kSortedset},
    {"@HASH", kHash},
    {"@STREAM", kStream},
    {"@BITMAP", kBitmap},
    {"@HYPERLOGLOG", kHyperloglog},
    {"@GEO", kGeo},
    {"@PUBSUB", kPubsub},
    {"@SCRIPTING", kScripting},
    {"@TRANSACTION", kTransaction},
    {"@CONNECTION", kConnection},
    {"@FAST", kFast},
    {"@SLOW", kSlow},
    {"@ADMIN", kAdmin},
    {"@DANGEROUS", kDangerous},
    {"@BLOCKING", kBlocking},
};

Verdict refuse(std::string message) {
    return Verdict{false, "NOPERM", std::move(message)};
}

}  // namespace

std::optional<std::uint32_t> command_categories(std::string_view upper_name) {
    const CommandInfo* info = find_command(upper_name);
    if (info == nullptr) return std::nullopt;
    return info->categories;
}

bool has_subcommands(std::string_view upper_name) {
    if (upper_name.find('|') != std::string_view::npos) return false;
    const CommandInfo* begin = detail::kCommandTable;
    const CommandInfo* end = begin + detail::kCommandTableSize;
    const CommandInfo* info = find_command(upper_name);
    if (info == nullptr || info + 1 == end) return false;
    const std::string_view next(info[1].name);
    return next.size() > upper_name.size() && next.substr(0, upper_name.size()) == upper_name &&
           next[upper_name.size()] == '|';
}

std::uint32_t category_bit(std::string_view name) {
    const std::string upper = ascii_upper(name);
    for (const auto& category : kCategories) {
        if (upper == category.name) return category.bit;
    }
    return 0;
}

std::string display_name(std::string_view name) {
    std::string out;
    for (const char c : name.substr(0, 40)) {
        const bool plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                           (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.' || c == ':' ||
                           c == '|';
        out += plain ? c : '?';
    }
    if (name.size() > 40) out += "...";
    return out;
}

CommandPolicy::CommandPolicy(const std::vector<std::vector<std::string>>& lists) {
    lists_.reserve(lists.size());
    for (const auto& list : lists) {
        std::vector<std::string> upper;
        upper.reserve(list.size());
        for (const auto& entry : list) upper.push_back(ascii_upper(entry));
        lists_.push_back(std::move(upper));
    }
}

std::size_t CommandPolicy::args_needed(std::string_view upper_name) const {
    if (upper_name == "HELLO") return kAllArgs;
    if (restricted() && has_subcommands(upper_name)) return 1;
    return 0;
}

bool CommandPolicy::entry_allows(std::string_view entry, std::string_view upper_name,
                                 std::string_view upper_sub) {
    if (entry.empty()) return false;
    if (entry.front() == '@') {
        if (entry == "@ALL") return true;
        const std::uint32_t bit = category_bit(entry);
        if (bit == 0) return false;
        std::optional<std::uint32_t> categories;
        if (!upper_sub.empty()) {
            categories = command_categories(std::string(upper_name) + "|" + std::string(upper_sub));
        }
        if (!categories) categories = command_categories(upper_name);
        return categories && (*categories & bit) != 0;
    }
    if (const std::size_t bar = entry.find('|'); bar != std::string_view::npos) {
        return !upper_sub.empty() && entry.substr(0, bar) == upper_name &&
               entry.substr(bar + 1) == upper_sub;
    }
    return entry == upper_name;
}

Verdict CommandPolicy::decide(const CommandHead& head) const {
    const std::string name = ascii_upper(head.name.text);
    if (!head.name.truncated) {
        if (name == "AUTH") {
            return refuse(
                "Cloakroom: AUTH after login is refused; connect again to use another token");
        }
        if (name == "HELLO") {
            const bool all_seen =
                head.args.size() + 1 == head.argc &&
                std::none_of(head.args.begin(), head.args.end(),
                             [](const CapturedArg& arg) { return arg.truncated; });
            if (!all_seen) return refuse("Cloakroom: HELLO with these arguments is refused");
            for (const auto& arg : head.args) {
                if (ascii_upper(arg.text) == "AUTH") {
                    return refuse(
                        "Cloakroom: HELLO AUTH after login is refused; connect again to use "
                        "another "
                        "token");
                }
            }
            return Verdict{};
        }
        if (name == "RESET") {
            return refuse("Cloakroom: RESET is refused (it would log the connection out)");
        }
    }
    // Cloakroom's own refusal markers (filter.hpp): a client never sends one.
    if (name.rfind("CLOAKROOM.", 0) == 0) {
        return refuse("Cloakroom: command names starting with 'cloakroom.' are reserved");
    }
    if (!restricted()) return Verdict{};
    if (!head.name.truncated && (name == "PING" || name == "ECHO" || name == "QUIT")) {
        return Verdict{};
    }
    std::string sub;
    if (!head.name.truncated && has_subcommands(name) && !head.args.empty() &&
        !head.args.front().truncated) {
        sub = ascii_upper(head.args.front().text);
    }
    bool allowed = !head.name.truncated;
    for (const auto& list : lists_) {
        if (!allowed) break;
        allowed = std::any_of(list.begin(), list.end(), [&](const std::string& entry) {
            return entry_allows(entry, name, sub);
        });
    }
    if (allowed) return Verdict{};
    const std::string shown = display_name(sub.empty() ? name : name + "|" + sub);
    return refuse("Cloakroom: this token does not allow '" + shown + "'");
}

}  // namespace cloakroom::db::redis
