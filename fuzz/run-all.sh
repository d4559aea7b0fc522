#!/usr/bin/env bash
# Seeds and runs every fuzz target in fuzz/fuzz_targets for SECONDS each.
#
#   fuzz/run-all.sh SECONDS [TARGET...]
#
# Each target runs with -rss_limit_mb=1024 and its dictionary (fuzz/dict/TARGET.dict plus
# the dictionaries its "# include:" line names). One line per target: executions per
# second, corpus size, coverage and the result. Logs and crash inputs go to
# fuzz/artifacts/TARGET/. Exits 1 when any target crashed (or ran out of memory or time
# on one input), 2 when the targets do not build.
#
# FUZZ_FLAGS is passed to cargo fuzz build and run (CI sets `--dev` to reuse the debug
# build it already made; a real campaign uses the default release build).
#
# cargo-fuzz needs nightly features; RUSTC_BOOTSTRAP=1 enables them on stable, and
# `-s none` builds without a sanitizer (safe Rust: the fuzzer looks for panics, stack
# overflows, memory blow-ups and hangs).
set -uo pipefail
secs="${1:?usage: fuzz/run-all.sh SECONDS [TARGET...]}"
shift
fuzz="$(cd "$(dirname "$0")" && pwd)"
cd "$fuzz"
export RUSTC_BOOTSTRAP=1
if [ $# -gt 0 ]; then
  targets="$*"
else
  targets="$(cd fuzz_targets && ls *.rs | sed 's/\.rs$//')"
fi
flags=(${FUZZ_FLAGS:-})
./seed.sh $targets >/dev/null || exit 2
mkdir -p target/dict
: >target/build.log
# cargo fuzz build takes one target at a time (or none for all of them).
if [ $# -gt 0 ]; then
  for t in $targets; do
    cargo fuzz build -s none "${flags[@]}" "$t" >/dev/null 2>>target/build.log || {
      cat target/build.log >&2
      exit 2
    }
  done
else
  cargo fuzz build -s none "${flags[@]}" >/dev/null 2>target/build.log || {
    cat target/build.log >&2
    exit 2
  }
fi
mkdir -p target/dict
failed=0
for t in $targets; do
  mkdir -p "artifacts/$t"
  log="artifacts/$t/run.log"
  dict_args=()
  if [ -f "dict/$t.dict" ]; then
    merged="target/dict/$t.dict"
    : >"$merged"
    for inc in $(sed -n 's/^# include: //p' "dict/$t.dict"); do
      cat "dict/$inc.dict" >>"$merged"
    done
    cat "dict/$t.dict" >>"$merged"
    dict_args=("-dict=$merged")
  fi
  cargo fuzz run -s none "${flags[@]}" "$t" -- \
    -max_total_time="$secs" -rss_limit_mb=1024 -timeout=30 -print_final_stats=1 \
    "${dict_args[@]}" >"$log" 2>&1
  rc=$?
  status="$(grep -E '^#[0-9]+' "$log" | tail -n 1)"
  cov="$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$status")"
  ft="$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$status")"
  corp="$(sed -n 's/.* corp: \([0-9]*\/[0-9]*[a-zA-Z]*\).*/\1/p' <<<"$status")"
  eps="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)"
  runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
  if [ "$rc" -eq 0 ]; then
    result="ok"
  else
    failed=1
    what="$(grep -m1 -oE 'deadly signal|panicked at [^ ]*|out-of-memory|timeout|stack overflow|ERROR: libFuzzer: [a-z-]+' "$log" || true)"
    input="$(grep -m1 -oE 'artifacts/[^ ]*(crash|oom|timeout|slow-unit)-[0-9a-f]+' "$log" || true)"
    result="CRASH (${what:-exit $rc}) ${input:-see $log}"
  fi
  printf '%-11s %8s execs/s  %10s runs  corpus %-12s cov %-6s ft %-6s %s\n' \
    "$t" "${eps:-?}" "${runs:-?}" "${corp:-?}" "${cov:-?}" "${ft:-?}" "$result"
done
exit "$failed"
