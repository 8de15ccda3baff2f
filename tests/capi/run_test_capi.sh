#!/usr/bin/env bash
# Runs test_capi against a real HTTP server on a free loopback port (python3's http.server,
# serving a file the script writes), so successful downloads are checked too.
#   run_test_capi.sh TEST_CAPI_BINARY
set -euo pipefail
test_binary=$1
dir=$(mktemp -d)
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
mkdir -p "$dir/www" "$dir/work"
head -c 4096 /dev/urandom >"$dir/www/object.bin"
sha256=$(openssl dgst -sha256 -binary "$dir/www/object.bin" | base64 -w0)
# http.server's own listen backlog is 5: the test's 20 parallel downloads overflowed it on a
# loaded machine (connections refused), so the server here keeps a backlog of 128.
python3 -u -c '
import functools, http.server, sys
class Server(http.server.ThreadingHTTPServer):
    request_queue_size = 128
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[1])
server = Server(("127.0.0.1", 0), handler)
print("Serving HTTP on 127.0.0.1 port %d" % server.server_address[1], flush=True)
server.serve_forever()
' "$dir/www" >"$dir/server.log" 2>&1 &
server_pid=$!
port=
for _ in $(seq 100); do
  port=$(sed -n 's/.*port \([0-9]*\).*/\1/p' "$dir/server.log" | head -1)
  [ -n "$port" ] && break
  sleep 0.05
done
[ -n "$port" ] || { echo "http.server did not start"; cat "$dir/server.log"; exit 1; }
TEST_CAPI_DIR="$dir/work" "$test_binary" "http://127.0.0.1:$port" object.bin "$sha256"
