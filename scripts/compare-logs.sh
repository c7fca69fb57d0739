#!/usr/bin/env bash
# Compares the rustls events of two `--verbose` logs: lltls's llclient /
# llserver against rustls's tlsclient-mio / tlsserver-mio (or any two runs).
#
#   scripts/compare-logs.sh [-v] OURS.log UPSTREAM.log
#   scripts/compare-logs.sh [-v] --run [--upstream DIR] [--server-args ARGS]
#                           [--client-args ARGS]
#
# Both programs log through env_logger: `[TIMESTAMP LEVEL target] message`,
# where a message may span several lines (rustls logs `{:#?}` dumps of
# handshake messages). The comparison:
#   - folds each multi-line message into one line;
#   - drops timestamps, and mio's lines (registration churn differs by design);
#   - normalises what differs between any two runs: ports, long hex strings
#     (randoms, key shares, session ids, tickets, signatures, certificates,
#     encodings), and the random numbers rustls prints by name (age_add,
#     order_seed);
#   - takes as log records only lines in env_logger's format and the
#     indented (or closing-bracket) lines that continue their Debug dumps;
#     any other line (say `llclient: TLS error: ...`) is other output;
#   - separates the program's own lines (llclient, llserver, lltls::*,
#     tlsclient_mio, tlsserver_mio: each program says different things) and
#     other output from rustls's, and compares rustls's events (level,
#     target, message) in order: that is the verdict. Program lines and
#     other output are compared too, and reported on their own lines marked
#     as not part of it.
# Exit status: 0 when the rustls events match, 1 when they differ (the
# unified diff is printed, OURS as `-`, UPSTREAM as `+`), 2 on a usage or
# run error. -v also prints the diffs of program lines and other output.
# --server-args and --client-args are split as a shell would, quotes and
# all.
#
# One difference is by design: llclient answers the server's close_notify
# with its own (RFC 8446 §6.1), which rustls logs as `Sending warning alert
# CloseNotify`; upstream's client closes without it. When OURS ends with
# that event and UPSTREAM does not, it is left out of the verdict and
# reported on a line of its own as a known difference.
#
# Which mode reproduces rustls's lines exactly: with `--record-layer rustls`
# every rustls event matches upstream's. With the default in-place record
# layer, rustls's events match up to the end of the handshake; what happens
# after it (alerts, KeyUpdate, tickets received late) is logged by lltls
# under `lltls::record` instead, so those rustls lines are missing.
#
# --run starts `llserver --verbose --record-layer rustls --port 0 ARGS`,
# reads its port from its "listening on ADDR" line, runs `llclient --verbose
# --record-layer rustls --port PORT ARGS`, and
# compares their logs with DIR/client.stderr and DIR/server.stderr. The
# defaults reproduce the reference recording
# (tests/data/reference/tls13-rsa-http/commands.txt). The binaries are
# $LLSERVER and $LLCLIENT, or target/debug/ (built with cargo if missing).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
verbose=0
# What --run started and created, for cleanup on any exit.
server_pid=""
work=""

cleanup() {
    if [[ -n $server_pid ]]; then
        kill "$server_pid" 2>/dev/null || true
    fi
    if [[ -n $work ]]; then
        rm -rf "$work"
    fi
}
trap cleanup EXIT

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
    exit 2
}

# Prints one normalised event per line: `R<TAB>LEVEL target message` for
# rustls, `P<TAB>LEVEL target message` for the program, `O<TAB>line` for
# output that is not a log line.
normalise() {
    awk '
        function flush() {
            if (event != "") print event
            event = ""
        }
        /^\[[0-9]+-[0-9]+-[0-9]+T[0-9:.]+Z +(TRACE|DEBUG|INFO|WARN|ERROR) [^]]*\]/ {
            flush()
            event = $0
            next
        }
        # A multi-line Debug dump continues with an indented line or a
        # closing bracket; any other line is not part of a log record (for
        # example `llclient: TLS error: ...` on stderr).
        event != "" && /^([ \t]|[]})]|$)/ {
            event = event " " $0
            next
        }
        {
            flush()
            if ($0 != "") print "[- OTHER -] " $0
        }
        END { flush() }
    ' "$1" |
        sed -E \
            -e 's/^\[[^ ]+ +([A-Z]+) ([^]]*)\] ?/\1 \2 /' \
            -e 's/^\[- OTHER -\] /OTHER - /' \
            -e 's/[[:space:]]+/ /g' \
            -e 's/ $//' \
            -e 's/,( ?[]})])/\1/g' \
            -e 's/\b(0x)?[0-9a-fA-F]{16,}\b/<hex>/g' \
            -e 's/\b(age_add|order_seed|obfuscated_ticket_age): [0-9]+/\1: N/g' \
            -e 's/(\]|[0-9]):[0-9]{1,5}\b/\1:<port>/g' |
        awk '
            $1 == "OTHER" { sub(/^OTHER - /, ""); print "O\t" $0; next }
            $2 ~ /^mio(::|$)/ { next }
            $2 ~ /^rustls(::|$)/ { print "R\t" $0; next }
            { print "P\t" $0 }
        '
}

# compare OURS UPSTREAM: prints the verdict; returns 0 on a match.
compare() {
    local ours=$1 upstream=$2 tmp
    for f in "$ours" "$upstream"; do
        if [[ ! -r $f ]]; then
            echo "compare-logs: cannot read $f" >&2
            return 2
        fi
    done
    tmp=$(mktemp -d)
    normalise "$ours" >"$tmp/ours"
    normalise "$upstream" >"$tmp/upstream"
    grep $'^R\t' "$tmp/ours" | cut -f2- >"$tmp/ours.rustls" || true
    grep $'^R\t' "$tmp/upstream" | cut -f2- >"$tmp/upstream.rustls" || true
    local answer="DEBUG rustls::common_state Sending warning alert CloseNotify" known=0
    if [[ $(tail -n 1 "$tmp/ours.rustls") == "$answer" &&
        $(tail -n 1 "$tmp/upstream.rustls") != "$answer" ]]; then
        sed -i '$d' "$tmp/ours.rustls"
        known=1
    fi
    local n_ours n_upstream status=0
    n_ours=$(wc -l <"$tmp/ours.rustls")
    n_upstream=$(wc -l <"$tmp/upstream.rustls")
    if diff -q "$tmp/ours.rustls" "$tmp/upstream.rustls" >/dev/null; then
        echo "rustls events match: $n_ours events ($ours vs $upstream)"
    else
        echo "rustls events differ: $n_ours in $ours, $n_upstream in $upstream"
        diff -u --label "$ours" --label "$upstream" \
            "$tmp/ours.rustls" "$tmp/upstream.rustls" || true
        status=1
    fi
    if ((known)); then
        echo "known difference: $ours ends with the answer to the peer's close_notify" \
            "(RFC 8446 §6.1), which $upstream does not send [not part of the verdict]"
    fi
    # The programs' own lines and other output differ by design (another
    # program, other words); they are compared and listed on their own so
    # that the verdict above says only what it checked.
    local kind label
    for kind in P O; do
        case $kind in
        P) label="program log lines" ;;
        O) label="other output (not log lines)" ;;
        esac
        grep $'^'"$kind"$'\t' "$tmp/ours" | cut -f2- >"$tmp/ours.$kind" || true
        grep $'^'"$kind"$'\t' "$tmp/upstream" | cut -f2- >"$tmp/upstream.$kind" || true
        local a b
        a=$(wc -l <"$tmp/ours.$kind")
        b=$(wc -l <"$tmp/upstream.$kind")
        if diff -q "$tmp/ours.$kind" "$tmp/upstream.$kind" >/dev/null; then
            echo "$label: the same ($a) [not part of the verdict]"
        else
            echo "$label: differ, $a in $ours, $b in $upstream [not part of the verdict]"
            if ((verbose)); then
                diff -u --label "$ours" --label "$upstream" \
                    "$tmp/ours.$kind" "$tmp/upstream.$kind" | sed 's/^/  /' || true
            fi
        fi
    done
    rm -rf "$tmp"
    return $status
}

binary() {
    local name=$1 var=$2
    if [[ -n ${!var:-} ]]; then
        echo "${!var}"
        return
    fi
    local path=${CARGO_TARGET_DIR:-$root/target}/debug/$name
    if [[ ! -x $path ]]; then
        (cd "$root" && cargo build --quiet --bin "$name") >&2
    fi
    echo "$path"
}

# split_args STRING: prints STRING's words NUL-separated, honouring single
# and double quotes and backslashes as a shell would (xargs's rules), so
# --server-args '--certs "my dir/" http' works.
split_args() {
    printf '%s' "$1" | xargs printf '%s\0'
}

# run_pair UPSTREAM_DIR SERVER_ARGS CLIENT_ARGS
run_pair() {
    local upstream=$1 server_args=$2 client_args=$3
    local llserver llclient port="" status=0 client_status=0
    local -a server_argv client_argv
    mapfile -d '' server_argv < <(split_args "$server_args")
    mapfile -d '' client_argv < <(split_args "$client_args")
    llserver=$(binary llserver LLSERVER)
    llclient=$(binary llclient LLCLIENT)
    work=$(mktemp -d)

    (cd "$root" && exec "$llserver" --verbose --record-layer rustls --port 0 "${server_argv[@]}" \
        >"$work/server.stdout" 2>"$work/server.stderr") &
    server_pid=$!
    # Poll (bounded) for the line that carries the port.
    for _ in $(seq 200); do
        # The file may not exist yet: the server's shell creates it.
        port=$(sed -n 's/^listening on .*:\([0-9][0-9]*\)$/\1/p' "$work/server.stdout" 2>/dev/null || true)
        [[ -n $port ]] && break
        if ! kill -0 "$server_pid" 2>/dev/null; then
            break
        fi
        sleep 0.1
    done
    if [[ -z $port ]]; then
        echo "compare-logs: llserver did not start:" >&2
        cat "$work/server.stdout" "$work/server.stderr" >&2
        return 2
    fi
    (cd "$root" && timeout 60 "$llclient" --verbose --record-layer rustls --port "$port" \
        "${client_argv[@]}" </dev/null >"$work/client.stdout" 2>"$work/client.stderr") ||
        client_status=$?
    if ((client_status != 0)); then
        echo "compare-logs: llclient failed (exit status $client_status):" >&2
        tail -5 "$work/client.stderr" >&2
        return 2
    fi
    # The server logs the client's hang-up last; give it a moment to.
    for _ in $(seq 50); do
        grep -q '\] eof$' "$work/server.stderr" && break
        sleep 0.1
    done
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""

    echo "== client (exit status $client_status; the reference run's is not recorded)"
    compare "$work/client.stderr" "$upstream/client.stderr" || status=1
    echo "== server"
    compare "$work/server.stderr" "$upstream/server.stderr" || status=1
    return $status
}

main() {
    local run=0 upstream="$root/tests/data/reference/tls13-rsa-http"
    local ref="tests/data/reference/pki"
    local server_args="--certs $ref/rsa-server-fullchain.pem --key $ref/rsa-server.key http"
    local client_args="--http --cafile $ref/rsa-ca.pem localhost"
    local files=()
    while (($#)); do
        case $1 in
        -v) verbose=1 ;;
        --run) run=1 ;;
        --upstream) upstream=${2:?}; shift ;;
        --server-args) server_args=${2:?}; shift ;;
        --client-args) client_args=${2:?}; shift ;;
        -h | --help) usage ;;
        -*) echo "compare-logs: unknown option $1" >&2; usage ;;
        *) files+=("$1") ;;
        esac
        shift
    done
    if ((run)); then
        ((${#files[@]} == 0)) || usage
        upstream=$(cd "$upstream" && pwd)
        run_pair "$upstream" "$server_args" "$client_args"
    else
        ((${#files[@]} == 2)) || usage
        compare "${files[0]}" "${files[1]}"
    fi
}

main "$@"
