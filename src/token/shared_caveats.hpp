// A verified token's caveats, shared instead of copied: a verification-cache hit hands out the
// cached entry's list (an aliasing shared_ptr, no allocation), so a keep-alive request with a
// known token copies no caveat. Read-only: caveats are evaluated afresh on every request, never
// changed after the signature check. Reads like a const std::vector<Caveat> (converts to one).
#pragma once

#include <cstddef>
#include <memory>
#include <utility>
#include <vector>

#include "token/caveat.hpp"

namespace cloakroom::token {

class SharedCaveats {
  public:
    using List = std::vector<Caveat>;

    SharedCaveats() = default;
    // A list of its own (a verification without the cache, or tests).
    SharedCaveats(List caveats)  // NOLINT(google-explicit-constructor): reads like the list
        : list_(caveats.empty() ? nullptr : std::make_shared<const List>(std::move(caveats))) {}
    // A list owned by something else `owner` keeps alive (a cache entry).
    template <class Owner>
    SharedCaveats(std::shared_ptr<Owner> owner, const List& caveats)
        : list_(std::move(owner), &caveats) {}

    const List& list() const { return list_ ? *list_ : no_caveats(); }
    operator const List&() const { return list(); }  // NOLINT(google-explicit-constructor)

    std::size_t size() const { return list().size(); }
    bool empty() const { return list().empty(); }
    List::const_iterator begin() const { return list().begin(); }
    List::const_iterator end() const { return list().end(); }
    const Caveat& operator[](std::size_t at) const { return list()[at]; }
    void clear() { list_.reset(); }

    bool operator==(const SharedCaveats& other) const { return list() == other.list(); }
    bool operator==(const List& other) const { return list() == other; }

  private:
    static const List& no_caveats() {
        static const List kEmpty;
        return kEmpty;
    }
    std::shared_ptr<const List> list_;
};

}  // namespace cloakroom::token
