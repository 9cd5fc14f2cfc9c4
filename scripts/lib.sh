# Shared by the black-box scripts: a merchant made through the seed API, with payment methods and a
# secret key inserted the way /developers/keys stores one (SHA-256, 12-character lookup).
# usage: make_merchant BASE DB EMAIL SCOPES METHODS_JSON — sets $key and $token.
make_merchant() {
    local base="$1" db="$2" email="$3" scopes="$4" methods="$5" password="black-box passphrase"
    curl -fs -o /dev/null -X POST "$base/v1/users" -H 'content-type: application/json' \
        -d "{\"name\":\"Black-box Shop\",\"email\":\"$email\",\"password\":\"$password\"}"
    token=$(curl -fs -X POST "$base/v1/tokens" -H 'content-type: application/json' \
        -d "{\"email\":\"$email\",\"password\":\"$password\"}" | sed -E 's/.*"token":"([^"]+)".*/\1/')
    curl -fs -o /dev/null -X PUT "$base/v1/users/me" -H "authorization: Bearer $token" -H 'content-type: application/json' \
        -d "{\"paymentMethods\":$methods}"
    key="sk_$(head -c 64 /dev/urandom | base64 -w0 | tr -dc 'A-Za-z0-9' | head -c 40)"
    "${PSQL[@]}" -d "$db" -c "INSERT INTO api_keys (account_id, id, name, kind, lookup, secret_hash, scopes)
        SELECT account_id, 'key_' || substr(md5(random()::text), 1, 24), 'black-box', 'secret', '${key:0:12}',
               '$(printf '%s' "$key" | sha256sum | cut -d' ' -f1)', '{$scopes}'
        FROM users WHERE email = '$email'" >/dev/null
}

# A payment link made with $key through the API; prints its signed path (/pay/plink_…?exp&kid&sig),
# or fails. usage: new_link_path BASE LINK_JSON
new_link_path() {
    local base="$1" url
    url=$(curl -fs -X POST "$base/v1/payment_links" -H "authorization: Bearer $key" -H 'content-type: application/json' -d "$2" \
        | sed -E 's/.*"url":"([^"]+)".*/\1/; s/\\u0026/\&/g')  # the JSON escapes & as \u0026
    [[ "$url" == "$base/pay/"* ]] || { echo "could not create a payment link" >&2; return 1; }
    echo "${url#"$base"}"
}

# Whether process PID is gone within SECONDS (checked every 0.1 s).
# usage: exits_within PID SECONDS
exits_within() {
    for _ in $(seq 1 $(($2 * 10))); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
    ! kill -0 "$1" 2>/dev/null
}

# Stops a server as a supervisor does: SIGTERM, up to SECONDS (15) for its graceful shutdown, then
# SIGKILL with a warning. A graceful shutdown has been seen to hang now and then (two causes found
# since: open live streams, and workers waiting on a connection PostgreSQL had closed); a test run
# must not hang with it.
# usage: stop_server PID [SECONDS] [NAME] [LOG] (LOG: the server's log, whose "still stopping"
# line, from 10 s on, says what it waits for)
stop_server() {
    local pid="$1" seconds="${2:-15}" name="${3:-server}" log="${4:-}"
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    if exits_within "$pid" "$seconds"; then wait "$pid" 2>/dev/null || true; return 0; fi
    echo "warning: the $name did not stop within $seconds s of SIGTERM; SIGKILLed it" >&2
    [ -n "$log" ] && { grep "still stopping" "$log" | tail -1 >&2 || true; }
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
