// The two incremental filters of a relayed Redis session (pure, no I/O).
//
// Refusing a command in a pipeline. A refused command's error must reach the client at that
// command's place among the replies. Cloakroom does not count replies to insert its own (replies
// are not one per command: CLIENT REPLY OFF/SKIP, SUBSCRIBE pushes, MONITOR, blocking commands,
// MULTI). Instead the command filter sends the upstream, in the refused command's place, a
// command that does not exist and whose name carries the refusal:
//     *1\r\n$N\r\ncloakroom.refused:NOPERM <message>\r\n
// redis-server answers it, in order and in every state (MULTI: it also aborts the transaction,
// like an ACL denial; subscribed; RESP2 or RESP3), with
//     -ERR unknown command 'cloakroom.refused:NOPERM <message>', with args beginning with: \r\n
// and the reply rewriter turns that top-level error back into "-NOPERM <message>\r\n". When the
// client turned replies off, the upstream drops this error like any other reply, which is what
// the client asked for. A server that words the error differently still gives the client an
// error at the right place, only less tidy. The refused command's own bytes never reach the
// upstream, however large.
//
// The rewriter only ever rewrites top-level simple errors that begin with that exact text; it
// never changes other bytes, and when the reply stream stops framing (a server speaking something
// else) it passes everything through unchanged from then on.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "db/redis/commands.hpp"
#include "db/redis/resp.hpp"
#include "secrets/redactor.hpp"

namespace cloakroom::db::redis {

// The command sent upstream in place of a refused one; `closing` marks the refusal after which
// the session ends (a protocol error). The name is kept within redis-server's 128-character quote.
std::string refusal_command(std::string_view code, std::string_view message, bool closing = false);

// Client -> upstream. Parses command boundaries (RESP arrays and inline commands), holds back a
// command only until its name (and, when the policy needs it, its first arguments) has arrived,
// then forwards its bytes as they come, or drops them and sends refusal_command() instead. Inline
// commands are forwarded re-encoded as RESP arrays, so the upstream runs exactly what was
// checked.
class CommandFilter {
  public:
    explicit CommandFilter(CommandPolicy policy, RequestLimits limits = kSessionLimits);

    // Consumes `chunk` and appends what the upstream must receive to `to_upstream`. False once
    // the client broke the protocol (and for every later call): see error() and error_in_band().
    bool feed(std::string_view chunk, std::string& to_upstream);

    bool failed() const { return failed_; }
    const std::string& error() const { return error_; }  // "Protocol error: ..."
    // Whether the protocol error was sent upstream as a closing refusal (so the client gets it
    // after the replies to the commands before it); false when the upstream was mid-command, and
    // the session must tell the client itself.
    bool error_in_band() const { return error_in_band_; }

    std::uint64_t commands() const { return commands_; }  // decided so far
    std::uint64_t refused() const { return refused_; }
    // The first few refused command names (display_name), for the audit record.
    const std::vector<std::string>& refused_names() const { return refused_names_; }
    // True between commands (nothing held back, no command partly forwarded).
    bool at_boundary() const { return state_ == State::Start; }

  private:
    enum class State { Start, ArrayHeader, BulkHeader, BulkBody, BulkCr, BulkLf, Inline };
    enum class Route { Undecided, Forward, Drop };

    void route(std::string_view raw, std::string& out);
    bool header_line(std::string& out);
    void argument_done(std::string& out);
    void capture(std::string_view part, std::string& out);
    void maybe_decide(std::string& out);
    void decide(std::string& out);
    bool inline_line(std::string& out);
    // A RESP command whose bytes are all at the front of `in`, checked as the incremental states
    // check it, with head_ filled as they fill it before deciding: its size, or 0 when it is not
    // whole in `in`, runs nothing or is malformed (the incremental states then take it from its
    // first byte, and report any error).
    std::size_t whole_command(std::string_view in);
    void refuse(const Verdict& verdict, std::string& out);
    bool fail(std::string error, std::string& out);

    CommandPolicy policy_;
    RequestLimits limits_;
    State state_ = State::Start;
    Route route_ = Route::Undecided;
    std::string line_;     // header or inline line being read
    std::string pending_;  // the current command's bytes while undecided
    CommandHead head_;
    std::int64_t args_left_ = 0;
    std::size_t arg_index_ = 0;  // of the argument being read (0 = name)
    std::uint64_t bulk_left_ = 0;
    std::size_t needed_ = 0;  // arguments after the name the policy needs
    bool capturing_ = false;
    bool failed_ = false;
    bool error_in_band_ = false;
    std::string error_;
    std::uint64_t commands_ = 0;
    std::uint64_t refused_ = 0;
    std::vector<std::string> refused_names_;
};

// Upstream -> client: passes the reply stream through, turning the upstream's answers to
// refusal_command() back into the refusal ("-NOPERM <message>"), and replacing every occurrence of
// the session's secrets inside a reply element (simple string, error, number line, bulk string,
// verbatim string, blob error) by as many '*' (lengths stay valid; a held-back needle prefix is
// flushed at the end of its element, so a reply is never delayed).
//
// Nesting depth: runs of levels in the same state share one entry, so a chain nested thousands
// deep (a recursive Lua table returned by EVAL) costs one entry; distinct levels are limited to
// kMaxReplyLevels. When framing is lost (that limit, or bytes that are no RESP), the rewriter can
// neither recognise refusals nor redact: it passes nothing more, and the session ends.
class ReplyRewriter {
  public:
    explicit ReplyRewriter(std::vector<std::string_view> secrets = {});
    void feed(std::string_view chunk, std::string& to_client);
    // A closing refusal (protocol error) has been passed to the client: end the session.
    bool closing() const { return closing_; }
    // Framing lost: nothing more passes; end the session.
    bool lost_framing() const { return broken_; }
    std::uint64_t rewritten() const { return rewritten_; }
    std::size_t redactions() const { return redactor_.redactions(); }
    std::size_t depth() const;  // nesting depth at the current position

  private:
    enum class State { Type, Line, HeldLine, Header, Blob, BlobCr, BlobLf };
    void element_done();
    void push_level(std::int64_t remaining, bool attribute);
    void finish_held(std::string& out);
    void end_element_text(std::string& out);
    // An element whose bytes are all at the front of `in` (in State::Type), passed as the states
    // would pass it: its size, or 0 to leave it to them.
    std::size_t whole_element(std::string_view in, std::string& out);
    // The whole text of an element, redacted.
    void redact_element(std::string_view text, std::string& out);

    // `repeat` nested levels, each with `remaining` elements to go.
    struct Level {
        std::int64_t remaining;
        std::uint64_t repeat;
        bool attribute;
    };
    secrets::Redactor redactor_;
    State state_ = State::Type;
    char type_ = 0;
    std::vector<Level> stack_;
    std::string line_;  // header line
    std::string held_;  // a top-level error line that may be a refusal
    std::uint64_t blob_left_ = 0;
    bool broken_ = false;
    bool closing_ = false;
    std::uint64_t rewritten_ = 0;
};

// Distinct nesting levels a ReplyRewriter keeps (runs of identical levels count once).
inline constexpr std::size_t kMaxReplyLevels = 65536;

}  // namespace cloakroom::db::redis
