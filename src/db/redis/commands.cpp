#include "db/redis/commands.hpp"

#include <algorithm>
#include <cstring>

#include "db/redis/resp.hpp"

namespace cloakroom::db::redis {
namespace {

// The command table as an open-addressing hash index, built once: a command's categories are
// looked up for every command a restricted session sends (one hash of the name and, as a rule,
// one comparison, where a binary search over the table compared ~9 names).
std::uint32_t name_hash(std::string_view name) {
    std::uint32_t hash = 2166136261u;  // FNV-1a
    for (const char c : name) {
        hash ^= static_cast<unsigned char>(c);
        hash *= 16777619u;
    }
    return hash;
}

class CommandIndex {
  public:
    CommandIndex() {
        std::size_t slots = 1;
        while (slots < 4 * detail::kCommandTableSize) slots *= 2;
        mask_ = slots - 1;
        slots_.assign(slots, -1);
        names_.reserve(detail::kCommandTableSize);
        for (std::size_t i = 0; i < detail::kCommandTableSize; ++i) {
            names_.emplace_back(detail::kCommandTable[i].name);
            std::size_t slot = name_hash(names_.back()) & mask_;
            while (slots_[slot] >= 0) slot = (slot + 1) & mask_;
            slots_[slot] = static_cast<std::int32_t>(i);
        }
    }
    const CommandInfo* find(std::string_view upper_name) const {
        for (std::size_t slot = name_hash(upper_name) & mask_;; slot = (slot + 1) & mask_) {
            const std::int32_t at = slots_[slot];
            if (at < 0) return nullptr;
            if (names_[static_cast<std::size_t>(at)] == upper_name) {
                return &detail::kCommandTable[static_cast<std::size_t>(at)];
            }
        }
    }

  private:
    std::vector<std::int32_t> slots_;  // table index, -1 for an empty slot
    std::vector<std::string_view> names_;
    std::size_t mask_ = 0;
};

const CommandInfo* find_command(std::string_view upper_name) {
    static const CommandIndex index;
    return index.find(upper_name);
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

// Configuration parameters that hold a credential (Redis 7, and the Valkey aliases).
constexpr std::string_view kCredentialParameters[] = {
    "requirepass", "masterauth", "primaryauth", "tls-key-file-pass", "tls-client-key-file-pass",
};

std::string ascii_lower(std::string_view text) {
    std::string out(text);
    for (char& c : out) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
    }
    return out;
}

// Whether an entry names the command or subcommand itself (no category): an explicit grant.
bool names_explicitly(std::string_view entry, std::string_view name, std::string_view sub) {
    return entry == name ||
           (entry.size() == name.size() + 1 + sub.size() && entry.substr(0, name.size()) == name &&
            entry[name.size()] == '|' && entry.substr(name.size() + 1) == sub);
}

// The categories entry_allows() tests a "@category" entry against: those of "NAME|SUB" when
// there is a subcommand Redis knows, else those of "NAME"; 0 when Redis knows neither.
std::uint32_t effective_categories(std::string_view upper_name, std::string_view upper_sub) {
    if (!upper_sub.empty()) {
        char joined[kCaptureName + 1 + kCaptureArg];
        if (upper_name.size() + 1 + upper_sub.size() <= sizeof joined) {
            std::memcpy(joined, upper_name.data(), upper_name.size());
            joined[upper_name.size()] = '|';
            std::memcpy(joined + upper_name.size() + 1, upper_sub.data(), upper_sub.size());
            const CommandInfo* info =
                find_command(std::string_view(joined, upper_name.size() + 1 + upper_sub.size()));
            if (info != nullptr) return info->categories;
        } else if (const auto categories =
                       command_categories(std::string(upper_name) + "|" + std::string(upper_sub))) {
            return *categories;
        }
    }
    const CommandInfo* info = find_command(upper_name);
    return info == nullptr ? 0 : info->categories;
}

}  // namespace

bool glob_match(std::string_view pattern, std::string_view text) {
    // redis-server's stringmatchlen, case-insensitively (as CONFIG GET matches): '*', '?',
    // '[...]' with '^' and ranges, '\' escapes. Iterative with one star backtrack point.
    auto fold = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; };
    std::size_t p = 0;
    std::size_t t = 0;
    std::size_t star = std::string_view::npos;
    std::size_t star_text = 0;
    auto class_match = [&](std::size_t& at, char c) {
        // `at` is on '['; leaves it after ']'.
        ++at;
        bool negate = false;
        if (at < pattern.size() && pattern[at] == '^') {
            negate = true;
            ++at;
        }
        bool matched = false;
        while (at < pattern.size() && pattern[at] != ']') {
            if (pattern[at] == '\\' && at + 1 < pattern.size()) {
                ++at;
                matched = matched || fold(pattern[at]) == fold(c);
            } else if (at + 2 < pattern.size() && pattern[at + 1] == '-') {
                char low = fold(pattern[at]);
                char high = fold(pattern[at + 2]);
                if (low > high) std::swap(low, high);
                matched = matched || (fold(c) >= low && fold(c) <= high);
                at += 2;
            } else {
                matched = matched || fold(pattern[at]) == fold(c);
            }
            ++at;
        }
        if (at < pattern.size()) ++at;  // ']'
        return negate ? !matched : matched;
    };
    while (t < text.size()) {
        if (p < pattern.size() && pattern[p] == '*') {
            star = p++;
            star_text = t;
            continue;
        }
        if (p < pattern.size()) {
            std::size_t next = p;
            bool ok = false;
            if (pattern[p] == '?') {
                ok = true;
                next = p + 1;
            } else if (pattern[p] == '[') {
                ok = class_match(next, text[t]);
            } else if (pattern[p] == '\\' && p + 1 < pattern.size()) {
                ok = fold(pattern[p + 1]) == fold(text[t]);
                next = p + 2;
            } else {
                ok = fold(pattern[p]) == fold(text[t]);
                next = p + 1;
            }
            if (ok) {
                p = next;
                ++t;
                continue;
            }
        }
        if (star == std::string_view::npos) return false;
        p = star + 1;
        t = ++star_text;
    }
    while (p < pattern.size() && pattern[p] == '*') ++p;
    return p == pattern.size();
}

bool reads_credential_parameter(std::string_view pattern) {
    const std::string lower = ascii_lower(pattern);
    if (lower.find("pass") != std::string::npos || lower.find("auth") != std::string::npos) {
        return true;
    }
    return std::any_of(std::begin(kCredentialParameters), std::end(kCredentialParameters),
                       [&](std::string_view name) { return glob_match(pattern, name); });
}

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

UpperName::UpperName(std::string_view text) {
    if (text.size() > sizeof inline_) {
        heap_ = ascii_upper(text);
        return;
    }
    for (const char c : text) {
        inline_[size_++] = (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
    }
}

CommandPolicy::CommandPolicy(const std::vector<std::vector<std::string>>& lists) {
    lists_.reserve(lists.size());
    compiled_.reserve(lists.size());
    for (const auto& list : lists) {
        std::vector<std::string> upper;
        upper.reserve(list.size());
        for (const auto& entry : list) upper.push_back(ascii_upper(entry));
        compiled_.push_back(compile_list(upper));
        lists_.push_back(std::move(upper));
    }
}

CommandPolicy::CompiledList CommandPolicy::compile_list(
    const std::vector<std::string>& upper_entries) {
    CompiledList list;
    for (const std::string& entry : upper_entries) {
        if (entry.empty()) continue;  // allows nothing
        if (entry.front() == '@') {
            if (entry == "@ALL") {
                list.all = true;
            } else {
                list.categories |= category_bit(entry);  // 0 (allows nothing) when unknown
            }
        } else if (entry.find('|') != std::string::npos) {
            list.subcommands.push_back(entry);
        } else {
            list.names.push_back(entry);
        }
    }
    std::sort(list.names.begin(), list.names.end());
    std::sort(list.subcommands.begin(), list.subcommands.end());
    return list;
}

bool CommandPolicy::list_allows(const CompiledList& list, std::string_view upper_name,
                                std::string_view upper_sub, std::uint32_t categories) {
    if (list.all || (categories & list.categories) != 0) return true;
    if (std::binary_search(list.names.begin(), list.names.end(), upper_name,
                           [](std::string_view a, std::string_view b) { return a < b; })) {
        return true;
    }
    if (upper_sub.empty() || list.subcommands.empty()) return false;
    // "NAME|SUB" entries: the part before the entry's first '|' is the name (a name with a
    // subcommand has no '|' itself), the rest is the subcommand.
    const auto first = std::lower_bound(
        list.subcommands.begin(), list.subcommands.end(), upper_name,
        [](std::string_view entry, std::string_view name) { return entry < name; });
    for (auto it = first; it != list.subcommands.end(); ++it) {
        const std::string_view entry(*it);
        if (entry.substr(0, upper_name.size()) != upper_name) break;
        const std::size_t bar = entry.find('|');
        if (entry.substr(0, bar) == upper_name && entry.substr(bar + 1) == upper_sub) return true;
    }
    return false;
}

bool CommandPolicy::lists_allow(std::string_view upper_name, std::string_view upper_sub) const {
    const std::uint32_t categories = effective_categories(upper_name, upper_sub);
    return std::all_of(compiled_.begin(), compiled_.end(), [&](const CompiledList& list) {
        return list_allows(list, upper_name, upper_sub, categories);
    });
}

std::size_t CommandPolicy::args_needed(std::string_view upper_name) const {
    if (upper_name == "HELLO" || upper_name == "CONFIG") return kAllArgs;
    if (upper_name == "ACL") return 1;
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

bool CommandPolicy::explicitly_allows(std::string_view upper_name,
                                      std::string_view upper_sub) const {
    if (lists_.empty()) return false;
    return std::all_of(lists_.begin(), lists_.end(), [&](const std::vector<std::string>& list) {
        return std::any_of(list.begin(), list.end(), [&](const std::string& entry) {
            return names_explicitly(entry, upper_name, upper_sub);
        });
    });
}

std::optional<Verdict> CommandPolicy::credential_read(const CommandHead& head,
                                                      std::string_view name) const {
    if (name != "CONFIG" && name != "ACL") return std::nullopt;
    if (head.args.empty() || head.args.front().truncated) return std::nullopt;
    const std::string sub = ascii_upper(head.args.front().text);
    if (name == "ACL" && (sub == "GETUSER" || sub == "LIST")) {
        if (explicitly_allows(name, sub)) return std::nullopt;
        return refuse("Cloakroom: ACL " + sub +
                      " is refused (it shows password hashes); a token may allow it by naming "
                      "'ACL|" +
                      sub + "'");
    }
    if (name != "CONFIG" || sub != "GET") return std::nullopt;
    if (explicitly_allows(name, sub)) return std::nullopt;
    const bool all_seen = head.args.size() + 1 == head.argc &&
                          std::none_of(head.args.begin(), head.args.end(),
                                       [](const CapturedArg& arg) { return arg.truncated; });
    if (!all_seen) return refuse("Cloakroom: CONFIG GET with these arguments is refused");
    for (std::size_t j = 1; j < head.args.size(); ++j) {
        if (reads_credential_parameter(head.args[j].text)) {
            return refuse(
                "Cloakroom: CONFIG GET of a credential parameter is refused (a pattern that "
                "matches requirepass, masterauth or a *pass*/*auth* name); a token may allow it "
                "by naming 'CONFIG|GET'");
        }
    }
    return std::nullopt;
}

Verdict CommandPolicy::decide(const CommandHead& head) const {
    const UpperName upper(head.name.text);
    const std::string_view name = upper.view();
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
        if (const auto verdict = credential_read(head, name)) return *verdict;
    }
    // Cloakroom's own refusal markers (filter.hpp): a client never sends one.
    if (name.substr(0, 10) == "CLOAKROOM.") {
        return refuse("Cloakroom: command names starting with 'cloakroom.' are reserved");
    }
    if (!restricted()) return Verdict{};
    if (!head.name.truncated && (name == "PING" || name == "ECHO" || name == "QUIT")) {
        return Verdict{};
    }
    if (head.name.truncated) {
        return refuse("Cloakroom: this token does not allow '" + display_name(name) + "'");
    }
    std::string sub;
    if (!head.args.empty() && !head.args.front().truncated && has_subcommands(name)) {
        sub = ascii_upper(head.args.front().text);
    }
    if (lists_allow(name, sub)) return Verdict{};
    const std::string shown =
        display_name(sub.empty() ? std::string(name) : std::string(name) + "|" + sub);
    return refuse("Cloakroom: this token does not allow '" + shown + "'");
}

}  // namespace cloakroom::db::redis
