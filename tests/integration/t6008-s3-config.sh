#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Two S3 services in one configuration (issue 15: a repository's own S3
# settings, chronofs.conf(5) s3_* keys): two s3rver instances on two
# ports with different key pairs, repository `near` on one and `far` on
# the other, each with s3_endpoint and s3_credentials_file, and NO AWS_*
# variable in the environment:
#   - `--repo near init`, `--repo far init --copy-params-from near`;
#   - `chronoctl run` of a job backing up to near and copying to far
#     (copies = 2 met), `status` reads both repositories, `snapshot list
#     --repo far` lists the copy, counted in both; a restore from far is
#     byte-identical to the source;
#   - the config's settings win over AWS_* variables that say otherwise;
#   - `config check` (text and JSON) shows the credentials file's name,
#     never a key id or a secret;
#   - a credentials file that group or others may read is refused, naming
#     it; a wrong secret in far's file fails naming the repository and
#     the server's 403, and the backup to near still succeeds;
#   - s3_* keys on a local location are refused with FILE:LINE.
# Skipped only when node or s3rver are missing.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=s3-lib.sh
. "$(dirname "$0")/s3-lib.sh"
need_s3rver
command -v jq >/dev/null 2>&1 || skip "jq is missing (scripts/install-deps installs it)"

NEAR_KEY=near-key-t6008 NEAR_SECRET=near-secret-$RANDOM$RANDOM
FAR_KEY=far-key-t6008 FAR_SECRET=far-secret-$RANDOM$RANDOM
S3_KEY=$NEAR_KEY S3_SECRET=$NEAR_SECRET S3RVER_NAME=s3rver-near s3rver_start chronofs-near
NEAR_EP=$S3_ENDPOINT
S3_KEY=$FAR_KEY S3_SECRET=$FAR_SECRET S3RVER_NAME=s3rver-far s3rver_start chronofs-far
FAR_EP=$S3_ENDPOINT
# Nothing of S3 from the environment: the config says it all.
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_REGION AWS_DEFAULT_REGION \
	AWS_ENDPOINT_URL_S3 AWS_ENDPOINT_URL AWS_CA_BUNDLE CHRONOFS_S3_PATH_STYLE CHRONOFS_PASSWORD \
	CHRONOFS_REPO CHRONOFS_CONFIG
env | grep -q '^AWS_' && fail "AWS_ variables left in the environment: $(env | grep '^AWS_' | cut -d= -f1)"

# The credentials files, in the format of /etc/chronofs/environment.
cat >"$WORK/near.env" <<EOF
# near: the local service
AWS_ACCESS_KEY_ID=$NEAR_KEY
AWS_SECRET_ACCESS_KEY=$NEAR_SECRET
EOF
cat >"$WORK/far.env" <<EOF
# far: the off-site provider
AWS_ACCESS_KEY_ID="$FAR_KEY"
AWS_SECRET_ACCESS_KEY='$FAR_SECRET'
CHRONOFS_UNRELATED=ignored
EOF
chmod 600 "$WORK/near.env" "$WORK/far.env"
printf '%s\n' "$PASSWORD" >"$WORK/pass"
printf 'far %s\n' "$PASSWORD" >"$WORK/pass-far"

SRC=$WORK/src
mkdir -p "$SRC/sub"
rand_file "$SRC/big" $((3 * 1024 * 1024))
echo "near and far" >"$SRC/sub/note"
CONF=$WORK/chronofs.conf
cat >"$CONF" <<EOF
[global]
state_dir = $WORK/state

[repository near]
location = s3://chronofs-near/repo
password_file = $WORK/pass
cache_dir = $CACHE
s3_endpoint = $NEAR_EP
s3_region = us-east-1
s3_credentials_file = $WORK/near.env

[repository far]
location = s3://chronofs-far/off/site
password_file = $WORK/pass-far
cache_dir = $CACHE
offsite = yes
s3_endpoint = $FAR_EP/
s3_path_style = yes
s3_credentials_file = $WORK/far.env

[tier two]
schedule = daily
keep = last:10
prune = never
copies = 2

[job j]
tier = two
repository = near
repository = far
path = $SRC
EOF
c() { timeout -k 10 "${CFS_TIMEOUT:-300}" "$CHRONOCTL" --config "$CONF" "$@"; }

# --- config check: the file's name, never what is in it -----------------------
ok c config check
cp "$OUT" "$WORK/check.txt"
ok c config check --json
cat "$OUT" >>"$WORK/check.txt"
expect_in "$WORK/check.txt" "$WORK/far.env"
expect_in "$WORK/check.txt" "$FAR_EP"
for secret in "$NEAR_SECRET" "$FAR_SECRET" "$NEAR_KEY" "$FAR_KEY"; do
	if grep -qF "$secret" "$WORK/check.txt"; then fail "config check printed a credential ($secret)"; fi
done
[ "$(jq -r '[.repositories[] | select(.name == "far") | .s3_path_style, .s3_credentials_file] | join(" ")' "$OUT")" = \
	"yes $WORK/far.env" ] || fail "config check --json of far: $(cat "$OUT")"

# --- init, the second with the parameters of the first --------------------------
ok c --repo near init
expect_in "$OUT" "created repository s3://chronofs-near/repo"
ok c --repo far init --copy-params-from near
# Each repository on its own server, seen with that server's key pair.
[ "$(S3_ENDPOINT=$NEAR_EP S3_KEY=$NEAR_KEY S3_SECRET=$NEAR_SECRET s3_keys chronofs-near/repo/config)" = repo/config ] ||
	fail "near's config is not on the near server"
[ "$(S3_ENDPOINT=$FAR_EP S3_KEY=$FAR_KEY S3_SECRET=$FAR_SECRET s3_keys chronofs-far/off/site/config)" = off/site/config ] ||
	fail "far's config is not on the far server"

# --- run: backup to near, copy to far ----------------------------------------
ok c run j --json
[ "$(jq -r '.[0] | [.result, .type, .copies_ok, .copies_failed] | map(tostring) | join(" ")' "$OUT")" = "ok full 1 0" ] ||
	fail "run j: $(cat "$OUT")"
ok c status --json j
[ "$(jq -r '.jobs[0] | [.result // .last_attempt.result, .snapshots, .min_copies, .snapshots_offsite] | map(tostring) | join(" ")' "$OUT")" = \
	"ok 1 2 1" ] || fail "status of j: $(cat "$OUT")"
[ "$(jq -r '[.repositories[].name] | join(" ")' "$OUT")" = "near far" ] || fail "status repositories: $(cat "$OUT")"
ok c --repo far snapshot list --json
[ "$(jq -r '[length, .[0].copies, .[0].offsite] | map(tostring) | join(" ")' "$OUT")" = "1 2 true" ] ||
	fail "snapshot list --repo far: $(cat "$OUT")"
snap=$(jq -r '.[0].name' "$OUT")
# copy by names: each side on its own service; the run's copy is there.
ok c copy --from near --to far --json
[ "$(jq -r '[.snapshots_copied, .snapshots_present] | map(tostring) | join(" ")' "$OUT")" = "0 1" ] ||
	fail "copy --from near --to far: $(cat "$OUT")"
ok c --repo far restore "$snap" "$WORK/restored"
assert_same_tree "$SRC" "$WORK/restored$SRC"
cmp "$SRC/big" "$WORK/restored$SRC/big" || fail "the restore from far differs from the source"

# The config's settings win over the environment's, one by one.
AWS_ENDPOINT_URL_S3=http://127.0.0.1:1 AWS_ACCESS_KEY_ID=$NEAR_KEY AWS_SECRET_ACCESS_KEY=wrong \
	AWS_SESSION_TOKEN=not-for-far CHRONOFS_S3_PATH_STYLE=0 ok c --repo far snapshot list --json
[ "$(jq length "$OUT")" = 1 ] || fail "far with other AWS_* variables set: $(cat "$OUT")"

# --- credentials that do not do ------------------------------------------------
chmod 640 "$WORK/far.env"
expect_exit 1 c --repo far snapshot list
expect_in "$ERR" "$WORK/far.env"
expect_in "$ERR" "chmod 600"
chmod 600 "$WORK/far.env"
sed -i "s/^AWS_SECRET_ACCESS_KEY=.*/AWS_SECRET_ACCESS_KEY=wrong-$FAR_SECRET/" "$WORK/far.env"
expect_exit 1 c --repo far snapshot list
expect_in "$ERR" "s3://chronofs-far/off/site"
expect_in "$ERR" "403"
expect_in "$ERR" "the credentials of $WORK/far.env"
# A run backs up to near and says which copy failed, and why.
expect_exit 1 c run j --json
[ "$(jq -r '.[0] | [.result, .copies_ok, .copies_failed] | map(tostring) | join(" ")' "$OUT")" = "failed 0 1" ] ||
	fail "run j with far's secret wrong: $(cat "$OUT")"
jq -r '.[0].reason' "$OUT" | grep -qF 'cannot open repository far to copy to: The store refused access (HTTP 403)' ||
	fail "run j does not say that far refused the keys: $(cat "$OUT")"
expect_in "$ERR" "the credentials of $WORK/far.env"
if grep -qF "$FAR_SECRET" "$OUT" "$ERR"; then fail "a secret in the output"; fi
[ "$(c --repo near snapshot list --json | jq length)" = 2 ] || fail "the backup to near did not happen"

# --- s3_* keys belong to s3:// locations ----------------------------------------
cat >"$WORK/bad.conf" <<EOF
[repository local]
location = $WORK/local
s3_endpoint = $NEAR_EP

[repository odd]
location = s3://chronofs-near/odd
s3_endpoint = ftp://127.0.0.1
s3_path_style = sometimes
s3_credentials_file = relative.env
EOF
expect_exit 1 "$CHRONOCTL" --config "$WORK/bad.conf" config check
expect_in "$ERR" "$WORK/bad.conf:3: s3_endpoint: only for an s3:// location"
expect_in "$ERR" "$WORK/bad.conf:7: s3_endpoint \"ftp://127.0.0.1\": a URL http://HOST[:PORT] or https://HOST[:PORT] expected"
expect_in "$ERR" "$WORK/bad.conf:8: s3_path_style \"sometimes\": yes, no or auto expected"
expect_in "$ERR" "$WORK/bad.conf:9: s3_credentials_file \"relative.env\": an absolute path"
log "ok: two services from one config, no AWS_* in the environment"
