#include "secrets/redactor.hpp"

#include <openssl/crypto.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <utility>

#include "secrets/secret_value.hpp"

namespace cloakroom::secrets {

namespace detail {

// The Aho-Corasick automaton for one set of needles. Immutable once built, so Redactors (one per
// response, possibly resumed on other threads) share it; it holds the needles' bytes in its edge
// labels and wipes them on destruction.
class RedactorAutomaton {
  public:
    struct Node {
        std::int32_t fail = 0;
        std::uint32_t first_edge = 0;
        std::uint32_t edge_count = 0;
        std::uint32_t depth = 0;
        std::uint32_t match = 0;  // length of the longest needle that is a suffix; 0 = none
    };

    // Every needle non-empty, at least one.
    explicit RedactorAutomaton(const std::vector<std::string_view>& needles);
    ~RedactorAutomaton();
    RedactorAutomaton(const RedactorAutomaton&) = delete;
    RedactorAutomaton& operator=(const RedactorAutomaton&) = delete;

    const Node& node(std::int32_t index) const { return nodes_[static_cast<std::size_t>(index)]; }
    std::int32_t step(std::int32_t node, unsigned char byte) const;
    // First index >= from where a needle can start (in.size() if none).
    std::size_t skip(std::string_view in, std::size_t from) const;
    // The distinct first bytes of the needles, when there are at most kFewFirstBytes of them
    // (then feed() finds candidates with memchr); empty otherwise.
    static constexpr std::size_t kFewFirstBytes = 4;
    std::string_view few_first_bytes() const {
        return {few_first_bytes_.data(), few_first_byte_count_};
    }
    // Whether any needle occurs in `text`.
    bool contains(std::string_view text) const;

    // The sampled filter (see skip_sampled), on when every needle is at least kMinSampled long.
    static constexpr std::size_t kMinSampled = 4;
    bool sampled() const { return min_length_ >= kMinSampled; }
    std::size_t min_length() const { return min_length_; }
    // First index p >= from where a needle may start, ruling out starts by looking at one byte
    // pair every (shortest needle - 1) bytes: a pair that occurs within the first (shortest)
    // bytes of no needle cannot lie inside the first bytes of an occurrence. Only when sampled().
    std::size_t skip_sampled(std::string_view in, std::size_t from) const;

  private:
    struct Edge {
        unsigned char byte;
        std::int32_t target;
    };

    std::int32_t child(std::int32_t node, unsigned char byte) const;

    std::vector<Node> nodes_;
    std::vector<Edge> edges_;
    std::array<std::int32_t, 256> root_next_{};  // 0 = stays at the root: no needle starts here
    int single_first_byte_ = -1;                 // >= 0 when every needle starts with it
    std::array<char, kFewFirstBytes> few_first_bytes_{};
    std::size_t few_first_byte_count_ = 0;
    std::size_t min_length_ = 0;
    // Bit (a << 8 | b) set when the pair "ab" occurs at offsets [0, min_length_ - 1) of a needle.
    std::array<std::uint64_t, 1024> pairs_{};
    bool pair(unsigned char a, unsigned char b) const {
        const unsigned index = (static_cast<unsigned>(a) << 8) | b;
        return (pairs_[index >> 6] >> (index & 63)) & 1U;
    }
};

RedactorAutomaton::RedactorAutomaton(const std::vector<std::string_view>& needles) {
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
    if (root.edge_count <= kFewFirstBytes) {
        for (std::uint32_t k = 0; k < root.edge_count; ++k) {
            few_first_bytes_[k] = static_cast<char>(edges_[root.first_edge + k].byte);
        }
        few_first_byte_count_ = root.edge_count;
    }

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

    min_length_ = SIZE_MAX;
    for (const std::string_view needle : needles) {
        if (!needle.empty()) min_length_ = std::min(min_length_, needle.size());
    }
    if (sampled()) {
        for (const std::string_view needle : needles) {
            for (std::size_t o = 0; o + 1 < min_length_; ++o) {
                const unsigned index =
                    (static_cast<unsigned>(static_cast<unsigned char>(needle[o])) << 8) |
                    static_cast<unsigned char>(needle[o + 1]);
                pairs_[index >> 6] |= std::uint64_t{1} << (index & 63);
            }
        }
    }
}

RedactorAutomaton::~RedactorAutomaton() {
    // The edge labels spell out the secrets.
    if (!edges_.empty()) OPENSSL_cleanse(edges_.data(), edges_.size() * sizeof(Edge));
    OPENSSL_cleanse(root_next_.data(), sizeof root_next_);
    OPENSSL_cleanse(pairs_.data(), sizeof pairs_);
}

std::int32_t RedactorAutomaton::child(std::int32_t node, unsigned char byte) const {
    const Node& n = nodes_[static_cast<std::size_t>(node)];
    const Edge* edge = edges_.data() + n.first_edge;
    for (std::uint32_t k = 0; k < n.edge_count; ++k) {
        if (edge[k].byte == byte) return edge[k].target;
    }
    return -1;
}

std::int32_t RedactorAutomaton::step(std::int32_t node, unsigned char byte) const {
    while (node != 0) {
        const std::int32_t next = child(node, byte);
        if (next >= 0) return next;
        node = nodes_[static_cast<std::size_t>(node)].fail;
    }
    return root_next_[byte];
}

std::size_t RedactorAutomaton::skip(std::string_view in, std::size_t from) const {
    if (single_first_byte_ >= 0) {
        const void* hit = std::memchr(in.data() + from, single_first_byte_, in.size() - from);
        return hit == nullptr ? in.size()
                              : static_cast<std::size_t>(static_cast<const char*>(hit) - in.data());
    }
    if (few_first_byte_count_ > 0) {
        // The nearest of the few first bytes, each found by memchr (vectorised): a bearer
        // credential has two ("Bearer S" and S), and text rarely holds either.
        std::size_t best = in.size();
        for (std::size_t k = 0; k < few_first_byte_count_ && from < best; ++k) {
            const void* hit = std::memchr(in.data() + from, few_first_bytes_[k], best - from);
            if (hit != nullptr) {
                best = static_cast<std::size_t>(static_cast<const char*>(hit) - in.data());
            }
        }
        return best;
    }
    while (from < in.size() && root_next_[static_cast<unsigned char>(in[from])] == 0) ++from;
    return from;
}

std::size_t RedactorAutomaton::skip_sampled(std::string_view in, std::size_t from) const {
    // Samples at q = from + (m - 2) + k (m - 1), m the shortest needle's length. An occurrence
    // starting at p >= from covers the pairs starting at p .. p + m - 2; the first sample at or
    // after p is at most m - 2 further, so its pair lies within the needle's first m bytes. When
    // sample k is negative for every k < K, no occurrence starts before q_K - (m - 2).
    const std::size_t reach = min_length_ - 2;
    const std::size_t stride = min_length_ - 1;
    const auto* bytes = reinterpret_cast<const unsigned char*>(in.data());
    std::size_t q = from + reach;
    while (q + 1 < in.size() && !pair(bytes[q], bytes[q + 1])) q += stride;
    return std::min(q - reach, in.size());
}

bool RedactorAutomaton::contains(std::string_view text) const {
    std::int32_t state = 0;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (state == 0) {
            i = sampled() ? skip_sampled(text, i) : skip(text, i);
            if (i == text.size()) break;
        } else if (sampled() && node(state).depth == 1) {
            // The only occurrence in progress started at i - 1: rule it out if the filter can.
            const std::size_t next = skip_sampled(text, i - 1);
            if (next > i - 1) {
                state = 0;
                i = next;
                if (i == text.size()) break;
            }
        }
        state = step(state, static_cast<unsigned char>(text[i]));
        if (node(state).match != 0) return true;
    }
    return false;
}

}  // namespace detail

namespace {

using detail::RedactorAutomaton;

thread_local detail::RedactorCacheStats cache_stats;
thread_local bool collide_hashes = false;

// Compiling the automaton was a per-response cost (the needles are the injected credential, the
// same for every request to a service), so compiled automata are kept per thread, keyed by the
// needles' exact bytes: a rotated secret is a different key, and a hash only picks candidates.
// Each entry's key is a copy of secret values, held in a SecretValue (wiped when the entry is
// replaced and at thread exit), like the automaton itself (wiped when its last Redactor goes).
class AutomatonCache {
  public:
    static constexpr std::size_t kCapacity = 16;

    AutomatonCache() { entries_.reserve(kCapacity); }

    // `needles`: all non-empty, at least one.
    std::shared_ptr<const RedactorAutomaton> get(const std::vector<std::string_view>& needles) {
        const std::uint64_t hash = hash_of(needles);
        ++clock_;
        for (Entry& entry : entries_) {
            if (entry.hash == hash && same_needles(entry.key.reveal(), needles)) {
                entry.last_use = clock_;
                ++cache_stats.hits;
                return entry.automaton;
            }
        }
        ++cache_stats.misses;
        auto automaton = std::make_shared<const RedactorAutomaton>(needles);
        Entry* slot = nullptr;
        if (entries_.size() < kCapacity) {
            slot = &entries_.emplace_back();
        } else {  // evict the least recently used
            slot = &*std::min_element(
                entries_.begin(), entries_.end(),
                [](const Entry& a, const Entry& b) { return a.last_use < b.last_use; });
        }
        slot->hash = hash;
        slot->last_use = clock_;
        slot->key = secrets::SecretValue(encode(needles));  // wipes the evicted key
        slot->automaton = automaton;
        return automaton;
    }

  private:
    struct Entry {
        std::uint64_t hash = 0;
        std::uint64_t last_use = 0;
        secrets::SecretValue key;  // the needles, each after its 8-byte length
        std::shared_ptr<const RedactorAutomaton> automaton;
    };

    // FNV-1a over lengths and bytes. Only an index: a hit compares the full key.
    static std::uint64_t hash_of(const std::vector<std::string_view>& needles) {
        if (collide_hashes) return 0;
        std::uint64_t hash = 0xcbf29ce484222325ULL;
        const auto mix = [&hash](unsigned char byte) {
            hash ^= byte;
            hash *= 0x100000001b3ULL;
        };
        for (const std::string_view needle : needles) {
            std::uint64_t length = needle.size();
            for (int k = 0; k < 8; ++k, length >>= 8) mix(static_cast<unsigned char>(length));
            for (const char c : needle) mix(static_cast<unsigned char>(c));
        }
        return hash;
    }

    static std::string encode(const std::vector<std::string_view>& needles) {
        std::size_t total = 0;
        for (const std::string_view needle : needles)
            total += sizeof(std::uint64_t) + needle.size();
        std::string key;
        key.reserve(total);  // never grows past this: no unwiped copy left in freed memory
        for (const std::string_view needle : needles) {
            const std::uint64_t length = needle.size();
            key.append(reinterpret_cast<const char*>(&length), sizeof length);
            key.append(needle);
        }
        return key;
    }

    static bool same_needles(std::string_view key, const std::vector<std::string_view>& needles) {
        std::size_t at = 0;
        for (const std::string_view needle : needles) {
            std::uint64_t length = 0;
            if (key.size() - at < sizeof length) return false;
            std::memcpy(&length, key.data() + at, sizeof length);
            at += sizeof length;
            if (length != needle.size() || key.size() - at < length) return false;
            if (std::memcmp(key.data() + at, needle.data(), needle.size()) != 0) return false;
            at += needle.size();
        }
        return at == key.size();
    }

    std::vector<Entry> entries_;
    std::uint64_t clock_ = 0;
};

std::shared_ptr<const RedactorAutomaton> compiled(std::vector<std::string_view> needles) {
    std::erase_if(needles, [](std::string_view needle) { return needle.empty(); });
    if (needles.empty()) return nullptr;
    thread_local AutomatonCache cache;
    return cache.get(needles);
}

}  // namespace

namespace detail {

RedactorCacheStats redactor_cache_stats() {
    return cache_stats;
}

void redactor_cache_collide_hashes(bool on) {
    collide_hashes = on;
}

}  // namespace detail

CompiledNeedles::CompiledNeedles(std::vector<std::string_view> needles)
    : automaton_(compiled(std::move(needles))) {}

Redactor CompiledNeedles::redactor() const {
    Redactor fresh{std::vector<std::string_view>{}};
    fresh.automaton_ = automaton_;
    return fresh;
}

Redactor::Redactor(std::vector<std::string_view> needles)
    : automaton_(compiled(std::move(needles))) {}

Redactor::~Redactor() {
    // pending_ may hold a secret's first bytes.
    if (!pending_.empty()) OPENSSL_cleanse(pending_.data(), pending_.size());
}

template <class Star>
void Redactor::scan(std::string_view in, Star&& star) {
    const RedactorAutomaton* automaton = automaton_.get();
    // With few distinct first bytes, the next candidate start is the nearest of their next
    // occurrences, each found by memchr (vectorised) and remembered until passed: linear in the
    // input, instead of a table lookup per byte.
    const std::string_view firsts = automaton->few_first_bytes();
    std::array<std::size_t, detail::RedactorAutomaton::kFewFirstBytes> next_at{};
    const auto next_start = [&](std::size_t from) {
        std::size_t best = in.size();
        for (std::size_t k = 0; k < firsts.size(); ++k) {
            if (next_at[k] < from) {
                const void* hit = std::memchr(in.data() + from, firsts[k], in.size() - from);
                next_at[k] =
                    hit == nullptr
                        ? in.size()
                        : static_cast<std::size_t>(static_cast<const char*>(hit) - in.data());
            }
            best = std::min(best, next_at[k]);
        }
        return best;
    };
    // next_at[k] is a position where no occurrence of firsts[k] lies in [from, next_at[k]), or
    // stale (< from, looked up again). Starting at 0 only costs one harmless step at offset 0.
    const bool sampled = automaton->sampled();
    for (std::size_t i = 0; i < in.size(); ++i) {
        if (state_ == 0) {
            i = sampled          ? automaton->skip_sampled(in, i)
                : firsts.empty() ? automaton->skip(in, i)
                                 : next_start(i);
            if (i == in.size()) break;
        } else if (sampled && i > 0 && automaton->node(state_).depth == 1) {
            // The only occurrence in progress started at in[i - 1] (a depth-1 state is one
            // byte): when the filter rules that start out, go back to skipping.
            const std::size_t next = automaton->skip_sampled(in, i - 1);
            if (next > i - 1) {
                state_ = 0;
                i = next;
                if (i == in.size()) break;
            }
        }
        state_ = automaton->step(state_, static_cast<unsigned char>(in[i]));
        const std::uint32_t length = automaton->node(state_).match;
        if (length == 0) continue;
        const std::uint64_t stream_end = position_ + i + 1;
        const std::uint64_t stream_start = stream_end - length;
        if (stream_start >= starred_until_) ++redactions_;
        starred_until_ = std::max(starred_until_, stream_end);
        star(i + 1, length);
    }
    position_ += in.size();
}

std::size_t Redactor::held_back_path() const {
    // The bytes a future match could still start in: the current trie path. When that path is
    // itself a complete needle it is already starred and can go out now (this is what keeps the
    // hold-back below the longest needle's length).
    const RedactorAutomaton::Node& node = automaton_->node(state_);
    return node.match == node.depth ? 0 : node.depth;
}

void Redactor::feed(std::string_view in, std::string& out) {
    if (automaton_ == nullptr) {
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
    scan(in, [&](std::size_t end_in_input, std::uint32_t length) {
        // A match reaching before `region` can only cover bytes already starred and emitted
        // (see the hold-back rule), so clamping loses nothing.
        const std::size_t end = base + end_in_input;
        const std::size_t start = end - std::min<std::size_t>(length, end - region);
        std::fill(out.begin() + static_cast<std::ptrdiff_t>(start),
                  out.begin() + static_cast<std::ptrdiff_t>(end), '*');
    });
    const std::size_t hold = std::min(held_back_path(), out.size() - region);
    if (hold > 0) {
        pending_.assign(out, out.size() - hold, hold);
        out.resize(out.size() - hold);
    }
}

std::size_t Redactor::feed_in_place(std::span<char> in, std::string& before, bool last) {
    if (automaton_ == nullptr) {
        position_ += in.size();
        return in.size();
    }
    // As feed(), with `in` starred where it lies: the held-back bytes go to `before` (from
    // `region` on), a match may reach back into them.
    const std::size_t region = before.size();
    before.append(pending_);
    if (!pending_.empty()) OPENSSL_cleanse(pending_.data(), pending_.size());
    pending_.clear();
    scan(std::string_view(in.data(), in.size()), [&](std::size_t end, std::uint32_t length) {
        const std::size_t start = end - std::min<std::size_t>(length, end);
        std::fill(in.begin() + static_cast<std::ptrdiff_t>(start),
                  in.begin() + static_cast<std::ptrdiff_t>(end), '*');
        if (length > end) {
            const std::size_t back = std::min<std::size_t>(length - end, before.size() - region);
            std::fill(before.end() - static_cast<std::ptrdiff_t>(back), before.end(), '*');
        }
    });
    if (last) {  // as finish(): what is held back goes out as it is
        state_ = 0;
        return in.size();
    }
    const std::size_t hold = std::min(held_back_path(), before.size() - region + in.size());
    if (hold <= in.size()) {
        pending_.assign(in.data() + in.size() - hold, hold);
        return in.size() - hold;
    }
    // A piece shorter than the path: all of it waits, and the end of `before` too.
    const std::size_t from_before = hold - in.size();
    pending_.assign(before, before.size() - from_before, from_before);
    pending_.append(in.data(), in.size());
    OPENSSL_cleanse(before.data() + before.size() - from_before, from_before);
    before.resize(before.size() - from_before);
    return 0;
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

bool Redactor::may_match(std::size_t length) const {
    return automaton_ != nullptr && length >= automaton_->min_length();
}

bool CompiledNeedles::contains(std::string_view text) const {
    return automaton_ != nullptr && automaton_->contains(text);
}

}  // namespace cloakroom::secrets
