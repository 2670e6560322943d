# The two commands of the README: `make run` and `make test`. Everything else is a helper.
BUILD_DIR ?= build
JOBS ?= $(shell nproc)
PYTHON := /usr/bin/python3

.PHONY: setup build run test unit e2e fuzz format format-check clean

setup:
	@bash scripts/setup

$(BUILD_DIR)/build.ninja:
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: setup $(BUILD_DIR)/build.ninja
	cmake --build $(BUILD_DIR) -j $(JOBS)

run: build
	@bash scripts/run $(BUILD_DIR)/cloakroom

unit: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)

e2e: build
	CLOAKROOM_BIN=$(abspath $(BUILD_DIR))/cloakroom $(PYTHON) -m pytest -q tests/e2e

test: unit e2e format-check

format:
	clang-format -i $$(find src tests fuzz $$(test -d bench && echo bench) -name '*.cpp' -o -name '*.hpp')

format-check:
	clang-format --dry-run --Werror $$(find src tests fuzz $$(test -d bench && echo bench) -name '*.cpp' -o -name '*.hpp')

fuzz:
	@bash fuzz/run

clean:
	rm -rf $(BUILD_DIR)
