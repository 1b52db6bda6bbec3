#!/usr/bin/env bash
# The whole test suite: unit tests of every crate and the end-to-end tests that drive a real
# `berth up` with the real kubectl.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --locked --no-fail-fast "$@"
