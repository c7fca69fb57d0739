#!/usr/bin/env bash
# Runs every lltls benchmark and prints one table: lltls with its in-place
# record layer, lltls with rustls's record layer (--record-layer rustls) and
# rustls's buffered API (and openssl where it applies; in memory also rustls
# 0.24's Connection), with ratios. See BENCHMARKS.md.
#
# Usage: scripts/bench.sh [--quick] [--strict]
#
#   --quick   small sizes, one run each (under two minutes after the build);
#             CI runs it so the benchmark cannot rot
#   --strict  exit non-zero if a loopback transfer failed or was not
#             byte-exact (by default such a row shows FAIL and the script
#             goes on: a benchmark reports, the tests judge)
#
# Parts:
#   1-4. in-memory (cargo bench --bench inmem): bulk transfer against the
#        bare AEAD's limit, handshakes, allocations per record and per
#        handshake, heap per idle connection; then lltls against rustls
#        0.24's own API (its Connection) on the same measures (the
#        rustls-0.24 column, ratio ip/r24), and lltls's split halves against
#        0.24's SplitConnection (rows ending in "split")
#   5.   loopback, byte-exact (SHA-256 of what arrived against the payload):
#        one-way (client -> server -> tcp_sink) and echo (client -> server ->
#        client), llclient/llserver in both record-layer modes against the
#        buffered pair in examples/; and each client (llclient in both
#        modes, buffered_client, openssl s_client) into the same openssl
#        s_server; with each process's peak RSS and user CPU time; and
#        llclient in both modes into s_server > /dev/null (more runs: the
#        closest look at the client's own wall and CPU time)
#   4b.  a server process holding many idle TLS connections: RSS growth per
#        connection, llserver in both modes and the buffered server
#   4c.  the same for many stalled handshakes: each client sends 12 KiB of
#        a ClientHello record announcing 16 KiB and stops
#   context: `openssl speed -evp aes-256-gcm` on one core, 16 KiB blocks
#
# Everything is built in the dev profile the tests use (our crate at
# opt-level 1, dependencies at 3; BENCHMARKS.md measures what that costs).
# Servers listen on port 0 and report their port; every wait is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

mode=full
strict=false
for arg in "$@"; do
    case "$arg" in
        --quick) mode=quick ;;
        --strict) strict=true ;;
        -h | --help)
            sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "bench.sh: unknown argument $arg" >&2
            exit 2
            ;;
    esac
done

if [ "$mode" = quick ]; then
    payload_mib=64
    runs=1
    idle_count=1000
    stall_count=1000
    speed_seconds=1
    transfer_timeout=30
else
    payload_mib=1024
    runs=3
    idle_count=10000
    stall_count=5000
    speed_seconds=3
    transfer_timeout=600
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/lltls-bench.XXXXXX")
# The payload and what arrives are kept in memory (tmpfs) where there is
# one, and hashed after the clock stops: coreutils' sha256sum runs at about
# 200 MiB/s here, slower than the pairs under test, and on two cores any
# hashing in the pipeline would compete with them for CPU.
data=$work
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
    data=$(mktemp -d /dev/shm/lltls-bench.XXXXXX)
fi
rows="$work/rows.tsv"
problems="$work/problems.txt"
: >"$rows"
: >"$problems"
# Background processes this script started, killed on exit by their ids.
pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    rm -rf "$work" "$data"
}
trap cleanup EXIT

note() { echo "bench: $*" >&2; }
problem() {
    note "PROBLEM: $*"
    echo "$*" >>"$problems"
}

# row SECTION CASE LLTLS BUFFERED OPENSSL UNIT BETTER [RUSTLS_MODE] ("-"
# for none): LLTLS is lltls with its in-place record layer (the default),
# RUSTLS_MODE lltls with --record-layer rustls (last, as the TSV the
# in-memory bench writes).
row() {
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" "$6" "$7" "${8:--}" >>"$rows"
}

# ---------------------------------------------------------------- build
note "building (dev profile)"
cargo build --quiet --bins --examples
# The in-memory bench's executable, run directly from here on: a source
# edit during the run (the tree may be worked on meanwhile) must not make a
# later step rebuild, or fail to.
# (The JSON lists the programs built for it too: pick the bench target's.)
inmem_bin=$(cargo bench --quiet --profile dev --bench inmem --no-run --message-format json 2>/dev/null |
    grep '"kind":\["bench"\]' | grep -o '"executable":"[^"]*"' | tail -n1 | cut -d'"' -f4) ||
    cargo bench --profile dev --bench inmem --no-run
# Wherever cargo puts its output (CARGO_TARGET_DIR, a config file, ...).
target_dir=$(cargo metadata --format-version 1 --no-deps 2>/dev/null |
    grep -o '"target_directory":"[^"]*"' | cut -d'"' -f4)
bin="${target_dir:-$root/target}/debug"
ex="$bin/examples"
inmem() {
    if [[ "$inmem_bin" == */inmem-* ]] && [ -x "$inmem_bin" ]; then
        "$inmem_bin" "$@"
    else
        cargo bench --quiet --profile dev --bench inmem -- "$@"
    fi
}

certs="$root/certs"
ca="$certs/ca.pem"

have_time=false
if [ -x /usr/bin/time ]; then
    have_time=true
else
    note "/usr/bin/time not found: client peak RSS is not measured (apt-get install time)"
fi
have_openssl=false
if command -v openssl >/dev/null 2>&1; then
    have_openssl=true
else
    note "openssl not found: its rows are empty"
fi

load_before=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- context
if $have_openssl; then
    note "openssl speed -evp aes-256-gcm (${speed_seconds}s, one core)"
    # -mr prints "+F:N:AES-256-GCM:BYTES_PER_SECOND" for the one block size.
    speed=$(openssl speed -evp aes-256-gcm -bytes 16384 -seconds "$speed_seconds" -mr 2>/dev/null |
        awk -F: '/^\+F:/ { printf "%.0f", $4 / 1048576 }')
    row "context" "AES-256-GCM, one core, 16 KiB blocks (openssl speed)" - - "${speed:--}" MiB/s -
fi

# ---------------------------------------------------------------- in-memory
note "in-memory benchmarks (cargo bench --bench inmem)"
if [ "$mode" = quick ]; then
    inmem --quick --tsv >>"$rows"
else
    inmem --tsv >>"$rows"
fi

# ---------------------------------------------------------------- helpers

# listen_port PID: the TCP port PID listens on, read from /proc (for
# openssl s_server, which prints its port only among other output).
# Bounded: gives up after 10 seconds.
listen_port() {
    local pid=$1 i inode hex
    for i in $(seq 200); do
        for inode in $(ls -l "/proc/$pid/fd" 2>/dev/null | sed -n 's/.*socket:\[\([0-9]*\)\]$/\1/p'); do
            hex=$(awk -v ino="$inode" '$10 == ino && $4 == "0A" { split($2, a, ":"); print a[2] }' \
                /proc/net/tcp /proc/net/tcp6)
            if [ -n "$hex" ]; then
                echo $((16#$hex))
                return 0
            fi
        done
        kill -0 "$pid" 2>/dev/null || return 1
        # Polls /proc until the listener appears, within the bound above.
        sleep 0.05
    done
    return 1
}

# start_listener NAME CMD...: starts CMD in the background and reads the
# port from the "listening on ADDR" line it prints on stdout (NAME.ready)
# or, with NAME ending in "-stderr", on stderr. Sets LISTENER_PID and
# LISTENER_PORT.
start_listener() {
    local name=$1 fifo line fd
    shift
    fifo="$work/$name.ready"
    rm -f "$fifo"
    mkfifo "$fifo"
    if [[ "$name" == *-stderr ]]; then
        "$@" 2>"$fifo" &
    else
        "$@" >"$fifo" 2>"$work/$name.err" &
    fi
    LISTENER_PID=$!
    pids+=("$LISTENER_PID")
    exec {fd}<"$fifo"
    if ! read -r -t 20 -u "$fd" line; then
        exec {fd}<&-
        problem "$name did not report a port"
        return 1
    fi
    # Keep draining whatever else it prints, so it never blocks on the pipe.
    cat <&"$fd" >/dev/null &
    exec {fd}<&-
    LISTENER_PORT=${line##*:}
}

# child_of PID NAME: the child of PID running NAME (bounded wait for it to
# appear; the process substitutions of a command are its children too).
child_of() {
    local i child
    for i in $(seq 100); do
        for child in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
            if [ "$(cat "/proc/$child/comm" 2>/dev/null)" = "$2" ]; then
                echo "$child"
                return 0
            fi
        done
        sleep 0.05
    done
    return 1
}

# vm_hwm PID: peak RSS of a running process, KiB.
vm_hwm() { awk '/^VmHWM/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo -; }
vm_rss() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo -; }

# stop PID: ends a process this script started and reaps it.
stop() {
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

# run_client OUTFILE CMD...: runs a client with the payload on stdin,
# stdout to OUTFILE, bounded by $transfer_timeout; records the wall time in
# CLIENT_SECONDS, its peak RSS (KiB) in CLIENT_RSS, its user CPU time
# (seconds) in CLIENT_USER and its user + system CPU time in CLIENT_CPU.
run_client() {
    local out=$1 start end status=0
    shift
    local timer=()
    rm -f "$work/client.rss"
    if $have_time; then
        timer=(/usr/bin/time -f '%M %U %S' -o "$work/client.rss")
    fi
    start=$(date +%s.%N)
    # time(1) outside timeout(1): it reports the largest RSS of the process
    # tree it waited for, which is the client's.
    "${timer[@]}" timeout "$transfer_timeout" "$@" <"$payload" >"$out" 2>"$work/client.err" ||
        status=$?
    end=$(date +%s.%N)
    CLIENT_SECONDS=$(echo "$start $end" | awk '{ printf "%.3f", $2 - $1 }')
    CLIENT_RSS=-
    CLIENT_USER=-
    CLIENT_CPU=-
    if $have_time && [ -s "$work/client.rss" ]; then
        # time(1) puts "Command exited with non-zero status N" first when
        # the command failed; the figures are on the last line.
        local sys
        read -r CLIENT_RSS CLIENT_USER sys < <(tail -n1 "$work/client.rss")
        # System time counts here: a client's read(2) of its input and its
        # writes to the socket (copies, TCP) are most of its work.
        CLIENT_CPU=$(echo "$CLIENT_USER $sys" | awk '{ printf "%.2f", $1 + $2 }')
    fi
    return "$status"
}

# user_cpu PID: user CPU seconds of a running process so far (from
# /proc/PID/stat, in clock ticks), or "-".
clk_tck=$(getconf CLK_TCK 2>/dev/null || echo 100)
user_cpu() {
    # Field 14 is utime; the command name (field 2) is cut off first, as
    # it may contain spaces.
    sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null |
        awk -v hz="$clk_tck" '{ printf "%.2f", $12 / hz }' || true
}

mib_per_s() { echo "$payload_mib $1" | awk '{ printf "%.1f", $1 / $2 }'; }

# median of the arguments ("-" if none)
median() {
    if [ $# -eq 0 ]; then
        echo -
        return
    fi
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

# received_sha FILE [BYTES]: SHA-256 of FILE (of its first BYTES), then
# removes it.
received_sha() {
    local sha
    if [ $# -ge 2 ]; then
        sha=$(head -c "$2" "$1" | sha256sum | cut -d' ' -f1)
    else
        sha=$(sha256sum <"$1" | cut -d' ' -f1)
    fi
    rm -f "$1"
    echo "$sha"
}

# client_cmd KIND PORT: sets CLIENT to the command line of client KIND
# (lltls, lltls-rustls, buffered, buffered-drain or openssl) for
# localhost:PORT.
client_cmd() {
    case "$1" in
        lltls) CLIENT=("$bin/llclient" --port "$2" --cafile "$ca" localhost) ;;
        lltls-rustls) CLIENT=("$bin/llclient" --port "$2" --cafile "$ca" --record-layer rustls
            localhost) ;;
        buffered) CLIENT=("$ex/buffered_client" --port "$2" --cafile "$ca" localhost) ;;
        buffered-drain) CLIENT=("$ex/buffered_client" --port "$2" --cafile "$ca" --drain localhost) ;;
        # -nocommands: without it s_client takes payload lines beginning
        # with R, K or Q for commands (renegotiate, key update, quit).
        openssl) CLIENT=(openssl s_client -connect "127.0.0.1:$2" -servername localhost
            -CAfile "$ca" -quiet -no_ign_eof -nocommands) ;;
    esac
}

# server_cmd KIND MODE...: sets SERVER to the command line of server KIND
# (lltls, lltls-rustls, buffered or buffered-drain) in MODE (echo, forward
# PORT).
server_cmd() {
    local kind=$1
    shift
    case "$kind" in
        lltls) SERVER=("$bin/llserver" --port 0 --certs "$certs/fullchain.pem"
            --key "$certs/server.key" "$@") ;;
        lltls-rustls) SERVER=("$bin/llserver" --port 0 --certs "$certs/fullchain.pem"
            --key "$certs/server.key" --record-layer rustls "$@") ;;
        buffered) SERVER=("$ex/buffered_server" --certs "$certs/fullchain.pem"
            --key "$certs/server.key" "$@") ;;
        buffered-drain) SERVER=("$ex/buffered_server" --certs "$certs/fullchain.pem"
            --key "$certs/server.key" --drain "$@") ;;
    esac
}

# check_run WHAT STATUS SHA: reports a failed or inexact run; sets R_RATE,
# R_WALL, R_CLIENT_RSS, R_CLIENT_USER, R_CLIENT_CPU (from run_client),
# R_SERVER_RSS and R_SERVER_USER (from $server_rss and $server_user) when it
# was good. SHA "-" skips the comparison (output not kept).
check_run() {
    local what=$1 status=$2 sha=$3
    if [ "$status" -ne 0 ]; then
        problem "$what: client exited with status $status$([ "$status" -eq 124 ] && echo ' (timed out)'): $(head -c 300 "$work/client.err" | tr '\n' ' ')"
        return 1
    fi
    if [ "$sha" != - ] && [ "$sha" != "$payload_sha" ]; then
        problem "$what: received data differs from the payload (sha256 ${sha:-none})"
        return 1
    fi
    R_RATE=$(mib_per_s "$CLIENT_SECONDS")
    R_WALL=$CLIENT_SECONDS
    R_CLIENT_RSS=$CLIENT_RSS
    R_CLIENT_USER=$CLIENT_USER
    R_CLIENT_CPU=$CLIENT_CPU
    R_SERVER_RSS=$server_rss
    R_SERVER_USER=${server_user:--}
}

# one_way KIND: pair KIND's client -> its server in forward mode ->
# tcp_sink > file, once; then the file's SHA-256 against the payload's.
# Sets R_RATE (MiB/s), R_CLIENT_RSS and R_SERVER_RSS (KiB).
one_way() {
    local kind=$1 sink_pid server_pid server_rss server_user status=0
    local received="$data/received"
    start_listener sink-stderr "$ex/tcp_sink" >"$received" || return 1
    sink_pid=$LISTENER_PID
    server_cmd "$kind" forward "$LISTENER_PORT"
    if ! start_listener server "${SERVER[@]}"; then
        stop "$sink_pid"
        return 1
    fi
    server_pid=$LISTENER_PID
    client_cmd "$kind" "$LISTENER_PORT"
    run_client /dev/null "${CLIENT[@]}" || status=$?
    # The server closes its relay connection once it has forwarded
    # everything, and the sink then ends: only then is the server's work
    # (and CPU time) complete. Bounded; stopping the server ends it too.
    timeout 20 tail --pid="$sink_pid" -f /dev/null 2>/dev/null || true
    server_rss=$(vm_hwm "$server_pid")
    server_user=$(user_cpu "$server_pid")
    stop "$server_pid"
    wait "$sink_pid" 2>/dev/null || true
    check_run "one-way $kind" "$status" "$(received_sha "$received")"
}

# into_openssl KIND [OUT]: client KIND -> openssl s_server > file (or >
# OUT, then unchecked), once: the same server for every client, so this
# compares the clients alone. Sets R_RATE, R_CLIENT_RSS and R_SERVER_RSS.
into_openssl() {
    local kind=$1 wrapper server_pid server_rss=- server_user=- port status=0 timer=()
    local received=${2:-$data/received}
    # s_server writes what it receives to stdout. Its stdin must stay open,
    # or it closes the connection at once: a FIFO opened read-write never
    # reaches end-of-file.
    rm -f "$work/hold" "$work/server.rss"
    mkfifo "$work/hold"
    exec {hold}<>"$work/hold"
    if $have_time; then
        # s_server exits after its one connection; time(1) then reports its
        # peak RSS and user CPU time.
        timer=(/usr/bin/time -f '%M %U' -o "$work/server.rss")
    fi
    "${timer[@]}" openssl s_server -accept 127.0.0.1:0 -cert "$certs/server.pem" \
        -cert_chain "$certs/inter.pem" -key "$certs/server.key" -naccept 1 -quiet \
        <&"$hold" 2>"$work/server.err" >"$received" &
    wrapper=$!
    pids+=("$wrapper")
    exec {hold}<&-
    server_pid=$wrapper
    if $have_time; then
        server_pid=$(child_of "$wrapper" openssl) || server_pid=$wrapper
    fi
    if ! port=$(listen_port "$server_pid"); then
        problem "openssl s_server did not listen: $(head -c 300 "$work/server.err")"
        stop "$server_pid"
        stop "$wrapper"
        return 1
    fi
    client_cmd "$kind" "$port"
    run_client "$work/client.out" "${CLIENT[@]}" || status=$?
    # It exits by itself after the connection; stop it if it did not.
    timeout 10 tail --pid="$server_pid" -f /dev/null 2>/dev/null || stop "$server_pid"
    wait "$wrapper" 2>/dev/null || true
    if [ -s "$work/server.rss" ]; then
        read -r server_rss server_user < <(tail -n1 "$work/server.rss")
    fi
    if [ $# -ge 2 ]; then
        check_run "$kind -> openssl s_server > $received" "$status" -
    else
        check_run "$kind -> openssl s_server" "$status" "$(received_sha "$received")"
    fi
}

# into_openssl_null KIND: into_openssl into /dev/null: s_server does the
# least it can (no file to write), so more of the wall time is the client's.
into_openssl_null() { into_openssl "$1" /dev/null; }

# echo_run KIND: pair KIND's client -> its server in echo mode -> client >
# file, once; then the file's SHA-256 against the payload's. Sets R_RATE,
# R_CLIENT_RSS and R_SERVER_RSS.
echo_run() {
    local kind=$1 server_pid server_rss server_user status=0
    local received="$data/received"
    server_cmd "$kind" echo
    start_listener server "${SERVER[@]}" || return 1
    server_pid=$LISTENER_PID
    client_cmd "$kind" "$LISTENER_PORT"
    run_client "$received" "${CLIENT[@]}" || status=$?
    server_rss=$(vm_hwm "$server_pid")
    server_user=$(user_cpu "$server_pid")
    stop "$server_pid"
    # The buffered client prints "Connection closed" after the data on
    # stdout, as upstream's does (llclient prints it on stderr): hash exactly
    # the payload's length.
    check_run "echo $kind" "$status" "$(received_sha "$received" "$payload_bytes")"
}

# ---------------------------------------------------------------- loopback
payload="$data/payload"
payload_bytes=$((payload_mib * 1048576))
note "loopback: ${payload_mib} MiB payload, $runs run(s) each"
head -c "$payload_bytes" /dev/urandom >"$payload"
payload_sha=$(sha256sum "$payload" | cut -d' ' -f1)

section="loopback ${payload_mib}MiB"
declare -A rate wall client_rss server_rss client_user client_cpu server_user
# Each round's figures (FN.KIND.ROUND), for ratios within a round.
declare -A round_wall round_cpu
# run_all FN KIND...: $runs runs of FN for each KIND, interleaved (one run
# of every kind, then the next round) so that a slow spell on the shared
# machine hits all kinds alike; records the median throughput, wall time,
# peak RSS and CPU time of each kind (FAIL when every run failed). RUNS
# (default $runs) overrides the number of rounds.
run_all() {
    local fn=$1 kind i rounds=${RUNS:-$runs}
    shift
    declare -A rates walls crss srss cuser ccpu suser
    for i in $(seq "$rounds"); do
        for kind in "$@"; do
            note "$fn $kind (run $i of $rounds)"
            if "$fn" "$kind"; then
                round_wall[$fn.$kind.$i]=$R_WALL
                round_cpu[$fn.$kind.$i]=$R_CLIENT_CPU
                rates[$kind]+=" $R_RATE"
                walls[$kind]+=" $R_WALL"
                crss[$kind]+=" $R_CLIENT_RSS"
                srss[$kind]+=" $R_SERVER_RSS"
                cuser[$kind]+=" $R_CLIENT_USER"
                ccpu[$kind]+=" $R_CLIENT_CPU"
                suser[$kind]+=" $R_SERVER_USER"
            fi
        done
    done
    for kind in "$@"; do
        # Word splitting of the collected figures is intended.
        # shellcheck disable=SC2086
        if [ -n "${rates[$kind]:-}" ]; then
            rate[$fn.$kind]=$(median ${rates[$kind]})
        else
            rate[$fn.$kind]=FAIL
        fi
        # shellcheck disable=SC2086
        wall[$fn.$kind]=$(median ${walls[$kind]:-})
        # shellcheck disable=SC2086
        client_rss[$fn.$kind]=$(median ${crss[$kind]:-})
        # shellcheck disable=SC2086
        server_rss[$fn.$kind]=$(median ${srss[$kind]:-})
        # shellcheck disable=SC2086
        client_user[$fn.$kind]=$(median ${cuser[$kind]:-})
        # shellcheck disable=SC2086
        client_cpu[$fn.$kind]=$(median ${ccpu[$kind]:-})
        # shellcheck disable=SC2086
        server_user[$fn.$kind]=$(median ${suser[$kind]:-})
    done
}
run_all one_way lltls lltls-rustls buffered buffered-drain
run_all echo_run lltls lltls-rustls buffered buffered-drain
if $have_openssl; then
    run_all into_openssl lltls lltls-rustls buffered openssl
    # Cheap (about a second each): more rounds, as the client's share of
    # the wall time is small and the machine is shared.
    null_runs=$((runs * 2 + 1))
    RUNS=$null_runs run_all into_openssl_null lltls lltls-rustls
fi

# round_ratio FIGURE FN A B ROUNDS: median over the rounds where both ran of
# FIGURE (round_wall, round_cpu) of kind A / kind B in the same round. Runs
# of one round are seconds apart: load from other work hits both alike, so
# this moves less than the ratio of the medians.
round_ratio() {
    local -n figure=$1
    local i a b ratios=()
    for i in $(seq "$5"); do
        a=${figure[$2.$3.$i]:-}
        b=${figure[$2.$4.$i]:-}
        if [ -n "$a" ] && [ -n "$b" ] && [ "$a" != - ] && [ "$b" != - ]; then
            ratios+=("$(echo "$a $b" | awk '{ if ($2 > 0) printf "%.3f", $1 / $2 }')")
        fi
    done
    median "${ratios[@]}"
}

value() {
    local v=${1:-}
    # median's "-" (no figure) and FAIL both show as "-".
    if [ -n "$v" ] && [ "$v" != FAIL ]; then echo "$v"; else echo -; fi
}
# stacks_row SECTION CASE TEST FIGURE UNIT BETTER [BUFFERED-KIND]: a row of
# FIGURE (an array name: rate, wall, client_rss, ...) for TEST's lltls,
# lltls-rustls and buffered (or BUFFERED-KIND) runs.
stacks_row() {
    local -n fig=$4
    local buffered_kind=${7:-buffered}
    row "$1" "$2" "$(value "${fig[$3.lltls]:-}")" "$(value "${fig[$3.$buffered_kind]:-}")" - "$5" "$6" \
        "$(value "${fig[$3.lltls-rustls]:-}")"
}
for test in one_way echo_run; do
    case "$test" in
        one_way) label="one-way c->s->sink" ;;
        echo_run) label="echo c->s->c" ;;
    esac
    stacks_row "$section" "$label, pairs (buffered: upstream loop)" "$test" rate MiB/s higher
    stacks_row "$section" "$label, pairs (buffered: --drain)" "$test" rate MiB/s higher buffered-drain
    stacks_row "$section" "$label, client user CPU" "$test" client_user s lower
    stacks_row "$section" "$label, server user CPU" "$test" server_user s lower
    stacks_row "$section" "$label, client peak RSS" "$test" client_rss KiB lower
    stacks_row "$section" "$label, server peak RSS" "$test" server_rss KiB lower
done
if $have_openssl; then
    label="one-way c->openssl s_server, clients"
    test=into_openssl
    row "$section" "$label (openssl: s_client)" \
        "$(value "${rate[$test.lltls]}")" "$(value "${rate[$test.buffered]}")" \
        "$(value "${rate[$test.openssl]}")" MiB/s higher "$(value "${rate[$test.lltls-rustls]}")"
    row "$section" "$label, client wall time" \
        "$(value "${wall[$test.lltls]}")" "$(value "${wall[$test.buffered]}")" \
        "$(value "${wall[$test.openssl]}")" s lower "$(value "${wall[$test.lltls-rustls]}")"
    row "$section" "$label, client user CPU" \
        "$(value "${client_user[$test.lltls]}")" "$(value "${client_user[$test.buffered]}")" \
        "$(value "${client_user[$test.openssl]}")" s lower "$(value "${client_user[$test.lltls-rustls]}")"
    row "$section" "$label, client user+sys CPU" \
        "$(value "${client_cpu[$test.lltls]}")" "$(value "${client_cpu[$test.buffered]}")" \
        "$(value "${client_cpu[$test.openssl]}")" s lower "$(value "${client_cpu[$test.lltls-rustls]}")"
    row "$section" "$label, client peak RSS" \
        "$(value "${client_rss[$test.lltls]}")" "$(value "${client_rss[$test.buffered]}")" \
        "$(value "${client_rss[$test.openssl]}")" KiB lower "$(value "${client_rss[$test.lltls-rustls]}")"
    row "$section" "$label, s_server peak RSS" - - \
        "$(value "${server_rss[$test.openssl]}")" KiB lower
    label="llclient < file -> openssl s_server > /dev/null"
    test=into_openssl_null
    row "$section" "$label, client wall time" "$(value "${wall[$test.lltls]}")" - - s lower \
        "$(value "${wall[$test.lltls-rustls]}")"
    row "$section" "$label, client user+sys CPU" "$(value "${client_cpu[$test.lltls]}")" - - \
        s lower "$(value "${client_cpu[$test.lltls-rustls]}")"
    row "$section" "$label, client user CPU" "$(value "${client_user[$test.lltls]}")" - - \
        s lower "$(value "${client_user[$test.lltls-rustls]}")"
    row "$section" "$label, wall in-place/rustls-mode, same round" \
        "$(round_ratio round_wall "$test" lltls lltls-rustls "$null_runs")" - - x lower
    row "$section" "$label, CPU in-place/rustls-mode, same round" \
        "$(round_ratio round_cpu "$test" lltls lltls-rustls "$null_runs")" - - x lower
fi
for key in "${!rate[@]}"; do
    if [ "${rate[$key]}" = FAIL ]; then
        row "$section" "${key/./ }: FAILED (see problems)" - - - - -
    fi
done
rm -f "$payload"

# ---------------------------------------------------------------- idle connections
# idle SERVER...: the server's RSS after a warm-up that fills its session
# cache (256 entries), and with $idle_count idle connections established;
# sets IDLE to "BASE AFTER" (KiB).
idle() {
    local server_pid base after fd line status=0
    start_listener idle-server "$@" || return 1
    server_pid=$LISTENER_PID
    local port=$LISTENER_PORT
    if ! timeout 120 "$ex/idle_clients" --port "$port" --cafile "$ca" --count 300 \
        </dev/null >/dev/null 2>"$work/idle.err"; then
        problem "idle warm-up against $1 failed: $(head -c 300 "$work/idle.err")"
        stop "$server_pid"
        return 1
    fi
    base=$(vm_rss "$server_pid")
    # idle_clients holds its connections until its stdin closes.
    mkfifo "$work/idle.hold" "$work/idle.out"
    timeout 300 "$ex/idle_clients" --port "$port" --cafile "$ca" --count "$idle_count" \
        --timeout 240 <"$work/idle.hold" >"$work/idle.out" 2>"$work/idle.err" &
    local client_pid=$!
    pids+=("$client_pid")
    exec {hold}>"$work/idle.hold"
    exec {fd}<"$work/idle.out"
    if read -r -t 280 -u "$fd" line && [ "$line" = "established $idle_count" ]; then
        after=$(vm_rss "$server_pid")
    else
        problem "idle_clients against $1 failed: $(head -c 300 "$work/idle.err")"
        status=1
    fi
    exec {hold}>&- {fd}<&-
    wait "$client_pid" 2>/dev/null || true
    stop "$server_pid"
    rm -f "$work/idle.hold" "$work/idle.out"
    [ "$status" -eq 0 ] || return 1
    IDLE="$base $after"
}

# Each side of idle_count connections needs a descriptor per connection.
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" -lt $((idle_count + 100)) ]; then
    problem "fd limit $(ulimit -n) too low for $idle_count idle connections"
else
    note "idle connections: $idle_count against each server"
    IDLE=""
    idle "$bin/llserver" --port 0 --certs "$certs/fullchain.pem" --key "$certs/server.key" echo || true
    ll_idle=$IDLE
    IDLE=""
    idle "$bin/llserver" --port 0 --certs "$certs/fullchain.pem" --key "$certs/server.key" \
        --record-layer rustls echo || true
    ll_rustls_idle=$IDLE
    IDLE=""
    idle "$ex/buffered_server" --certs "$certs/fullchain.pem" --key "$certs/server.key" echo || true
    buf_idle=$IDLE
    per_conn() { [ -n "$1" ] && echo "$1" | awk -v n="$idle_count" '{ printf "%.0f", ($2 - $1) * 1024 / n }' || echo -; }
    total() { [ -n "$1" ] && echo "$1" | awk '{ printf "%.1f", $2 / 1024 }' || echo -; }
    row "memory (loopback)" "server RSS growth per idle TLS connection ($idle_count held)" \
        "$(per_conn "$ll_idle")" "$(per_conn "$buf_idle")" - B/conn lower "$(per_conn "$ll_rustls_idle")"
    row "memory (loopback)" "server RSS holding $idle_count idle TLS connections" \
        "$(total "$ll_idle")" "$(total "$buf_idle")" - MiB lower "$(total "$ll_rustls_idle")"
fi

# ---------------------------------------------------------------- stalled handshakes
# server_conns PORT [unread]: how many TCP connections to local port PORT
# the server has not closed yet (established, or closed by the client
# only), from /proc; with `unread`, how many hold bytes their server has
# not read yet (accepted or not).
server_conns() {
    awk -v port="$(printf '%04X' "$1")" -v unread="${2:-}" '
        $4 == "01" || $4 == "08" { split($2, here, ":"); split($5, queues, ":")
            if (here[2] == port && (unread == "" || queues[2] != "00000000")) n++ }
        END { print n + 0 }' /proc/net/tcp /proc/net/tcp6
}

# wait_conns PORT [unread]: waits (bounded, 60 s) until server_conns is 0.
wait_conns() {
    local i
    for i in $(seq 600); do
        [ "$(server_conns "$@")" -eq 0 ] && return 0
        sleep 0.1
    done
    return 1
}

# stalled SERVER...: the server's RSS after a warm-up of 300 stalled
# handshakes that are then closed (the same work, so both servers have
# touched the same paths and kept what they keep of it), and with
# $stall_count connections each holding 12 KiB of a 16 KiB ClientHello
# record (idle_clients --partial-hello), once the server has read every
# byte of them; sets STALLED to "BASE AFTER" (KiB).
stalled() {
    local server_pid base after fd line status=0
    start_listener stall-server "$@" || return 1
    server_pid=$LISTENER_PID
    local port=$LISTENER_PORT
    if ! timeout 120 "$ex/idle_clients" --port "$port" --cafile "$ca" --count 300 \
        --partial-hello </dev/null >/dev/null 2>"$work/stall.err" || ! wait_conns "$port"; then
        problem "stall warm-up against $1 failed: $(head -c 300 "$work/stall.err")"
        stop "$server_pid"
        return 1
    fi
    base=$(vm_rss "$server_pid")
    mkfifo "$work/stall.hold" "$work/stall.out"
    timeout 300 "$ex/idle_clients" --port "$port" --cafile "$ca" --count "$stall_count" \
        --timeout 240 --partial-hello <"$work/stall.hold" >"$work/stall.out" 2>"$work/stall.err" &
    local client_pid=$!
    pids+=("$client_pid")
    exec {hold}>"$work/stall.hold"
    exec {fd}<"$work/stall.out"
    if read -r -t 280 -u "$fd" line && [ "$line" = "stalled $stall_count" ]; then
        # Sent is not read: wait until the server has read what every
        # connection sent.
        if wait_conns "$port" unread; then
            after=$(vm_rss "$server_pid")
        else
            problem "$1 did not read the stalled connections' bytes within 60 s"
            status=1
        fi
    else
        problem "idle_clients --partial-hello against $1 failed: $(head -c 300 "$work/stall.err")"
        status=1
    fi
    exec {hold}>&- {fd}<&-
    wait "$client_pid" 2>/dev/null || true
    stop "$server_pid"
    rm -f "$work/stall.hold" "$work/stall.out"
    [ "$status" -eq 0 ] || return 1
    STALLED="$base $after"
}

if [ "$(ulimit -n)" -lt $((stall_count + 100)) ]; then
    problem "fd limit $(ulimit -n) too low for $stall_count stalled connections"
else
    note "stalled handshakes: $stall_count against each server"
    # The servers must not drop the stalled handshakes while they are counted.
    STALLED=""
    stalled "$bin/llserver" --port 0 --certs "$certs/fullchain.pem" --key "$certs/server.key" \
        --handshake-timeout 600 echo || true
    ll_stalled=$STALLED
    STALLED=""
    stalled "$ex/buffered_server" --certs "$certs/fullchain.pem" --key "$certs/server.key" echo || true
    buf_stalled=$STALLED
    per_stalled() { [ -n "$1" ] && echo "$1" | awk -v n="$stall_count" '{ printf "%.1f", ($2 - $1) / n }' || echo -; }
    row "memory (loopback)" "server RSS growth per stalled handshake (12 of 16 KiB ClientHello, $stall_count held)" \
        "$(per_stalled "$ll_stalled")" "$(per_stalled "$buf_stalled")" - KiB/conn lower
fi

# ---------------------------------------------------------------- report
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
cpu=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n1)
echo
echo "lltls benchmarks ($mode mode) — $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo "machine: ${cpu:-unknown CPU}, $(nproc) cores; load average before ${load_before}, after ${load_after}"
echo "in-place = lltls (llclient/llserver) with its in-place record layer, the default;"
echo "rustls-mode = lltls with --record-layer rustls; buffered = rustls ClientConnection/ServerConnection"
echo "(examples/buffered_*); ip/buf and ip/rm = in-place / buffered and / rustls-mode; 'better' says which way is good"
echo
inmem --table "$rows"
if [ -s "$problems" ]; then
    echo
    echo "problems:"
    sed 's/^/  - /' "$problems"
    if $strict; then
        exit 1
    fi
fi
