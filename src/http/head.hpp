// One HTTP/1 head as the proxy handles it: the start line and the fields, in order, as views
// into the head's own bytes, plus the edits the proxy makes (remove hop-by-hop fields, set
// Host, inject a credential). It replaces Beast's parser and fields for heads: the validator
// (head_validator.hpp) already reads every byte strictly, so a second full parse into a
// red-black tree of heap nodes was pure cost. Pure logic, no I/O.
//
// A Head is meant to be reused (one per connection): clear() and parse_*() keep the capacity
// of its buffers, so a keep-alive request allocates nothing here.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cloakroom::http {

struct HeadField {
    std::string_view name;   // as received (or as set)
    std::string_view value;  // without leading or trailing whitespace
};

// Whether a comma-separated list (RFC 9110 §5.6.1) has `token`, ASCII case-insensitive.
bool list_contains(std::string_view list, std::string_view token);

class Head {
  public:
    Head() = default;
    // Views point into the object's own storage: a copy would point into the source. Moves
    // are safe, since neither a vector nor a deque moves its elements when it is moved (which
    // is why the bytes are a vector<char> and not a string with its inline buffer).
    Head(const Head&) = delete;
    Head& operator=(const Head&) = delete;
    Head(Head&&) noexcept = default;
    Head& operator=(Head&&) noexcept = default;

    // `bytes` must have passed validate_request_head / validate_response_head (which this
    // relies on: CRLF line ends, no obs-fold, well-formed start line). Returns false, with
    // the head cleared, if it is not even shaped like a head; that is a defect upstream of it.
    bool parse_request(std::string_view bytes);
    bool parse_response(std::string_view bytes);
    // Empties the head, keeping capacity; text set by set()/add() is overwritten with zeros
    // first, since it includes the injected credential.
    void clear();

    // Request line.
    std::string_view method() const { return method_; }
    std::string_view target() const { return target_; }
    void set_target(std::string_view target) { target_ = own(target); }
    // Status line.
    unsigned status() const { return status_; }
    std::string_view reason() const { return reason_; }
    void set_reason(std::string_view reason) { reason_ = own(reason); }
    // HTTP/1.<minor_version>: 0 or 1.
    unsigned minor_version() const { return minor_version_; }

    const std::vector<HeadField>& fields() const { return fields_; }
    // The first field of that name (ASCII case-insensitive), if any.
    std::optional<std::string_view> find(std::string_view name) const;
    // find(name) or an empty view.
    std::string_view operator[](std::string_view name) const { return find(name).value_or(""); }
    // Removes every field of that name; returns how many.
    std::size_t erase(std::string_view name);
    // Removes the fields for which `drop(field)` is true, keeping the order of the rest.
    template <class Predicate>
    std::size_t erase_if(Predicate drop) {
        std::size_t kept = 0;
        for (std::size_t i = 0; i < fields_.size(); ++i) {
            if (!drop(static_cast<const HeadField&>(fields_[i]))) fields_[kept++] = fields_[i];
        }
        const std::size_t removed = fields_.size() - kept;
        fields_.resize(kept);
        return removed;
    }
    // Replaces every field of that name by one at the end (Beast's set() order).
    void set(std::string_view name, std::string_view value);
    // Appends a field.
    void add(std::string_view name, std::string_view value);

    // Framing, as the validator left it: at most one Content-Length of digits, or a single
    // "chunked" Transfer-Encoding (HTTP/1.1 only), never both.
    bool chunked() const;
    std::optional<std::uint64_t> content_length() const;

    // Persistence (RFC 9112 §9.3): HTTP/1.1 unless Connection lists "close"; HTTP/1.0 only if
    // it lists "keep-alive".
    bool keep_alive() const;
    // Drops Connection and writes what `keep` needs for this version (nothing for a kept
    // HTTP/1.1 connection), as Beast's keep_alive(bool) does once Connection is gone.
    void set_keep_alive(bool keep);

    // "<method> <target> HTTP/1.x\r\n" + "Name: value\r\n"... + "\r\n"
    void append_request(std::string& out) const;
    // "HTTP/1.x <status> <reason>\r\n" + fields + "\r\n"; an empty reason becomes the standard
    // phrase for the status (as Beast writes it).
    void append_response(std::string& out) const;

    // Replaces the value of fields()[index].
    void replace_value(std::size_t index, std::string_view value);
    // Replaces the name of fields()[index] (the caller keeps it a token).
    void replace_name(std::size_t index, std::string_view name);

    // The head as received (parse_*), and whether anything was set or replaced since: until
    // then every name and value is a view into received().
    std::string_view received() const { return {bytes_.data(), bytes_.size()}; }
    bool edited() const { return owned_used_ > 0; }

    // Heap bytes held (for pools that drop heads grown by an unusually large one).
    std::size_t retained_bytes() const;

  private:
    bool fail();
    bool parse_fields(std::string_view rest);
    std::string_view own(std::string_view text);
    std::size_t serialized_fields_size() const;
    void append_fields(std::string& out) const;

    std::vector<char> bytes_;  // the head as received
    // Text set after parsing. A deque never moves its elements, so views into them stay valid;
    // strings are reused (assign keeps capacity) from one request to the next.
    std::deque<std::string> owned_;
    std::size_t owned_used_ = 0;
    std::vector<HeadField> fields_;
    std::string_view method_;
    std::string_view target_;
    std::string_view reason_;
    unsigned status_ = 0;
    unsigned minor_version_ = 1;
};

}  // namespace cloakroom::http
