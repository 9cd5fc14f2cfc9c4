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
