// Which commands a Redis session lets through after login (pure decision logic).
//
// Every session, restricted or not, refuses three commands that would change who the upstream
// connection is logged in as: AUTH, HELLO with an AUTH option, and RESET (which logs the
// connection out, back to the "default" user). The agent holds no upstream credentials, and
// Cloakroom's own login must stay the only one. It also refuses the commands whose purpose is to
// read credentials: CONFIG GET with a pattern that can match a credential parameter (requirepass,
// masterauth, ...; "*" included) and ACL GETUSER / ACL LIST (password hashes), unless every
// command list of the token names them ("CONFIG|GET", "ACL|LIST", or the whole command; a
// category such as @admin or @all is not enough).
// Names starting with "cloakroom." are reserved for Cloakroom's refusal markers (filter.hpp).
//
// A token's DbCommands caveats (LoginGranted::command_lists) restrict a session further: a
// command runs only when every list allows it. A list entry is
//   NAME        a command, with any subcommand ("GET", "CLIENT")
//   NAME|SUB    one subcommand ("CLIENT|SETNAME", "CONFIG|GET"), as in Redis ACL rules
//   @category   a Redis 7.0 ACL category ("@read", "@write", "@hash", "@connection", ... as
//               `ACL CAT` lists them; see command_table.cpp), or "@all"
// case-insensitively. A category covers only commands Redis 7.0 knows; module commands must be
// named. An unknown category allows nothing. PING, ECHO, QUIT and HELLO without AUTH (protocol
// and client-name negotiation) are always allowed: they touch no data and clients send them on
// their own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cloakroom::db::redis {

// Redis 7.0 ACL categories as bits.
enum Category : std::uint32_t {
    kRead = 1u << 0,
    kWrite = 1u << 1,
    kKeyspace = 1u << 2,
    kString = 1u << 3,
    kList = 1u << 4,
    kSet = 1u << 5,
    kSortedset = 1u << 6,
    kHash = 1u << 7,
    kStream = 1u << 8,
    kBitmap = 1u << 9,
    kHyperloglog = 1u << 10,
    kGeo = 1u << 11,
    kPubsub = 1u << 12,
    kScripting = 1u << 13,
    kTransaction = 1u << 14,
    kConnection = 1u << 15,
    kFast = 1u << 16,
    kSlow = 1u << 17,
    kAdmin = 1u << 18,
    kDangerous = 1u << 19,
    kBlocking = 1u << 20,
};

struct CommandInfo {
    const char* name;  // upper case, "NAME" or "NAME|SUB"
    std::uint32_t categories;
};

// Categories of a command ("GET") or subcommand ("CONFIG|GET"), upper case; nullopt when Redis
// 7.0 has no such command.
std::optional<std::uint32_t> command_categories(std::string_view upper_name);
// Whether the command has subcommands (CLIENT, CONFIG, XINFO, ...).
bool has_subcommands(std::string_view upper_name);
// "@read" -> kRead (case-insensitive); 0 for an unknown category. "@all" is not a bit.
std::uint32_t category_bit(std::string_view name);

// What the command filter knows about a command when it decides (filter.hpp): the name and the
// first arguments, each cut to a few hundred bytes (longer ones are no command or subcommand
// names; such an argument is marked `truncated`).
struct CapturedArg {
    std::string text;
    bool truncated = false;
};
struct CommandHead {
    CapturedArg name;
    std::vector<CapturedArg> args;  // the arguments after the name that were captured
    std::size_t argc = 0;           // the command's argument count, name included
};

inline constexpr std::size_t kCaptureName = 64;  // bytes of a name kept (longest Redis name: 29)
inline constexpr std::size_t kCaptureArg = 256;  // bytes of an argument kept
inline constexpr std::size_t kMaxHelloArgs = 8;  // HELLO 3 AUTH u p SETNAME n has 7
inline constexpr std::size_t kAllArgs = static_cast<std::size_t>(-1);

struct Verdict {
    bool allow = true;
    std::string code;     // refusal: the error code the client sees ("NOPERM")
    std::string message;  // refusal: readable text, printable ASCII, no client input but names
};

class CommandPolicy {
  public:
    CommandPolicy() = default;  // no caveat: only the re-authentication refusals apply
    explicit CommandPolicy(const std::vector<std::vector<std::string>>& lists);

    bool restricted() const { return !lists_.empty(); }
    // How many arguments after the name decide() needs (kAllArgs: all of them), given the
    // upper-case name; the filter holds a command back only that long.
    std::size_t args_needed(std::string_view upper_name) const;
    Verdict decide(const CommandHead& head) const;

    // Whether one list entry (upper case) allows a command; `sub` is empty when the command has
    // no (usable) subcommand argument.
    static bool entry_allows(std::string_view entry, std::string_view upper_name,
                             std::string_view upper_sub);

    // One list compiled for decide(): allows exactly what entry_allows() allows for some entry
    // of the list (same inputs), looked up instead of re-read per command.
    struct CompiledList {
        bool all = false;                      // "@ALL"
        std::uint32_t categories = 0;          // the known "@category" entries' bits
        std::vector<std::string> names;        // "NAME" entries, sorted
        std::vector<std::string> subcommands;  // "NAME|SUB" entries, sorted
    };
    static CompiledList compile_list(const std::vector<std::string>& upper_entries);
    // `categories`: those of "NAME|SUB" when `upper_sub` is set and Redis knows it, else of
    // "NAME", 0 for a command Redis does not know (what entry_allows() looks up per entry).
    static bool list_allows(const CompiledList& list, std::string_view upper_name,
                            std::string_view upper_sub, std::uint32_t categories);
    // Whether every list allows the command (compiled lists).
    bool lists_allow(std::string_view upper_name, std::string_view upper_sub) const;

  private:
    // Every list names the command or subcommand itself (no category, no @all).
    bool explicitly_allows(std::string_view upper_name, std::string_view upper_sub) const;
    // A refusal for commands that read credentials, unless the token names them.
    std::optional<Verdict> credential_read(const CommandHead& head,
                                           std::string_view upper_name) const;

    std::vector<std::vector<std::string>> lists_;  // upper-cased entries
    std::vector<CompiledList> compiled_;           // one per list
};

// An upper-case (ASCII) copy of a short name without a heap allocation (names the filter
// captures are at most kCaptureName bytes; longer ones fall back to a std::string).
class UpperName {
  public:
    explicit UpperName(std::string_view text);
    UpperName(const UpperName&) = delete;
    UpperName& operator=(const UpperName&) = delete;
    std::string_view view() const {
        return heap_.empty() ? std::string_view(inline_, size_) : heap_;
    }

  private:
    char inline_[kCaptureName];
    std::size_t size_ = 0;
    std::string heap_;
};

// redis-server's glob (stringmatchlen: '*', '?', '[...]', '\\'), case-insensitive as CONFIG GET
// matches parameter names.
bool glob_match(std::string_view pattern, std::string_view text);
// Whether a CONFIG GET pattern can match a parameter that holds a credential: it mentions "pass"
// or "auth", or it matches requirepass, masterauth, primaryauth, tls-key-file-pass or
// tls-client-key-file-pass.
bool reads_credential_parameter(std::string_view pattern);

// A command name as it may appear in a refusal: printable, no quotes, at most 40 characters.
std::string display_name(std::string_view name);

namespace detail {
extern const CommandInfo kCommandTable[];
extern const std::size_t kCommandTableSize;
}  // namespace detail

}  // namespace cloakroom::db::redis
