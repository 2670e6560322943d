#include "cli/log_style.hpp"

#include <spdlog/formatter.h>
#include <spdlog/spdlog.h>

#include <memory>
#include <string_view>

namespace cloakroom::cli {
namespace {

class PlainFormatter final : public spdlog::formatter {
  public:
    void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
        append("cloakroom: ", dest);
        switch (msg.level) {
            case spdlog::level::warn:
                append("warning: ", dest);
                break;
            case spdlog::level::err:
            case spdlog::level::critical:
                append("error: ", dest);
                break;
            case spdlog::level::debug:
            case spdlog::level::trace:
                append("debug: ", dest);
                break;
            default:
                break;
        }
        dest.append(msg.payload.data(), msg.payload.data() + msg.payload.size());
        append("\n", dest);
    }
    std::unique_ptr<spdlog::formatter> clone() const override {
        return std::make_unique<PlainFormatter>();
    }

  private:
    static void append(std::string_view text, spdlog::memory_buf_t& dest) {
        dest.append(text.data(), text.data() + text.size());
    }
};

}  // namespace

void install_log_style() {
    spdlog::set_formatter(std::make_unique<PlainFormatter>());
}

}  // namespace cloakroom::cli
