#include "db/redis/filter.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "runtime/metrics.hpp"

namespace cloakroom::db::redis {
namespace {

constexpr std::size_t kMaxHeaderLine = 34;  // "*" or "$", 18 digits and a sign, CRLF, slack
constexpr std::size_t kMaxHeldLine = 512;
constexpr std::size_t kMaxRefusalName = 128;  // redis-server quotes at most 128 characters

constexpr std::string_view kRefused = "cloakroom.refused:";
constexpr std::string_view kClosing = "cloakroom.closing:";
// redis-server 6.2 and later quote the unknown name with '...', 6.0 with `...`.
constexpr std::string_view kUnknownQuote = "-ERR unknown command '";
constexpr std::string_view kUnknownTick = "-ERR unknown command `";

std::string describe_byte(char c) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte > 0x20 && byte < 0x7f && c != '\'') return std::string(1, c);
    char text[8];
    std::snprintf(text, sizeof text, "\\x%02x", byte);
    return text;
}

bool could_be_refusal(std::string_view held) {
    for (const std::string_view head : {kUnknownQuote, kUnknownTick}) {
        for (const std::string_view kind : {kRefused, kClosing}) {
            const std::string full = std::string(head) + std::string(kind);
            const std::size_t n = std::min(held.size(), full.size());
            if (held.substr(0, n) == std::string_view(full).substr(0, n)) return true;
        }
    }
    return false;
}

// A "*<n>\r\n" / "$<n>\r\n" line at `pos` of `in`, read in one pass: the type byte, an optional
// '-' (when `allow_negative`), 1 to 18 digits without a leading zero, CRLF -- exactly the lines
// CommandFilter::header_line() (parse_length(), at most kMaxHeaderLine bytes) accepts. `pos`
// moves past it. False when the line is not whole in `in` or is malformed.
bool whole_header(std::string_view in, std::size_t& pos, bool allow_negative, std::int64_t& value) {
    const std::size_t n = in.size();
    std::size_t p = pos + 1;
    bool negative = false;
    if (allow_negative && p < n && in[p] == '-') {
        negative = true;
        ++p;
    }
    const std::size_t first = p;
    std::int64_t result = 0;
    while (p < n && p - first < 18 && in[p] >= '0' && in[p] <= '9') {
        result = result * 10 + (in[p] - '0');
        ++p;
    }
    const std::size_t digits = p - first;
    if (digits == 0 || (in[first] == '0' && (digits > 1 || negative))) return false;
    if (n - p < 2 || in[p] != '\r' || in[p + 1] != '\n') return false;
    value = negative ? -result : result;
    pos = p + 2;
    return true;
}

bool valid_code(std::string_view code) {
    return !code.empty() && code.size() <= 16 &&
           std::all_of(code.begin(), code.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
}

}  // namespace

std::string refusal_command(std::string_view code, std::string_view message, bool closing) {
    std::string name(closing ? kClosing : kRefused);
    name += code;
    name += ' ';
    for (const char c : message) {
        const auto byte = static_cast<unsigned char>(c);
        name += (byte < 0x20 || byte >= 0x7f) ? ' ' : c;
    }
    if (name.size() > kMaxRefusalName) name.resize(kMaxRefusalName);
    return encode_command({name});
}

// ---- CommandFilter ----

CommandFilter::CommandFilter(CommandPolicy policy, RequestLimits limits)
    : policy_(std::move(policy)), limits_(limits) {}

void CommandFilter::route(std::string_view raw, std::string& out) {
    switch (route_) {
        case Route::Forward:
            out.append(raw);
            break;
        case Route::Undecided:
            pending_.append(raw);
            break;
        case Route::Drop:
            break;
    }
}

bool CommandFilter::feed(std::string_view chunk, std::string& out) {
    if (failed_) return false;
    std::size_t i = 0;
    // Whole commands allowed in a row go out as one append of the chunk's bytes (flushed before
    // anything else is written to `out`, so the order stays the client's).
    std::size_t run_begin = 0;
    bool in_run = false;
    auto flush_run = [&] {
        if (in_run) out.append(chunk.substr(run_begin, i - run_begin));
        in_run = false;
    };
    while (i < chunk.size()) {
        if (state_ == State::Start && chunk[i] == '*') {
            // Fast path: a command whose bytes are all in this chunk is checked in place, with no
            // copy into line_ / pending_ (the incremental states below take everything else).
            if (const std::size_t size = whole_command(chunk.substr(i)); size > 0) {
                ++commands_;
                const Verdict verdict = policy_.decide(head_);
                if (verdict.allow) {
                    if (!in_run) run_begin = i;
                    in_run = true;
                } else {
                    flush_run();
                    refuse(verdict, out);
                }
                i += size;
                continue;
            }
        }
        flush_run();
        switch (state_) {
            case State::Start:
                route_ = Route::Undecided;
                pending_.clear();
                line_.clear();
                head_ = CommandHead{};
                args_left_ = 0;
                arg_index_ = 0;
                needed_ = 0;
                capturing_ = false;
                state_ = chunk[i] == '*' ? State::ArrayHeader : State::Inline;
                break;
            case State::ArrayHeader:
            case State::BulkHeader: {
                if (state_ == State::BulkHeader && line_.empty() && chunk[i] != '$') {
                    return fail(
                        "Protocol error: expected '$', got '" + describe_byte(chunk[i]) + "'", out);
                }
                const std::size_t newline = chunk.find('\n', i);
                const std::size_t end =
                    newline == std::string_view::npos ? chunk.size() : newline + 1;
                const std::string_view part = chunk.substr(i, end - i);
                line_.append(part);  // routed once validated: no malformed header goes upstream
                i = end;
                if (line_.size() > kMaxHeaderLine) {
                    return fail(state_ == State::ArrayHeader
                                    ? "Protocol error: invalid multibulk length"
                                    : "Protocol error: invalid bulk length",
                                out);
                }
                if (newline != std::string_view::npos && !header_line(out)) return false;
                break;
            }
            case State::BulkBody: {
                const auto n =
                    static_cast<std::size_t>(std::min<std::uint64_t>(bulk_left_, chunk.size() - i));
                const std::string_view part = chunk.substr(i, n);
                i += n;
                bulk_left_ -= n;
                route(part, out);
                if (capturing_) capture(part, out);
                if (bulk_left_ == 0) state_ = State::BulkCr;
                break;
            }
            case State::BulkCr:
                if (chunk[i] != '\r')
                    return fail("Protocol error: expected CRLF after an argument", out);
                route(chunk.substr(i, 1), out);
                ++i;
                state_ = State::BulkLf;
                break;
            case State::BulkLf:
                if (chunk[i] != '\n')
                    return fail("Protocol error: expected CRLF after an argument", out);
                route(chunk.substr(i, 1), out);
                ++i;
                argument_done(out);
                break;
            case State::Inline: {
                const std::size_t newline = chunk.find('\n', i);
                const std::size_t end =
                    newline == std::string_view::npos ? chunk.size() : newline + 1;
                line_.append(chunk.substr(i, end - i));
                i = end;
                const std::size_t length =
                    line_.size() - (newline == std::string_view::npos ? 0 : 1);
                if (length > limits_.max_inline) {
                    return fail("Protocol error: too big inline request", out);
                }
                if (newline == std::string_view::npos) break;
                if (!inline_line(out)) return false;
                state_ = State::Start;
                break;
            }
        }
    }
    flush_run();
    return true;
}

std::size_t CommandFilter::whole_command(std::string_view in) {
    std::int64_t count = 0;
    std::size_t pos = 0;
    if (!whole_header(in, pos, true, count) || count <= 0 ||
        static_cast<std::uint64_t>(count) > limits_.max_args) {
        return 0;
    }
    // What the incremental states capture before they decide: the name (cut to kCaptureName),
    // then the arguments the policy needs, up to the first one cut to kCaptureArg.
    head_.argc = static_cast<std::size_t>(count);
    head_.name.text.clear();
    head_.name.truncated = false;
    head_.args.clear();
    bool capturing = true;
    std::size_t needed = 0;
    for (std::int64_t k = 0; k < count; ++k) {
        std::int64_t length = 0;
        if (pos >= in.size() || in[pos] != '$' || !whole_header(in, pos, false, length) ||
            static_cast<std::uint64_t>(length) > limits_.max_bulk) {
            return 0;
        }
        const auto size = static_cast<std::size_t>(length);
        if (in.size() - pos < size + 2 || in[pos + size] != '\r' || in[pos + size + 1] != '\n') {
            return 0;
        }
        const std::string_view arg = in.substr(pos, size);
        pos += size + 2;
        if (!capturing) continue;
        if (k == 0) {
            head_.name.text.assign(arg.substr(0, kCaptureName));
            head_.name.truncated = size > kCaptureName;
            if (!head_.name.truncated) {
                needed = policy_.args_needed(UpperName(head_.name.text).view());
                if (needed == kAllArgs) needed = head_.argc > kMaxHelloArgs ? 0 : head_.argc - 1;
            }
            capturing = !head_.name.truncated && needed > 0;
        } else {
            head_.args.push_back(
                CapturedArg{std::string(arg.substr(0, kCaptureArg)), size > kCaptureArg});
            capturing = !head_.args.back().truncated && static_cast<std::size_t>(k) < needed;
        }
    }
    return pos;
}

bool CommandFilter::header_line(std::string& out) {
    const bool array = state_ == State::ArrayHeader;
    const char* const malformed =
        array ? "Protocol error: invalid multibulk length" : "Protocol error: invalid bulk length";
    std::int64_t value = 0;
    const std::size_t size = line_.size();
    if (size < 4 || line_[size - 2] != '\r' ||
        !parse_length(std::string_view(line_).substr(1, size - 3), array, value)) {
        return fail(malformed, out);
    }
    if (array && value <= 0) {  // runs nothing (redis-server skips it): nothing to forward
        pending_.clear();
        line_.clear();
        state_ = State::Start;
        return true;
    }
    const std::uint64_t limit = array ? limits_.max_args : limits_.max_bulk;
    if (static_cast<std::uint64_t>(value) > limit) return fail(malformed, out);
    route(line_, out);
    line_.clear();
    if (array) {
        head_.argc = static_cast<std::size_t>(value);
        args_left_ = value;
        arg_index_ = 0;
        state_ = State::BulkHeader;
        return true;
    }
    bulk_left_ = static_cast<std::uint64_t>(value);
    capturing_ = route_ == Route::Undecided && (arg_index_ == 0 || arg_index_ <= needed_);
    if (capturing_ && arg_index_ > 0) head_.args.emplace_back();
    state_ = value == 0 ? State::BulkCr : State::BulkBody;
    return true;
}

void CommandFilter::capture(std::string_view part, std::string& out) {
    CapturedArg& arg = arg_index_ == 0 ? head_.name : head_.args.back();
    const std::size_t cap = arg_index_ == 0 ? kCaptureName : kCaptureArg;
    const std::size_t room = cap - arg.text.size();
    if (part.size() <= room) {
        arg.text.append(part);
        return;
    }
    // Longer than any name the policy looks for: decide now rather than hold the bytes back.
    arg.text.append(part.substr(0, room));
    arg.truncated = true;
    capturing_ = false;
    if (route_ == Route::Undecided) decide(out);
}

void CommandFilter::argument_done(std::string& out) {
    capturing_ = false;
    ++arg_index_;
    --args_left_;
    if (route_ == Route::Undecided) maybe_decide(out);
    if (args_left_ == 0) {
        if (route_ == Route::Undecided) decide(out);
        state_ = State::Start;
    } else {
        state_ = State::BulkHeader;
    }
}

void CommandFilter::maybe_decide(std::string& out) {
    if (arg_index_ == 1) {
        needed_ = policy_.args_needed(UpperName(head_.name.text).view());
        if (needed_ == kAllArgs) {
            if (head_.argc > kMaxHelloArgs) {
                decide(out);
                return;
            }
            needed_ = head_.argc - 1;
        }
    }
    if (arg_index_ - 1 >= needed_) decide(out);
}

void CommandFilter::decide(std::string& out) {
    ++commands_;
    const Verdict verdict = policy_.decide(head_);
    if (verdict.allow) {
        out.append(pending_);
        route_ = Route::Forward;
    } else {
        refuse(verdict, out);
        route_ = Route::Drop;
    }
    pending_.clear();
    capturing_ = false;
}

void CommandFilter::refuse(const Verdict& verdict, std::string& out) {
    out.append(refusal_command(verdict.code, verdict.message));
    ++refused_;
    runtime::metrics().add(runtime::Event::DbCommandRefused);
    if (refused_names_.size() < 5) {
        refused_names_.push_back(display_name(ascii_upper(head_.name.text)));
    }
}

bool CommandFilter::inline_line(std::string& out) {
    std::string_view line(line_);
    line.remove_suffix(1);  // '\n'
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    std::vector<std::string> args;
    if (!split_inline(line, args)) {
        return fail("Protocol error: unbalanced quotes in request", out);
    }
    if (args.empty()) return true;  // a blank line runs nothing
    if (args.size() > limits_.max_args)
        return fail("Protocol error: invalid multibulk length", out);
    head_.argc = args.size();
    head_.name.truncated = args[0].size() > kCaptureName;
    head_.name.text = args[0].substr(0, kCaptureName);
    for (std::size_t j = 1; j < args.size() && j <= kMaxHelloArgs; ++j) {
        head_.args.push_back(
            CapturedArg{args[j].substr(0, kCaptureArg), args[j].size() > kCaptureArg});
    }
    pending_ = encode_command(args);
    decide(out);
    return true;
}

bool CommandFilter::fail(std::string error, std::string& out) {
    failed_ = true;
    error_ = std::move(error);
    // When part of an allowed command already went upstream, the upstream is mid-command and
    // cannot take the closing refusal; otherwise it answers it after the earlier commands.
    if (route_ != Route::Forward) {
        out.append(refusal_command("ERR", error_, true));
        error_in_band_ = true;
    }
    pending_.clear();
    return false;
}

// ---- ReplyRewriter ----

ReplyRewriter::ReplyRewriter(std::vector<std::string_view> secrets)
    : redactor_(std::move(secrets)) {}

std::size_t ReplyRewriter::depth() const {
    std::size_t out = 0;
    for (const auto& level : stack_) out += static_cast<std::size_t>(level.repeat);
    return out;
}

void ReplyRewriter::push_level(std::int64_t remaining, bool attribute) {
    if (!stack_.empty() && stack_.back().remaining == remaining &&
        stack_.back().attribute == attribute) {
        ++stack_.back().repeat;
        return;
    }
    if (stack_.size() >= kMaxReplyLevels) {
        broken_ = true;
        return;
    }
    stack_.push_back(Level{remaining, 1, attribute});
}

void ReplyRewriter::element_done() {
    while (!stack_.empty()) {
        Level& top = stack_.back();
        const bool attribute = top.attribute;
        if (top.remaining > 1) {
            // The innermost level of the run goes on with one element less.
            const std::int64_t left = top.remaining - 1;
            if (top.repeat == 1) {
                top.remaining = left;
            } else {
                --top.repeat;
                push_level(left, attribute);
            }
            return;
        }
        // The innermost level of the run is complete.
        if (--top.repeat == 0) stack_.pop_back();
        if (attribute) return;  // an attribute annotates the next value; it is no element itself
    }
}

void ReplyRewriter::end_element_text(std::string& out) {
    redactor_.finish(out);
    redactor_.reset();
}

void ReplyRewriter::finish_held(std::string& out) {
    const std::string_view text(held_);
    bool rewritten = false;
    if (text.size() > kUnknownQuote.size() + 2 && text.substr(text.size() - 2) == "\r\n") {
        const char quote = text[kUnknownQuote.size() - 1];
        std::string_view rest =
            text.substr(kUnknownQuote.size(), text.size() - 2 - kUnknownQuote.size());
        bool closing = false;
        if (rest.substr(0, kRefused.size()) == kRefused) {
            rest.remove_prefix(kRefused.size());
        } else if (rest.substr(0, kClosing.size()) == kClosing) {
            rest.remove_prefix(kClosing.size());
            closing = true;
        } else {
            rest = {};
        }
        const std::size_t close_quote = rest.rfind(quote);
        if (close_quote != std::string_view::npos) {
            const std::string_view inner = rest.substr(0, close_quote);
            const std::size_t space = inner.find(' ');
            const std::string_view code = inner.substr(0, space);
            if (space != std::string_view::npos && valid_code(code)) {
                out += '-';
                out.append(inner);
                out += "\r\n";
                rewritten = true;
                ++rewritten_;
                closing_ = closing_ || closing;
            }
        }
    }
    if (!rewritten) {
        redactor_.feed(held_, out);
        end_element_text(out);
    }
    held_.clear();
}

std::size_t ReplyRewriter::whole_element(std::string_view in, std::string& out) {
    const char type = in.front();
    switch (type) {
        case '+':
        case ':':
        case ',':
        case '#':
        case '_':
        case '(': {  // as State::Line (top-level errors go through State::HeldLine)
            const void* newline = std::memchr(in.data(), '\n', in.size());
            if (newline == nullptr) return 0;
            const auto size =
                static_cast<std::size_t>(static_cast<const char*>(newline) - in.data()) + 1;
            redact_element(in.substr(0, size), out);
            element_done();
            return size;
        }
        case '$':
        case '!':
        case '=':
        case '*':
        case '~':
        case '>':
        case '%':
        case '|':
            break;
        default:
            return 0;
    }
    // As State::Header, then State::Blob / BlobCr / BlobLf for a blob.
    std::size_t pos = 0;
    std::int64_t n = 0;
    if (!whole_header(in, pos, type == '$' || type == '*', n) || n < -1) return 0;
    const std::string_view header = in.substr(0, pos);
    type_ = type;
    if (type == '$' || type == '!' || type == '=') {
        if (n < 0) {
            out.append(header);
            element_done();
            return pos;
        }
        const auto size = static_cast<std::size_t>(n);
        if (in.size() - pos < size + 2 || in[pos + size] != '\r' || in[pos + size + 1] != '\n') {
            return 0;
        }
        out.append(header);
        redact_element(in.substr(pos, size), out);
        out.append("\r\n");
        element_done();
        return pos + size + 2;
    }
    out.append(header);
    if (n <= 0) {
        if (type != '|') element_done();
    } else {
        const bool pairs = type == '%' || type == '|';
        push_level(pairs ? n * 2 : n, type == '|');
    }
    return pos;
}

void ReplyRewriter::redact_element(std::string_view text, std::string& out) {
    // Between elements the redactor holds nothing: a text shorter than every secret is copied.
    if (!redactor_.may_match(text.size())) {
        out.append(text);
        return;
    }
    redactor_.feed(text, out);
    end_element_text(out);
}

void ReplyRewriter::feed(std::string_view chunk, std::string& out) {
    std::size_t i = 0;
    while (i < chunk.size()) {
        if (broken_) return;  // no framing: neither refusals nor secrets can be found
        if (state_ == State::Type) {
            // Fast path: an element whose bytes are all in this chunk is passed in one step.
            if (const std::size_t size = whole_element(chunk.substr(i), out); size > 0) {
                i += size;
                continue;
            }
        }
        switch (state_) {
            case State::Type:
                type_ = chunk[i];
                switch (type_) {
                    case '-':
                        if (stack_.empty()) {
                            state_ = State::HeldLine;
                            held_.clear();
                            break;
                        }
                        state_ = State::Line;
                        break;
                    case '+':
                    case ':':
                    case ',':
                    case '#':
                    case '_':
                    case '(':
                        state_ = State::Line;
                        break;
                    case '$':
                    case '!':
                    case '=':
                    case '*':
                    case '~':
                    case '>':
                    case '%':
                    case '|':
                        state_ = State::Header;
                        line_.clear();
                        break;
                    default:
                        broken_ = true;
                        break;
                }
                break;  // the type byte is consumed by the state it leads to
            case State::Line: {
                const std::size_t newline = chunk.find('\n', i);
                const std::size_t end =
                    newline == std::string_view::npos ? chunk.size() : newline + 1;
                redactor_.feed(chunk.substr(i, end - i), out);
                i = end;
                if (newline != std::string_view::npos) {
                    end_element_text(out);
                    element_done();
                    state_ = State::Type;
                }
                break;
            }
            case State::HeldLine: {
                const char c = chunk[i++];
                held_ += c;
                if (c == '\n') {
                    finish_held(out);
                    element_done();
                    state_ = State::Type;
                } else if (held_.size() > kMaxHeldLine || !could_be_refusal(held_)) {
                    redactor_.feed(held_, out);  // the rest of the line follows in State::Line
                    held_.clear();
                    state_ = State::Line;
                }
                break;
            }
            case State::Header: {
                const std::size_t newline = chunk.find('\n', i);
                const std::size_t end =
                    newline == std::string_view::npos ? chunk.size() : newline + 1;
                const std::string_view part = chunk.substr(i, end - i);
                line_.append(part);
                i = end;
                if (line_.size() > kMaxHeaderLine) {
                    broken_ = true;
                    break;
                }
                out.append(part);
                if (newline == std::string_view::npos) break;
                std::int64_t n = 0;
                const std::size_t size = line_.size();
                const bool nullable = type_ == '$' || type_ == '*';
                if (size < 4 || line_[size - 2] != '\r' ||
                    !parse_length(std::string_view(line_).substr(1, size - 3), nullable, n) ||
                    n < -1) {
                    broken_ = true;
                    break;
                }
                line_.clear();
                if (type_ == '$' || type_ == '!' || type_ == '=') {
                    if (n < 0) {
                        element_done();
                        state_ = State::Type;
                    } else {
                        blob_left_ = static_cast<std::uint64_t>(n);
                        state_ = n == 0 ? State::BlobCr : State::Blob;
                    }
                    break;
                }
                state_ = State::Type;
                if (n <= 0) {
                    if (type_ != '|') element_done();
                } else {
                    const bool pairs = type_ == '%' || type_ == '|';
                    push_level(pairs ? n * 2 : n, type_ == '|');
                }
                break;
            }
            case State::Blob: {
                const auto n =
                    static_cast<std::size_t>(std::min<std::uint64_t>(blob_left_, chunk.size() - i));
                redactor_.feed(chunk.substr(i, n), out);
                i += n;
                blob_left_ -= n;
                if (blob_left_ == 0) {
                    end_element_text(out);
                    state_ = State::BlobCr;
                }
                break;
            }
            case State::BlobCr:
            case State::BlobLf: {
                const char expected = state_ == State::BlobCr ? '\r' : '\n';
                if (chunk[i] != expected) {
                    broken_ = true;
                    break;
                }
                out += chunk[i++];
                if (state_ == State::BlobCr) {
                    state_ = State::BlobLf;
                } else {
                    element_done();
                    state_ = State::Type;
                }
                break;
            }
        }
    }
}

}  // namespace cloakroom::db::redis
