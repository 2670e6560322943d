#include "http/hop_by_hop.hpp"

#include <array>
#include <cstddef>
#include <vector>

#include "http/head_text.hpp"
#include "util/ascii.hpp"

namespace cloakroom::http {
namespace {

// The field names the Connection fields of a head mark hop-by-hop, each element once, never
// the framing or routing fields. Split once per head: most heads name only connection options
// ("keep-alive", "close"), so a few inline slots hold them and each field is then checked
// against them by length first.
class ConnectionNames {
  public:
    explicit ConnectionNames(const Head& head) {
        for (const HeadField& field : head.fields()) {
            if (field.name.size() != 10 || !ascii_iequals(field.name, "Connection")) continue;
            std::string_view list = field.value;
            while (!list.empty()) {
                const std::size_t comma = list.find(',');
                const std::string_view element = detail::trim_ows(list.substr(0, comma));
                if (!element.empty() && !detail::is_framing_field(element)) add(element);
                if (comma == std::string_view::npos) break;
                list.remove_prefix(comma + 1);
            }
        }
    }

    bool empty() const { return count_ == 0; }

    bool contains(std::string_view name) const {
        for (std::size_t i = 0; i < count_; ++i) {
            const std::string_view element =
                i < inline_.size() ? inline_[i] : more_[i - inline_.size()];
            if (element.size() == name.size() && ascii_iequals(element, name)) return true;
        }
        return false;
    }

  private:
    void add(std::string_view element) {
        if (count_ < inline_.size()) {
            inline_[count_] = element;
        } else {
            more_.push_back(element);
        }
        ++count_;
    }

    std::array<std::string_view, 6> inline_{};
    std::vector<std::string_view> more_;  // only for a head naming more than 6
    std::size_t count_ = 0;
};

}  // namespace

// Runs for every field of every request and response, so it looks at the length first.
bool is_hop_by_hop(std::string_view name) {
    switch (name.size()) {
        case 2:
            return ascii_iequals(name, "TE");
        case 7:
            return ascii_iequals(name, "Trailer") || ascii_iequals(name, "Upgrade");
        case 10:
            return ascii_iequals(name, "Connection") || ascii_iequals(name, "Keep-Alive");
        case 16:
            return ascii_iequals(name, "Proxy-Connection");
        case 18:
            return ascii_iequals(name, "Proxy-Authenticate");
        case 19:
            return ascii_iequals(name, "Proxy-Authorization");
        default:
            return false;
    }
}

void remove_hop_by_hop(Head& head) {
    // Views into the head's storage, which erase_if leaves alone.
    const ConnectionNames named(head);
    if (named.empty()) {
        head.erase_if([](const HeadField& field) { return is_hop_by_hop(field.name); });
        return;
    }
    head.erase_if([&](const HeadField& field) {
        return is_hop_by_hop(field.name) || named.contains(field.name);
    });
}

}  // namespace cloakroom::http
