#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs each libFuzzer target in DIR for SECONDS on a scratch copy of its seed corpus, so
# that the committed corpus stays small. Fails on the first finding.
# Usage: run-all.sh DIR SECONDS
set -eu
dir=$1
secs=$2
here=$(cd "$(dirname "$0")" && pwd)
scratch=$(mktemp -d "${TMPDIR:-/tmp}/praxis-fuzz-XXXXXX")
trap 'rm -rf "$scratch"' EXIT
# dash runs the EXIT trap on exit only: turn ^C and kill into an exit so it still cleans up.
trap 'exit 130' INT TERM
# The targets are built with -fsanitize=undefined, whose checks only print and carry on by
# default: libFuzzer would call that input fine and the run would pass. Halting turns
# undefined behaviour into a crash with a saved input. Options the caller set come last,
# so they still win.
UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export UBSAN_OPTIONS
found=0
for t in "$dir"/fuzz_*; do
    [ -f "$t" ] && [ -x "$t" ] || continue
    name=$(basename "$t")
    mkdir -p "$scratch/$name"
    if [ -d "$here/corpus/$name" ]; then
        cp -r "$here/corpus/$name/." "$scratch/$name/"
    fi
    found=1
    echo "== $name for ${secs}s"
    rc=0
    "$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$scratch/$name-" -print_final_stats=1 "$scratch/$name" \
        >"$scratch/$name.log" 2>&1 || rc=$?
    grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|==[0-9]+==ERROR|SUMMARY)' \
        "$scratch/$name.log" || true
    if [ "$rc" != 0 ]; then
        tail -n 40 "$scratch/$name.log"
        for a in "$scratch/$name"-*; do
            [ -e "$a" ] && cp "$a" . && echo "$name: finding saved as ./$(basename "$a")"
        done
        echo "$name: FAILED (exit $rc)"
        exit 1
    fi
done
[ "$found" = 1 ] || { echo "no fuzz targets in $dir" >&2; exit 1; }
