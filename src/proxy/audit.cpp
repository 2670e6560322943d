#include "proxy/audit.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

#include <nlohmann/json.hpp>

namespace cloakroom::proxy {

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

std::string to_json_line(const AuditRecord& record) {
    // ordered_json keeps the documented key order, which makes lines easy to scan by eye.
    const nlohmann::ordered_json line = {
        {"time", rfc3339_ms(record.time_ms)},
        {"token_id", record.token_id},
        {"service", record.service},
        {"host", record.host},
        {"method", record.method},
        {"path", record.path},
        {"decision", record.decision},
        {"reason", record.reason},
        {"status", record.status},
        {"bytes_in", record.bytes_in},
        {"bytes_out", record.bytes_out},
        {"duration_us", record.duration_us},
        {"client", record.client},
    };
    // replace: hosts, paths and reasons can carry request bytes that are not UTF-8.
    return line.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
}

AuditSink::AuditSink(int fd, bool owned) : owned_(owned ? fd : -1), fd_(fd) {}

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
    write_line(to_json_line(record));
}

void AuditSink::write_line(std::string_view line) {
    std::lock_guard lock(mutex_);
    std::size_t done = 0;
    while (done < line.size()) {
        const ssize_t n = ::write(fd_, line.data() + done, line.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            ++write_errors_;
            return;
        }
        done += static_cast<std::size_t>(n);
    }
}

std::uint64_t AuditSink::write_errors() const {
    std::lock_guard lock(mutex_);
    return write_errors_;
}

}  // namespace cloakroom::proxy
