# Shell functions the scripts share; source it.

# Reads llserver's output on file descriptor $1 until its "listening on ADDR"
# line (it binds `--port 0` to a free port) and prints the port; other lines
# go to stderr as "server: ...". Fails after 10 s without that line.
llserver_port() {
    local fd=$1 line
    while read -r -t 10 -u "$fd" line; do
        case "$line" in
        "listening on "*) echo "${line##*:}"; return 0 ;;
        *) printf 'server: %s\n' "$line" >&2 ;;
        esac
    done
    echo "llserver did not report its address" >&2
    return 1
}
