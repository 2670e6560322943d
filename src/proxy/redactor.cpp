#include "proxy/redactor.hpp"

#include <openssl/crypto.h>

#include <algorithm>
#include <cstring>
#include <utility>

namespace cloakroom::proxy {

namespace http = boost::beast::http;

Redactor::Redactor(std::vector<std::string_view> needles) {
    // Build the trie in flat arrays (first-child / next-sibling lists: no allocation per node),
    // then flatten each node's children into edges_ so they are contiguous (most nodes have one
    // child: secrets rarely share prefixes).
    std::size_t total = 1;
    for (const std::string_view needle : needles) total += needle.size();
    std::vector<std::int32_t> first_child;
    std::vector<std::int32_t> next_sibling;
    std::vector<unsigned char> label;  // the byte on the edge into each node
    first_child.reserve(total);
    next_sibling.reserve(total);
    label.reserve(total);
    nodes_.reserve(total);
    first_child.push_back(-1);
    next_sibling.push_back(-1);
    label.push_back(0);
    nodes_.emplace_back();
    for (const std::string_view needle : needles) {
        if (needle.empty()) continue;
        empty_ = false;
        std::int32_t node = 0;
        for (const char c : needle) {
            const auto byte = static_cast<unsigned char>(c);
            std::int32_t found = first_child[static_cast<std::size_t>(node)];
            while (found >= 0 && label[static_cast<std::size_t>(found)] != byte) {
                found = next_sibling[static_cast<std::size_t>(found)];
            }
            if (found >= 0) {
                node = found;
                continue;
            }
            const auto next = static_cast<std::int32_t>(nodes_.size());
            Node created;
            created.depth = nodes_[static_cast<std::size_t>(node)].depth + 1;
            nodes_.push_back(created);
            label.push_back(byte);
            first_child.push_back(-1);
            // Appended at the end of the parent's list, so edges keep insertion order.
            next_sibling.push_back(-1);
            std::int32_t* link = &first_child[static_cast<std::size_t>(node)];
            while (*link >= 0) link = &next_sibling[static_cast<std::size_t>(*link)];
            *link = next;
            node = next;
        }
        Node& end = nodes_[static_cast<std::size_t>(node)];
        end.match = end.depth;
    }
    edges_.reserve(nodes_.size() - 1);
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
        nodes_[i].first_edge = static_cast<std::uint32_t>(edges_.size());
        for (std::int32_t c = first_child[i]; c >= 0;
             c = next_sibling[static_cast<std::size_t>(c)]) {
            edges_.push_back(Edge{label[static_cast<std::size_t>(c)], c});
        }
        nodes_[i].edge_count = static_cast<std::uint32_t>(edges_.size()) - nodes_[i].first_edge;
    }
    const Node& root = nodes_.front();
    for (std::uint32_t k = 0; k < root.edge_count; ++k) {
        const Edge e = edges_[root.first_edge + k];
        root_next_[e.byte] = e.target;
    }
    if (root.edge_count == 1) single_first_byte_ = edges_[root.first_edge].byte;

    // Failure links in breadth-first order: a node's link is the longest proper suffix of its
    // string that is also in the trie; `match` inherits along it (longest needle ending here).
    std::vector<std::int32_t> queue;
    queue.reserve(nodes_.size());
    for (std::uint32_t k = 0; k < root.edge_count; ++k) {
        queue.push_back(edges_[root.first_edge + k].target);
    }
    for (std::size_t head = 0; head < queue.size(); ++head) {
        const std::int32_t u = queue[head];
        const Node& node = nodes_[static_cast<std::size_t>(u)];
        for (std::uint32_t k = 0; k < node.edge_count; ++k) {
            const Edge e = edges_[node.first_edge + k];
            Node& v = nodes_[static_cast<std::size_t>(e.target)];
            v.fail = step(node.fail, e.byte);
            if (v.match == 0) v.match = nodes_[static_cast<std::size_t>(v.fail)].match;
            queue.push_back(e.target);
        }
    }
    // The labels spell out the secrets.
    OPENSSL_cleanse(label.data(), label.size());
}

Redactor::~Redactor() {
    // The automaton spells out the secrets; pending_ may hold a secret's first bytes.
    if (!edges_.empty()) OPENSSL_cleanse(edges_.data(), edges_.size() * sizeof(Edge));
    OPENSSL_cleanse(root_next_.data(), sizeof root_next_);
    if (!pending_.empty()) OPENSSL_cleanse(pending_.data(), pending_.size());
}

std::int32_t Redactor::child(std::int32_t node, unsigned char byte) const {
    const Node& n = nodes_[static_cast<std::size_t>(node)];
    const Edge* edge = edges_.data() + n.first_edge;
    for (std::uint32_t k = 0; k < n.edge_count; ++k) {
        if (edge[k].byte == byte) return edge[k].target;
    }
    return -1;
}

std::int32_t Redactor::step(std::int32_t node, unsigned char byte) const {
    while (node != 0) {
        const std::int32_t next = child(node, byte);
        if (next >= 0) return next;
        node = nodes_[static_cast<std::size_t>(node)].fail;
    }
    return root_next_[byte];
}

std::size_t Redactor::skip(std::string_view in, std::size_t from) const {
    if (single_first_byte_ >= 0) {
        const void* hit = std::memchr(in.data() + from, single_first_byte_, in.size() - from);
        return hit == nullptr ? in.size()
                              : static_cast<std::size_t>(static_cast<const char*>(hit) - in.data());
    }
    while (from < in.size() && root_next_[static_cast<unsigned char>(in[from])] == 0) ++from;
    return from;
}

void Redactor::feed(std::string_view in, std::string& out) {
    if (empty_) {
        out.append(in);
        position_ += in.size();
        return;
    }
    // Bytes from `region` on belong to this call (held-back bytes first, then `in`); matches
    // are starred in place there, and the still-undecided tail goes back to pending_.
    const std::size_t region = out.size();
    out.append(pending_);
    if (!pending_.empty()) OPENSSL_cleanse(pending_.data(), pending_.size());
    pending_.clear();
    const std::size_t base = out.size();
    out.append(in);

    for (std::size_t i = 0; i < in.size(); ++i) {
        if (state_ == 0) {
            i = skip(in, i);
            if (i == in.size()) break;
        }
        state_ = step(state_, static_cast<unsigned char>(in[i]));
        const std::uint32_t length = nodes_[static_cast<std::size_t>(state_)].match;
        if (length == 0) continue;
        const std::uint64_t stream_end = position_ + i + 1;
        const std::uint64_t stream_start = stream_end - length;
        if (stream_start >= starred_until_) ++redactions_;
        starred_until_ = std::max(starred_until_, stream_end);
        // A match reaching before `region` can only cover bytes already starred and emitted
        // (see the hold-back rule below), so clamping loses nothing.
        const std::size_t end = base + i + 1;
        const std::size_t start = end - std::min<std::size_t>(length, end - region);
        std::fill(out.begin() + static_cast<std::ptrdiff_t>(start),
                  out.begin() + static_cast<std::ptrdiff_t>(end), '*');
    }
    position_ += in.size();

    // Hold back the bytes a future match could still start in: the current trie path. When
    // that path is itself a complete needle it is already starred and can go out now (this is
    // what keeps the hold-back below the longest needle's length).
    const Node& node = nodes_[static_cast<std::size_t>(state_)];
    std::size_t hold = node.match == node.depth ? 0 : node.depth;
    hold = std::min(hold, out.size() - region);
    if (hold > 0) {
        pending_.assign(out, out.size() - hold, hold);
        out.resize(out.size() - hold);
    }
}

void Redactor::finish(std::string& out) {
    out.append(pending_);
    if (!pending_.empty()) OPENSSL_cleanse(pending_.data(), pending_.size());
    pending_.clear();
    state_ = 0;
}

void Redactor::reset() {
    if (!pending_.empty()) OPENSSL_cleanse(pending_.data(), pending_.size());
    pending_.clear();
    state_ = 0;
    position_ = 0;
    starred_until_ = 0;
}

std::string Redactor::redact(std::string_view text) {
    reset();
    std::string out;
    out.reserve(text.size());
    feed(text, out);
    finish(out);
    return out;
}

void redact_header_values(http::response_header<>& header,
                          const std::vector<std::string_view>& needles) {
    Redactor redactor(needles);
    std::vector<std::pair<std::string, std::string>> fields;
    bool changed = false;
    for (const auto& field : header) {
        const std::size_t before = redactor.redactions();
        std::string value = redactor.redact(field.value());
        changed = changed || redactor.redactions() != before;
        fields.emplace_back(std::string(field.name_string()), std::move(value));
    }
    if (!changed) return;
    // Beast field values are immutable in place; rebuild the list to keep the order.
    header.clear();
    for (const auto& [name, value] : fields) header.insert(name, value);
}

}  // namespace cloakroom::proxy
