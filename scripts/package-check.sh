#!/usr/bin/env bash
# Packaging and config-management checks (called by scripts/test.sh after the tests; also
# runnable alone). On a fresh Debian 12 machine, as root:
#
#   1. installs (idempotently) puppet, puppet-lint, openssl, systemd's tools and cargo-deb;
#   2. puppet parser validate, puppet epp validate and puppet-lint --fail-on-warnings on
#      deploy/puppet/galley; `puppet apply --noop` of galley::coordinator (TLS, election,
#      roles) and galley::agent (https to three coordinators, TLS), which compiles the classes
#      and renders their templates with the parameters the manifests pass, and of two
#      misconfigurations the classes must refuse;
#   3. one release build of both binaries, then `cargo deb --no-build` for galley-coordinator
#      and galley-agent; dpkg-deb --info/--contents checks (binary, unit, conffiles,
#      maintainer scripts);
#   4. dpkg -i of both packages on this (throwaway) machine: the maintainer scripts must not
#      start anything when systemd is not PID 1;
#   5. from the installed paths: galley-agent --version, galley-agent --check-config and
#      galley-coordinator check-config on the packaged /etc/galley defaults, and on the
#      puppet module's templates rendered with `puppet epp render` (coordinator: minimal, and
#      full with tls, election and roles; agent: one http URL, and three https URLs with tls);
#      check-config loads the tls files, so the full renders point at a throwaway CA,
#      certificate and key that openssl generates into $WORK/tls on every run (see
#      make_test_pki; nothing is written under /etc/galley/tls); a render whose key file is
#      missing must be refused;
#   6. systemd-analyze verify on the installed units (skipped if the tool is absent, fatal if
#      it fails).
#
# Fails loudly on the first failure; prints a summary of the checks and how long it took.
set -euo pipefail
cd "$(dirname "$0")/.."

START=$(date +%s)
WORK="${GALLEY_TEST_DIR:-/tmp/galley-package-check-$$}/package-check"
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)   # absolute: puppet's file() and the rendered configs need it
PASSED=()
step() { echo; echo "=== package-check: $* ($(date -u +%H:%M:%S))"; }
ok() { PASSED+=("$*"); echo "ok: $*"; }
fail() { echo "PACKAGE CHECK FAILED: $*" >&2; exit 1; }
trap 'rc=$?; [ $rc -eq 0 ] || echo "PACKAGE CHECK FAILED (exit $rc) after $(( $(date +%s) - START )) s" >&2' EXIT

# Puppet prints Facter permission noise in containers; keep only real lines.
quiet_puppet() { "$@" 2> >(grep -v 'Facter: Permission denied' >&2); }

step "tools"
need_apt=()
command -v puppet >/dev/null || need_apt+=(puppet)
command -v puppet-lint >/dev/null || need_apt+=(puppet-lint)
command -v openssl >/dev/null || need_apt+=(openssl)
command -v deb-systemd-invoke >/dev/null || need_apt+=(init-system-helpers)
command -v dpkg-shlibdeps >/dev/null || need_apt+=(dpkg-dev)
command -v adduser >/dev/null || need_apt+=(adduser)
command -v systemd-analyze >/dev/null || need_apt+=(systemd)
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "apt-get install ${need_apt[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
if ! cargo deb --version >/dev/null 2>&1; then
    cargo install --locked cargo-deb
fi
echo "puppet $(puppet --version), $(puppet-lint --version), $(cargo deb --version), $(openssl version)"
ok "tools installed"

step "puppet module"
MODULE=deploy/puppet/galley
for f in "$MODULE"/manifests/*.pp; do
    quiet_puppet puppet parser validate "$f" || fail "puppet parser validate $f"
done
for f in "$MODULE"/templates/*.epp; do
    quiet_puppet puppet epp validate "$f" || fail "puppet epp validate $f"
done
puppet-lint --fail-on-warnings "$MODULE/manifests" || fail "puppet-lint $MODULE/manifests"
python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); assert m["name"] and m["version"]' \
    "$MODULE/metadata.json" || fail "$MODULE/metadata.json"
ok "puppet parser validate, epp validate, puppet-lint --fail-on-warnings"

# A throwaway PKI for the TLS renders: a CA, and one certificate (DNS SAN $2, EC P-256, valid
# two days) with its key, as PEM files in directory $1 (ca.pem, cert.pem, key.pem). Written
# afresh on every run (a few milliseconds), so the script stays idempotent.
make_test_pki() {
    local dir=$1 name=$2
    local ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
    rm -rf "$dir" && mkdir -p "$dir"
    openssl req -x509 "${ec[@]}" -days 2 -subj "/CN=galley package-check CA" \
        -keyout "$dir/ca-key.pem" -out "$dir/ca.pem" 2>/dev/null || fail "openssl: CA"
    openssl req "${ec[@]}" -subj "/CN=$name" -keyout "$dir/key.pem" -out "$dir/cert.csr" \
        2>/dev/null || fail "openssl: key and CSR"
    printf 'subjectAltName=DNS:%s\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\n' \
        "$name" >"$dir/cert.ext"
    openssl x509 -req -in "$dir/cert.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca-key.pem" \
        -CAcreateserial -days 2 -extfile "$dir/cert.ext" -out "$dir/cert.pem" 2>/dev/null \
        || fail "openssl: certificate"
}
make_test_pki "$WORK/tls" mesos-master1.example.com
ok "throwaway CA, certificate and key in $WORK/tls (openssl)"

# The classes themselves, compiled and evaluated without changing anything (--noop): the
# manifests' checks and the parameters they pass to the templates. Exit codes of
# --detailed-exitcodes: 0 or 2 (changes it would make) are fine, anything else failed.
TLS_CLASS="class { 'galley':
    tls_ca => file('$WORK/tls/ca.pem'), tls_cert => file('$WORK/tls/cert.pem'),
    tls_key => Sensitive(file('$WORK/tls/key.pem')), tls_key_group => 'KEYGROUP' }"
puppet_noop() { # manifest; output (Facter noise removed) in $WORK/puppet-noop.log
    local rc=0
    puppet apply --noop --detailed-exitcodes --color=false --modulepath deploy/puppet -e "$1" \
        >"$WORK/puppet-noop.raw" 2>&1 || rc=$?
    grep -v 'Facter: Permission denied' "$WORK/puppet-noop.raw" >"$WORK/puppet-noop.log" || true
    [ $rc -eq 0 ] || [ $rc -eq 2 ]
}
puppet_noop "${TLS_CLASS/KEYGROUP/galley}
    class { 'galley::coordinator':
        marathon_url => 'http://mesos-master1.example.com:8080',
        mesos_url => 'http://mesos-master1.example.com:5050',
        election_zookeeper => 'mesos-master1.example.com:2181,mesos-master2.example.com:2181',
        election_id => 'mesos-master1.example.com:7070',
        roles => { 'alice.ops.example.com' => 'operator', 'dashboard.example.com' => 'read_only' },
        service_ensure => 'stopped', service_enable => false }" \
    || { cat "$WORK/puppet-noop.log"; fail "puppet apply --noop galley::coordinator"; }
puppet_noop "${TLS_CLASS/KEYGROUP/galley-agent}
    class { 'galley::agent':
        coordinator_urls => ['https://mesos-master1.example.com:7070',
                             'https://mesos-master2.example.com:7070'],
        service_ensure => 'stopped', service_enable => false }" \
    || { cat "$WORK/puppet-noop.log"; fail "puppet apply --noop galley::agent"; }
if puppet_noop "class { 'galley::coordinator': marathon_url => 'http://m:8080',
        mesos_url => 'http://m:5050', service_ensure => 'stopped' }"; then
    fail "galley::coordinator compiled with tls on and no galley::tls_* files"
fi
grep -q 'needs galley::tls_ca' "$WORK/puppet-noop.log" || { cat "$WORK/puppet-noop.log"; fail "unexpected error"; }
if puppet_noop "class { 'galley::coordinator': marathon_url => 'http://m:8080',
        mesos_url => 'http://m:5050', service_ensure => 'stopped', tls => false }"; then
    fail "galley::coordinator compiled with tls => false but without insecure => true"
fi
grep -q 'needs insecure => true' "$WORK/puppet-noop.log" || { cat "$WORK/puppet-noop.log"; fail "unexpected error"; }
ok "puppet apply --noop: galley::coordinator (tls, election, roles), galley::agent (https, tls); misconfigurations refused"

step "release build (one build of both binaries) and .debs"
cargo build --release --locked -p galley-coordinator -p galley-agent \
    --bin galley-coordinator --bin galley-agent
DEBS="$WORK/debs"
rm -rf "$DEBS" && mkdir -p "$DEBS"
cargo deb --no-build -p galley-coordinator -o "$DEBS/"
cargo deb --no-build -p galley-agent -o "$DEBS/"
COORD_DEB=$(ls "$DEBS"/galley-coordinator_*.deb)
AGENT_DEB=$(ls "$DEBS"/galley-agent_*.deb)
ok "built $(basename "$COORD_DEB") $(basename "$AGENT_DEB")"

step "dpkg-deb --info/--contents"
check_deb() {
    local deb=$1 pkg=$2; shift 2
    # (Listings go through variables: `producer | grep -q` fails under pipefail on SIGPIPE.)
    local info contents control
    info=$(dpkg-deb --info "$deb")
    contents=$(dpkg-deb --contents "$deb")
    control=$(dpkg-deb --ctrl-tarfile "$deb" | tar -t)
    grep -q "Package: $pkg" <<<"$info" || fail "$deb: not package $pkg"
    grep -q "Depends:.*adduser" <<<"$info" || fail "$deb: does not depend on adduser"
    for script in postinst prerm postrm conffiles; do
        grep -qx "./$script" <<<"$control" || fail "$deb: no $script"
    done
    for path in "$@"; do
        grep -q " \./${path#/}\$" <<<"$contents" || fail "$deb: no $path"
    done
    local conffiles
    conffiles=$(dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles)
    grep -qx "/etc/galley/${pkg#galley-}.yaml" <<<"$conffiles" || fail "$deb: config not a conffile"
    grep -qx "/etc/default/$pkg" <<<"$conffiles" || fail "$deb: /etc/default/$pkg not a conffile"
    # Never starts the service on install (cargo-deb start = false): only try-restart.
    local postinst
    postinst=$(dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./postinst)
    grep -q 'try-restart' <<<"$postinst" || fail "$deb: postinst does not try-restart on upgrade"
    if grep -Eq 'deb-systemd-invoke (start|\$_dh_action)' <<<"$postinst"; then
        fail "$deb: postinst starts the service"
    fi
    grep -q 'if \[ -d /run/systemd/system \]' <<<"$postinst" || fail "$deb: unguarded systemctl"
}
check_deb "$COORD_DEB" galley-coordinator /usr/bin/galley-coordinator \
    /usr/lib/systemd/system/galley-coordinator.service /etc/galley/coordinator.yaml \
    /etc/default/galley-coordinator /usr/share/doc/galley-coordinator/README.md \
    /usr/share/doc/galley-coordinator/examples/coordinator-master1.yaml
check_deb "$AGENT_DEB" galley-agent /usr/bin/galley-agent \
    /usr/lib/systemd/system/galley-agent.service /etc/galley/agent.yaml \
    /etc/default/galley-agent /usr/share/doc/galley-agent/README.md
ok "dpkg-deb contents, conffiles, maintainer scripts (no start on install)"

step "dpkg -i"
if [ -d /run/systemd/system ]; then
    echo "note: systemd is running here; the packages enable but do not start the units"
fi
dpkg -i "$COORD_DEB" "$AGENT_DEB"
for pkg in galley-coordinator galley-agent; do
    [ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg")" = "ii " ] || fail "$pkg not installed"
done
getent passwd galley >/dev/null || fail "no galley user"
getent passwd galley-agent >/dev/null || fail "no galley-agent user"
[ "$(stat -c %U:%G /var/lib/galley)" = galley:galley ] || fail "/var/lib/galley not galley's"
if pgrep -f "^/usr/bin/galley-(agent|coordinator)" >/dev/null; then
    fail "a galley service was started by dpkg -i"
fi
# Reinstalling the same version runs the upgrade path of the scripts: it must be idempotent.
dpkg -i "$COORD_DEB" "$AGENT_DEB" >/dev/null
ok "dpkg -i (twice); users and directories created; nothing started"

step "installed binaries and configs"
/usr/bin/galley-agent --version
/usr/bin/galley-coordinator --version
/usr/bin/galley-agent --config /etc/galley/agent.yaml --check-config
/usr/bin/galley-coordinator check-config --config /etc/galley/coordinator.yaml
printf 'soa_dir: /x\n' >"$WORK/bad-coordinator.yaml"
if out=$(/usr/bin/galley-coordinator check-config --config "$WORK/bad-coordinator.yaml" 2>&1); then
    fail "check-config accepted a broken config"
fi
grep -q "$WORK/bad-coordinator.yaml" <<<"$out" || fail "check-config error does not name the file: $out"
ok "galley-agent --version, --check-config; galley-coordinator check-config (good and bad)"

step "puppet templates render to configs the installed binaries accept"
# The agent: one plain http URL (the old single-coordinator form), and https to three
# coordinators with the tls section (all file paths in $WORK/tls).
AGENT_COMMON='docker_socket => "/var/run/docker.sock", hostname => "slave1.example.com",
    heartbeat_interval_secs => 10, relist_interval_secs => 300, min_age_secs => 3600,
    max_reaps_per_minute => 10, reconnect_min_ms => 500, reconnect_max_ms => 30000,
    docker_timeout_secs => 30,'
quiet_puppet puppet epp render "$MODULE/templates/agent.yaml.epp" --values "{ $AGENT_COMMON
    coordinator_url => 'http://galley.norcal-prod.example.com:7070' }" >"$WORK/agent-http.yaml"
quiet_puppet puppet epp render "$MODULE/templates/agent.yaml.epp" --values "{ $AGENT_COMMON
    coordinator_urls => ['https://mesos-master1.example.com:7070',
        'https://mesos-master2.example.com:7070', 'https://mesos-master3.example.com:7070'],
    metrics_listen => '0.0.0.0:9101', tls_ca_file => '$WORK/tls/ca.pem',
    tls_cert_file => '$WORK/tls/cert.pem', tls_key_file => '$WORK/tls/key.pem' }" \
    >"$WORK/agent-https.yaml"
grep -q '^tls:' "$WORK/agent-https.yaml" || fail "agent-https.yaml has no tls section"
for variant in http https; do
    /usr/bin/galley-agent --config "$WORK/agent-$variant.yaml" --check-config
done
echo 'galley:secret' >"$WORK/marathon-credentials"
echo 'hmac-secret' >"$WORK/webhook-secret"
render_coordinator() { # variant extra-values output
    quiet_puppet puppet epp render "$MODULE/templates/coordinator.yaml.epp" --values "{ $2
        soa_dir => '/nail/etc/services', system_config_dir => '/etc/paasta',
        marathon_url => 'http://mesos-master1.example.com:8080', marathon_timeout_seconds => 10,
        mesos_url => 'http://mesos-master1.example.com:5050', mesos_timeout_seconds => 10,
        interval_seconds => 30, kill_threshold => 0.5, max_cleanup_deletes_per_pass => 20,
        max_task_kills_per_pass => 1000, dry_run => false, listen => '0.0.0.0:7070',
        git_poll_interval_seconds => 10, git_timeout_seconds => 30,
        git_unreachable_alert_after_seconds => 300, git_ssh_user => 'git',
        git_mirror_dir => '/var/lib/galley/git-mirrors' }" >"$3"
}
# minimal: no tls, no election (check-config warns, exit 0); full: every optional key,
# including election, tls (the throwaway PKI) and roles.
render_coordinator minimal 'cluster => undef, credentials_file => undef, deploy_log => undef,
    metrics_listen => undef, git_webhook_listen => undef,
    git_webhook_secret_file => undef, git_ssh_key => undef,' "$WORK/coordinator-minimal.yaml"
FULL="cluster => 'norcal-prod', credentials_file => '$WORK/marathon-credentials',
    deploy_log => '/var/log/galley/deploy.log', metrics_listen => '0.0.0.0:7071',
    git_webhook_listen => '0.0.0.0:7072', git_webhook_secret_file => '$WORK/webhook-secret',
    git_ssh_key => '/etc/galley/ssh/id_ed25519',
    election_zookeeper => 'mesos-master1.example.com:2181,mesos-master2.example.com:2181',
    election_path => '/galley/norcal-prod/leader', election_session_timeout_seconds => 10,
    election_grace_period_seconds => 30, election_id => 'mesos-master1.example.com:7070',
    tls_cert_file => '$WORK/tls/cert.pem', tls_client_ca_file => '$WORK/tls/ca.pem',
    tls_reload_interval_seconds => 10,
    roles => { 'alice.ops.example.com' => 'operator', 'dashboard.example.com' => 'read_only' },"
render_coordinator full "$FULL tls_key_file => '$WORK/tls/key.pem'," "$WORK/coordinator-full.yaml"
for section in election tls roles; do
    grep -q "^$section:" "$WORK/coordinator-full.yaml" || fail "coordinator-full.yaml: no $section"
done
for variant in minimal full; do
    /usr/bin/galley-coordinator check-config --config "$WORK/coordinator-$variant.yaml"
done
# check-config loads the tls files: a missing key must fail, naming it.
render_coordinator no-key "$FULL tls_key_file => '$WORK/tls/missing-key.pem'," \
    "$WORK/coordinator-no-key.yaml"
if out=$(/usr/bin/galley-coordinator check-config --config "$WORK/coordinator-no-key.yaml" 2>&1); then
    fail "check-config accepted a tls section whose key file is missing"
fi
grep -q "missing-key.pem" <<<"$out" || fail "check-config error does not name the key file: $out"
ok "puppet epp render: agent.yaml (http; https + tls), coordinator.yaml (minimal; full with election, tls, roles) pass the binaries' checks; a missing tls key is refused"

step "systemd-analyze verify"
if command -v systemd-analyze >/dev/null; then
    # The agent's unit names the docker group; make sure it exists as on a Mesos slave.
    getent group docker >/dev/null || addgroup --system docker >/dev/null
    for unit in galley-coordinator galley-agent; do
        SYSTEMD_LOG_LEVEL=warning systemd-analyze verify "/usr/lib/systemd/system/$unit.service" \
            || fail "systemd-analyze verify $unit.service"
    done
    ok "systemd-analyze verify on the installed units"
else
    echo "systemd-analyze not available: skipped"
    PASSED+=("systemd-analyze verify SKIPPED (tool absent)")
fi

echo
echo "=== package-check summary ($(( $(date +%s) - START )) s)"
for p in "${PASSED[@]}"; do echo "  ok  $p"; done
echo "  packages: $COORD_DEB $AGENT_DEB"
