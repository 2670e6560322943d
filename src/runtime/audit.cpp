#include "runtime/audit.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string_view>

namespace cloakroom::runtime {

std::string rfc3339_ms(std::int64_t unix_ms) {
    std::int64_t seconds = unix_ms / 1000;
    std::int64_t millis = unix_ms % 1000;
    if (millis < 0) {  // floor for times before 1970
        millis += 1000;
        seconds -= 1;
    }
    const auto t = static_cast<std::time_t>(seconds);
    std::tm utc{};
    if (gmtime_r(&t, &utc) == nullptr) return std::to_string(unix_ms) + "ms";
    char buffer[48];
    std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900,
                  utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                  static_cast<int>(millis));
    return buffer;
}

namespace {

// to_json_line() writes the line by hand, byte for byte what nlohmann::ordered_json's
// dump(-1, ' ', false, error_handler_t::replace) produced before (a per-request cost: building
// the json object allocated a node per field). tests/unit/proxy_audit_json_test.cpp holds that
// serializer as the reference and compares on generated records.

// Bytes appended to a JSON string unchanged: printable ASCII (0x7F included, as nlohmann does
// with ensure_ascii off) except '"' and '\\'.
constexpr std::array<bool, 256> kPlain = [] {
    std::array<bool, 256> plain{};
    for (int c = 0x20; c < 0x80; ++c) plain[static_cast<std::size_t>(c)] = true;
    plain['"'] = false;
    plain['\\'] = false;
    return plain;
}();

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD, raw UTF-8

void append_escaped_ascii(std::string& out, unsigned char c) {
    switch (c) {
        case '\b':
            out.append("\\b", 2);
            return;
        case '\t':
            out.append("\\t", 2);
            return;
        case '\n':
            out.append("\\n", 2);
            return;
        case '\f':
            out.append("\\f", 2);
            return;
        case '\r':
            out.append("\\r", 2);
            return;
        case '"':
            out.append("\\\"", 2);
            return;
        case '\\':
            out.append("\\\\", 2);
            return;
        default:
            break;
    }
    // Other control characters: \u00xx, lowercase hex.
    constexpr char kHex[] = "0123456789abcdef";
    const char escape[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
    out.append(escape, sizeof escape);
}

// At a byte >= 0x80: appends the well-formed UTF-8 sequence starting at `i` and returns the
// index after it, or appends one U+FFFD for the ill-formed part and returns where to resume.
// This is nlohmann's replace handler: an invalid lead byte is replaced and skipped; a sequence
// broken by a later byte is replaced up to that byte, which is then read again (it may start
// something valid); a sequence cut short by the end of the string is replaced.
std::size_t append_utf8(std::string& out, std::string_view s, std::size_t i) {
    const auto at = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    const unsigned char lead = at(i);
    std::size_t continuation = 0;
    unsigned char low = 0x80;  // range of the first continuation byte (Unicode table 3-7)
    unsigned char high = 0xBF;
    if (lead >= 0xC2 && lead <= 0xDF) {
        continuation = 1;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
        continuation = 2;
        if (lead == 0xE0) low = 0xA0;
        if (lead == 0xED) high = 0x9F;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
        continuation = 3;
        if (lead == 0xF0) low = 0x90;
        if (lead == 0xF4) high = 0x8F;
    } else {
        out.append(kReplacement);
        return i + 1;
    }
    for (std::size_t k = 1; k <= continuation; ++k) {
        if (i + k >= s.size()) {
            out.append(kReplacement);
            return s.size();
        }
        const unsigned char c = at(i + k);
        if (c < low || c > high) {
            out.append(kReplacement);
            return i + k;
        }
        low = 0x80;
        high = 0xBF;
    }
    out.append(s.data() + i, continuation + 1);
    return i + continuation + 1;
}

void append_json_string(std::string& out, std::string_view s) {
    out.push_back('"');
    std::size_t i = 0;
    while (i < s.size()) {
        std::size_t run = i;
        while (run < s.size() && kPlain[static_cast<unsigned char>(s[run])]) ++run;
        out.append(s.data() + i, run - i);
        if (run == s.size()) break;
        const auto c = static_cast<unsigned char>(s[run]);
        if (c < 0x80) {
            append_escaped_ascii(out, c);
            i = run + 1;
        } else {
            i = append_utf8(out, s, run);
        }
    }
    out.push_back('"');
}

void append_unsigned(std::string& out, std::uint64_t value) {
    char digits[20];
    const auto result = std::to_chars(digits, digits + sizeof digits, value);
    out.append(digits, static_cast<std::size_t>(result.ptr - digits));
}

void append_digits(char*& at, unsigned value, int width) {
    for (int k = width - 1; k >= 0; --k) {
        at[k] = static_cast<char>('0' + value % 10);
        value /= 10;
    }
    at += width;
}

// The "time" value: rfc3339_ms() without gmtime_r and snprintf for years 0000-9999 (days to
// civil date: H. Hinnant's algorithm, proleptic Gregorian like gmtime); rfc3339_ms() otherwise.
void append_time(std::string& out, std::int64_t unix_ms) {
    std::int64_t seconds = unix_ms / 1000;
    std::int64_t millis = unix_ms % 1000;
    if (millis < 0) {
        millis += 1000;
        seconds -= 1;
    }
    std::int64_t days = seconds / 86400;
    std::int64_t second_of_day = seconds % 86400;
    if (second_of_day < 0) {
        second_of_day += 86400;
        days -= 1;
    }
    const std::int64_t z = days + 719468;
    const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const std::int64_t day_of_era = z - era * 146097;
    const std::int64_t year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
    const std::int64_t day_of_year =
        day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    const std::int64_t mp = (5 * day_of_year + 2) / 153;
    const std::int64_t day = day_of_year - (153 * mp + 2) / 5 + 1;
    const std::int64_t month = mp < 10 ? mp + 3 : mp - 9;
    const std::int64_t year = year_of_era + era * 400 + (month <= 2 ? 1 : 0);
    if (year < 0 || year > 9999) {
        append_json_string(out, rfc3339_ms(unix_ms));
        return;
    }
    char text[26];  // "\"2026-01-01T00:00:00.000Z\""
    char* at = text;
    *at++ = '"';
    append_digits(at, static_cast<unsigned>(year), 4);
    *at++ = '-';
    append_digits(at, static_cast<unsigned>(month), 2);
    *at++ = '-';
    append_digits(at, static_cast<unsigned>(day), 2);
    *at++ = 'T';
    append_digits(at, static_cast<unsigned>(second_of_day / 3600), 2);
    *at++ = ':';
    append_digits(at, static_cast<unsigned>(second_of_day / 60 % 60), 2);
    *at++ = ':';
    append_digits(at, static_cast<unsigned>(second_of_day % 60), 2);
    *at++ = '.';
    append_digits(at, static_cast<unsigned>(millis), 3);
    *at++ = 'Z';
    *at++ = '"';
    out.append(text, static_cast<std::size_t>(at - text));
}

// Keys in the documented order, which makes lines easy to scan by eye. Invalid UTF-8 becomes
// U+FFFD: hosts, paths and reasons can carry request bytes that are not UTF-8.
void append_json_line(std::string& line, const AuditRecord& record) {
    line.reserve(line.size() + 224 + record.token_id.size() + record.service.size() +
                 record.host.size() + record.method.size() + record.path.size() +
                 record.decision.size() + record.reason.size() + record.client.size());
    line.append("{\"time\":");
    append_time(line, record.time_ms);
    line.append(",\"kind\":");
    append_json_string(line, record.kind);
    line.append(",\"token_id\":");
    append_json_string(line, record.token_id);
    line.append(",\"service\":");
    append_json_string(line, record.service);
    line.append(",\"host\":");
    append_json_string(line, record.host);
    line.append(",\"method\":");
    append_json_string(line, record.method);
    line.append(",\"path\":");
    append_json_string(line, record.path);
    line.append(",\"decision\":");
    append_json_string(line, record.decision);
    line.append(",\"reason\":");
    append_json_string(line, record.reason);
    line.append(",\"status\":");
    append_unsigned(line, record.status);
    line.append(",\"bytes_in\":");
    append_unsigned(line, record.bytes_in);
    line.append(",\"bytes_out\":");
    append_unsigned(line, record.bytes_out);
    line.append(",\"duration_us\":");
    append_unsigned(line, record.duration_us);
    line.append(",\"client\":");
    append_json_string(line, record.client);
    if (record.kind == kAuditDatabase) {
        line.append(",\"database\":");
        append_json_string(line, record.service);
        line.append(",\"protocol\":");
        append_json_string(line, record.protocol);
        line.append(",\"login\":");
        append_json_string(line, record.login);
        line.append(",\"db_name\":");
        append_json_string(line, record.db_name);
    }
    line.append("}\n");
}

}  // namespace

std::string to_json_line(const AuditRecord& record) {
    std::string line;
    append_json_line(line, record);
    return line;
}

AuditSink::AuditSink(int fd, bool owned) : owned_(owned ? fd : -1), fd_(fd) {
    struct stat st {};
    // Only our own O_APPEND regular file: stdout may be a pipe or a terminal.
    atomic_append_ = owned && ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
}

Result<std::unique_ptr<AuditSink>> AuditSink::open(std::string_view target) {
    if (target.empty()) return make_error("audit.open", "audit log target is empty");
    if (target == "-") return std::unique_ptr<AuditSink>(new AuditSink(STDOUT_FILENO, false));
    const std::string path(target);
    const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        return make_error("audit.open",
                          "cannot open audit log '" + path + "': " + std::strerror(errno));
    }
    return std::unique_ptr<AuditSink>(new AuditSink(fd, true));
}

void AuditSink::write(const AuditRecord& record) {
    // One line per request: built in a buffer the thread keeps (no allocation once it has
    // grown), written before anything else can run on this thread.
    thread_local std::string line;
    line.clear();
    append_json_line(line, record);
    write_line(line);
    if (line.capacity() > 64 * 1024) std::string().swap(line);  // after an unusually long one
}

void AuditSink::write_line(std::string_view line) {
    std::size_t done = 0;
    if (atomic_append_) {
        // Linux appends one write(2) to an O_APPEND regular file as a whole, under the inode
        // lock: lines of concurrent workers cannot interleave, so no lock of ours is needed.
        // Only a short write (disk full) or EINTR continues under the lock below.
        const ssize_t n = ::write(fd_, line.data(), line.size());
        if (n == static_cast<ssize_t>(line.size())) return;
        if (n < 0 && errno != EINTR) {
            write_errors_.fetch_add(1, std::memory_order_relaxed);
            return;
        }
        if (n > 0) done = static_cast<std::size_t>(n);
    }
    std::lock_guard lock(mutex_);
    while (done < line.size()) {
        const ssize_t n = ::write(fd_, line.data() + done, line.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            write_errors_.fetch_add(1, std::memory_order_relaxed);
            return;
        }
        done += static_cast<std::size_t>(n);
    }
}

std::uint64_t AuditSink::write_errors() const {
    return write_errors_.load(std::memory_order_relaxed);
}

}  // namespace cloakroom::runtime
