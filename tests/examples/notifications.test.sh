#!/usr/bin/env bash
# examples/notifications: per-user streams behind bearer tokens.
#   notifications.test.sh <path to notifications_server>
# Proves, over real sockets with curl:
# - a stream needs a valid token (401 without, or with a bad one), from the Authorization
#   header or the ?token= query parameter (what a browser's EventSource can send);
# - a notification to user 42 reaches both of 42's streams, and user 7's stream does not get it;
# - logout ends both streams of 42 (a `logged_out` event, then the end), not 7's, and their
#   token is refused afterwards;
# - a token that expires sends its stream `auth_expired`, then ends it; a reconnect with it is
#   refused with 401, which makes EventSource stop (tests/browser/notifications_page.test.mjs
#   shows that in Chromium).
source "$(dirname "${BASH_SOURCE[0]}")/support.sh"
app=$1

start_server notifications "$app" 127.0.0.1 0
base="http://127.0.0.1:$port"

# login USER [TTL] prints a new token of USER.
login() {
    local body
    body=$(curl -sS --max-time 10 -X POST "$base/login?user=$1${2:+&ttl=$2}") ||
        fail "POST /login?user=$1 failed"
    [[ "$body" =~ \"token\":\"([0-9a-f]{32})\" ]] || fail "POST /login?user=$1 answered: $body"
    printf '%s' "${BASH_REMATCH[1]}"
}

status=$(status_of "$base/events")
[[ "$status" == 401 ]] || fail "a stream without a token answered $status, not 401"
status=$(status_of -H 'Authorization: Bearer 0123456789abcdef0123456789abcdef' "$base/events")
[[ "$status" == 401 ]] || fail "a stream with an unknown token answered $status, not 401"
status=$(status_of -X POST "$base/login?user=not%20valid")
[[ "$status" == 400 ]] || fail "a bad user id answered $status, not 400"

# Two tabs of user 42 (one token from the header, one from the query), one of user 7.
token42=$(login 42)
token7=$(login 7)
open_stream tab1_of_42 -i -H "Authorization: Bearer $token42" "$base/events"
open_stream tab2_of_42 -i "$base/events?token=$token42"
open_stream tab_of_7 -i -H "Authorization: Bearer $token7" "$base/events"
for s in tab1_of_42 tab2_of_42 tab_of_7; do
    expect "$s" '^HTTP/1\.1 200'
    expect "$s" '^event: connection$'
done

status=$(status_of -d 'for 42' "$base/notify?user=42")
[[ "$status" == 202 ]] || fail "POST /notify?user=42 answered $status"
expect tab1_of_42 '^data: \{"text":"for 42"\}$'
expect tab2_of_42 '^data: \{"text":"for 42"\}$'
status=$(status_of -d 'for 7' "$base/notify?user=7")
[[ "$status" == 202 ]] || fail "POST /notify?user=7 answered $status"
# 7's first notification is its own: 42's never reached it.
expect tab_of_7 '^data: \{"text":'
[[ "$(tail -n 1 "$work/tab_of_7.stream")" == 'data: {"text":"for 7"}' ]] ||
    fail "user 7's stream got user 42's notification"

# Logout (with one of 42's tokens) ends every stream of 42, and only those.
body=$(curl -sS --max-time 10 -X POST -H "Authorization: Bearer $token42" "$base/logout")
[[ "$body" == '{"streams_ended":2,"user":"42"}' ]] || fail "POST /logout answered: $body"
for s in tab1_of_42 tab2_of_42; do
    expect "$s" '^event: logged_out$'
    expect_end "$s"
done
status=$(status_of "$base/events?token=$token42")
[[ "$status" == 401 ]] || fail "a reconnect after logout answered $status, not 401"
status=$(status_of -X POST -H "Authorization: Bearer $token42" "$base/logout")
[[ "$status" == 401 ]] || fail "a second logout with the same token answered $status, not 401"
status=$(status_of -d 'still here' "$base/notify?user=7")
[[ "$status" == 202 ]] || fail "POST /notify?user=7 answered $status"
expect tab_of_7 '^data: \{"text":"still here"\}$'

# A token that expires: the stream is told, then ends; its reconnect is refused.
expiring=$(login 42 2)
open_stream expiring -i "$base/events?token=$expiring"
expect expiring '^HTTP/1\.1 200'
expect expiring '^event: connection$'
expect expiring '^event: auth_expired$'
expect expiring '^data: \{"reason":"token expired"\}$'
expect_end expiring
status=$(status_of "$base/events?token=$expiring")
[[ "$status" == 401 ]] || fail "a reconnect with an expired token (query) answered $status, not 401"
status=$(status_of -H "Authorization: Bearer $expiring" "$base/events")
[[ "$status" == 401 ]] || fail "a reconnect with an expired token (header) answered $status, not 401"
echo "PASS"
