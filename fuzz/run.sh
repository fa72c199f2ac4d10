#!/usr/bin/env bash
# Fuzzes the service-file parser with cargo-fuzz (libFuzzer) for SECONDS
# (default 180). Needs the nightly toolchain that sits beside stable on the
# development machines; installs cargo-fuzz from crates.io when missing. Not
# part of CI: run it by hand after changing src/config.rs.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-180}
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
mkdir -p corpus/parse_service_file
cp ../examples/going.d/* corpus/parse_service_file/
cargo +nightly fuzz run parse_service_file corpus/parse_service_file -- -max_total_time="$seconds" -max_len=70000
