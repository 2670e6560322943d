#!/usr/bin/env bash
# Instructions per keep-alive HTTPS request (and per handshake) of the forward proxy, counted by
# callgrind: a number that does not depend on how loaded the machine is. Uses the build of
# bench/run (build-bench; run bench/run --quick once, or ninja -C build-bench cloakroom
# cloakroom_loadgen). Options: bench/callgrind_request.sh --help
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 bench/callgrind_request.py "$@"
