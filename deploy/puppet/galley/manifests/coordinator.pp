# @summary The Galley coordinator on a Mesos master: package, /etc/galley/coordinator.yaml,
#   secret files, service.
#
# The config is validated by the installed binary before it replaces the old file
# (`galley-coordinator check-config`), after the secret and TLS files it names are in place
# (check-config loads the certificate, key and CA), so a bad hiera value or a broken
# certificate never reaches a running coordinator. A config change reloads the service
# (validate, then graceful restart); changed TLS files are picked up by the running
# coordinator itself (`tls_reload_interval_seconds`), without a restart.
#
# Run it on every master of the cluster, all with `dry_run => false` and the same
# `election_zookeeper`: the coordinators elect one leader through ZooKeeper; followers plan
# but never write, and a new leader waits `election_grace_period_seconds` before deleting
# apps, killing tasks or reaping (see the README, "Deploying to a cluster"). Without
# `election_zookeeper` the coordinator leads alone: run exactly one per cluster then.
#
# TLS is on by default (`tls => true`): the config's `tls:` section names the files the
# `galley` class writes, so `galley::tls_ca`, `galley::tls_cert` and `galley::tls_key` must
# be set (and `galley::tls_key_group` must be `galley`, the service's user), or the catalog
# fails. The certificate's DNS SAN must be the name agents and operators dial (the master's
# FQDN). Plaintext needs both `tls => false` and `insecure => true` (a laptop or a test only).
#
# @param marathon_url
#   Base URL of a Marathon of the cluster, e.g. `http://mesos-master1.example.com:8080`.
#   Required.
# @param mesos_url
#   Base URL of a Mesos master (followers redirect to the leader). Required.
# @param package_ensure
#   `installed`, `latest` or a version.
# @param service_ensure
#   `running` or `stopped`.
# @param service_enable
#   Start at boot.
# @param cluster
#   The cluster's name; undef: `cluster` of the system config.
# @param soa_dir
#   yelpsoa-configs root (writable by the `galley` user: deployments.json is written there).
# @param system_config_dir
#   PaaSTA's system config directory (`*.json`).
# @param marathon_credentials
#   `user:password` for Marathon's basic auth; written to /etc/galley/marathon-credentials
#   (0640 root:galley). Undef: no auth.
# @param marathon_timeout_seconds
#   Per-request Marathon timeout.
# @param mesos_timeout_seconds
#   Per-request Mesos timeout.
# @param interval_seconds
#   Seconds between periodic reconcile passes.
# @param kill_threshold
#   Cleanup refuses to delete more than this fraction of the apps.
# @param max_cleanup_deletes_per_pass
#   Apps deleted by cleanup per pass, at most.
# @param max_task_kills_per_pass
#   Tasks killed by bounces per pass, at most.
# @param dry_run
#   Plan and log, but change nothing in Marathon, even as the leader. Not how standbys are
#   made any more: with `election_zookeeper` every master runs with `false` and only the
#   elected leader writes. Use it to watch a new cluster's plans before letting Galley act.
# @param deploy_log
#   Deploy log file (JSON lines); undef: none.
# @param listen
#   gRPC listen address (agents and operators).
# @param metrics_listen
#   Prometheus `/metrics` listen address; undef: none.
# @param git_poll_interval_seconds
#   Seconds between polls of every service's refs.
# @param git_timeout_seconds
#   Per-repository listing and push timeout.
# @param git_webhook_listen
#   Git webhook listen address; undef: no webhook. Needs `git_webhook_secret`.
# @param git_webhook_secret
#   The webhook's HMAC secret; written to /etc/galley/git-webhook-secret (0640 root:galley).
# @param git_unreachable_alert_after_seconds
#   A repository unreachable this long raises an alert.
# @param git_ssh_key
#   Private key for pushing tags over ssh; written to /etc/galley/ssh/id_ed25519 (0600
#   galley). Undef: the ssh agent.
# @param git_ssh_user
#   User name for ssh pushes.
# @param git_mirror_dir
#   Where mirrors are kept to push tags from.
# @param election_zookeeper
#   ZooKeeper connect string for leader election, `host:port[,host:port...]` (the ensemble
#   Mesos uses, e.g. `mesos-master1.example.com:2181,mesos-master2.example.com:2181`).
#   Undef: no `election:` section, this coordinator leads alone.
# @param election_path
#   Election znode; undef: `/galley/<cluster>/leader`. Only with `election_zookeeper`.
# @param election_session_timeout_seconds
#   ZooKeeper session timeout (0.4 to 600): a crashed leader is replaced after it; a leader
#   cut off from ZooKeeper stops acting after 2/5 of it.
# @param election_grace_period_seconds
#   A new leader reconciles watch-only (no app deletes, task kills or reaps) this long.
# @param election_id
#   How followers name this coordinator (in errors that point callers to the leader);
#   undef: `<kernel hostname>:<listen port>`. Set it to the FQDN and port clients dial if the
#   kernel hostname is short. Only with `election_zookeeper`.
# @param tls
#   Mutual TLS on the gRPC port: renders `tls:` with /etc/galley/tls/{cert,key,ca}.pem, which
#   the `galley` class writes from `galley::tls_cert`, `galley::tls_key`, `galley::tls_ca`
#   (all three required). `false` needs `insecure => true`.
# @param tls_reload_interval_seconds
#   Seconds between the running coordinator's checks of the TLS files for changes.
# @param roles
#   Operator certificates: DNS SAN of a client certificate => `operator` (reads and writes)
#   or `read_only`. Agents need no entry. Names not listed may not call the operator API.
#   Ignored without TLS (then every caller is an operator).
# @param insecure
#   With `tls => false` only: adds `--insecure` to `galley-coordinator serve`
#   (GALLEY_COORDINATOR_ARGS in /etc/default/galley-coordinator): plaintext gRPC where every
#   caller is an operator. Never on a cluster.
# @param log_level
#   RUST_LOG of the service.
# @param extra_args
#   Extra arguments to `galley-coordinator serve` (e.g. `--log-json`).
#
# @example Every master (hiera: common.yaml for the cluster, one node file per master)
#   classes: ['galley::coordinator']
#   galley::coordinator::cluster: 'norcal-prod'
#   galley::coordinator::election_zookeeper: 'mesos-master1:2181,mesos-master2:2181,mesos-master3:2181'
#   galley::coordinator::roles:
#     'deployer.norcal-prod.example.com': 'operator'
#     'dashboard.norcal-prod.example.com': 'read_only'
#   galley::tls_ca: "%{lookup('pki::ca_pem')}"
#   galley::tls_cert: "%{lookup('pki::host_cert_pem')}"
#   galley::tls_key: ENC[PKCS7,...]
#   galley::tls_key_group: 'galley'
#   # nodes/mesos-master1.yaml
#   galley::coordinator::marathon_url: 'http://mesos-master1.norcal-prod.example.com:8080'
#   galley::coordinator::mesos_url: 'http://mesos-master1.norcal-prod.example.com:5050'
#   galley::coordinator::election_id: 'mesos-master1.norcal-prod.example.com:7070'
class galley::coordinator (
  String[1] $marathon_url,
  String[1] $mesos_url,
  String[1] $package_ensure = 'installed',
  Enum['running', 'stopped'] $service_ensure = 'running',
  Boolean $service_enable = true,
  Optional[String[1]] $cluster = undef,
  String[1] $soa_dir = '/nail/etc/services',
  String[1] $system_config_dir = '/etc/paasta',
  Optional[Sensitive[String[1]]] $marathon_credentials = undef,
  Numeric $marathon_timeout_seconds = 10,
  Numeric $mesos_timeout_seconds = 10,
  Numeric $interval_seconds = 30,
  Float[0.0, 1.0] $kill_threshold = 0.5,
  Integer[0] $max_cleanup_deletes_per_pass = 20,
  Integer[0] $max_task_kills_per_pass = 1000,
  Boolean $dry_run = false,
  Optional[String[1]] $deploy_log = '/var/log/galley/deploy.log',
  String[1] $listen = '0.0.0.0:7070',
  Optional[String[1]] $metrics_listen = '0.0.0.0:7071',
  Numeric $git_poll_interval_seconds = 10,
  Numeric $git_timeout_seconds = 30,
  Optional[String[1]] $git_webhook_listen = undef,
  Optional[Sensitive[String[1]]] $git_webhook_secret = undef,
  Numeric $git_unreachable_alert_after_seconds = 300,
  Optional[Sensitive[String[1]]] $git_ssh_key = undef,
  String[1] $git_ssh_user = 'git',
  String[1] $git_mirror_dir = '/var/lib/galley/git-mirrors',
  Optional[String[1]] $election_zookeeper = undef,
  Optional[String[1]] $election_path = undef,
  Numeric $election_session_timeout_seconds = 10,
  Numeric $election_grace_period_seconds = 30,
  Optional[String[1]] $election_id = undef,
  Boolean $tls = true,
  Numeric $tls_reload_interval_seconds = 10,
  Hash[String[1], Enum['operator', 'read_only']] $roles = {},
  Boolean $insecure = false,
  String[1] $log_level = 'info',
  Optional[String[1]] $extra_args = undef,
) inherits galley::params {
  if $git_webhook_listen and !$git_webhook_secret {
    fail('galley::coordinator: git_webhook_listen needs git_webhook_secret')
  }
  if !$election_zookeeper and ($election_path or $election_id) {
    fail('galley::coordinator: election_path and election_id need election_zookeeper')
  }
  if $tls and $insecure {
    fail('galley::coordinator: insecure => true is only for tls => false')
  }
  if !$tls and !$insecure {
    fail(@(MSG/L))
      galley::coordinator: tls => false needs insecure => true: without a tls section \
      galley-coordinator serve refuses to start unless --insecure (plaintext gRPC, every \
      caller is an operator)
      |- MSG
  }

  contain galley

  $tls_dir = $galley::params::tls_dir
  $tls_ca_file = "${tls_dir}/ca.pem"
  $tls_cert_file = "${tls_dir}/cert.pem"
  $tls_key_file = "${tls_dir}/key.pem"
  if $tls {
    if !($galley::tls_ca and $galley::tls_cert and $galley::tls_key) {
      fail('galley::coordinator: tls => true needs galley::tls_ca, galley::tls_cert and galley::tls_key')
    }
    if $galley::tls_key_group != $galley::params::coordinator_user {
      fail(@("MSG"/L))
        galley::coordinator: galley::tls_key_group must be '${galley::params::coordinator_user}' \
        (the coordinator's user reads ${tls_key_file}), not '${galley::tls_key_group}'
        |- MSG
    }
  }

  $config_dir = $galley::params::config_dir
  $user = $galley::params::coordinator_user
  $config_file = "${config_dir}/coordinator.yaml"
  $credentials_file = "${config_dir}/marathon-credentials"
  $webhook_secret_file = "${config_dir}/git-webhook-secret"
  $ssh_dir = "${config_dir}/ssh"
  $ssh_key_file = "${ssh_dir}/id_ed25519"

  package { $galley::params::coordinator_package:
    ensure => $package_ensure,
  }

  $secrets = {
    $credentials_file    => $marathon_credentials,
    $webhook_secret_file => $git_webhook_secret,
  }
  $secrets.each |String $path, $secret| {
    file { $path:
      ensure    => if $secret { 'file' } else { 'absent' },
      owner     => 'root',
      group     => $user,
      mode      => '0640',
      content   => $secret,
      show_diff => false,
      require   => Package[$galley::params::coordinator_package],
      before    => File[$config_file],
      notify    => Service[$galley::params::coordinator_service],
    }
  }

  file { $ssh_dir:
    ensure  => if $git_ssh_key { 'directory' } else { 'absent' },
    force   => true,
    owner   => $user,
    group   => $user,
    mode    => '0700',
    require => Package[$galley::params::coordinator_package],
  }
  if $git_ssh_key {
    file { $ssh_key_file:
      ensure    => file,
      owner     => $user,
      group     => $user,
      mode      => '0600',
      content   => $git_ssh_key,
      show_diff => false,
      before    => File[$config_file],
      notify    => Service[$galley::params::coordinator_service],
    }
  }

  file { $config_file:
    ensure       => file,
    owner        => 'root',
    group        => $user,
    mode         => '0640',
    content      => epp('galley/coordinator.yaml.epp', {
        'cluster'                             => $cluster,
        'soa_dir'                             => $soa_dir,
        'system_config_dir'                   => $system_config_dir,
        'marathon_url'                        => $marathon_url,
        'credentials_file'                    => if $marathon_credentials { $credentials_file } else { undef },
        'marathon_timeout_seconds'            => $marathon_timeout_seconds,
        'mesos_url'                           => $mesos_url,
        'mesos_timeout_seconds'               => $mesos_timeout_seconds,
        'interval_seconds'                    => $interval_seconds,
        'kill_threshold'                      => $kill_threshold,
        'max_cleanup_deletes_per_pass'        => $max_cleanup_deletes_per_pass,
        'max_task_kills_per_pass'             => $max_task_kills_per_pass,
        'dry_run'                             => $dry_run,
        'deploy_log'                          => $deploy_log,
        'listen'                              => $listen,
        'metrics_listen'                      => $metrics_listen,
        'git_poll_interval_seconds'           => $git_poll_interval_seconds,
        'git_timeout_seconds'                 => $git_timeout_seconds,
        'git_webhook_listen'                  => $git_webhook_listen,
        'git_webhook_secret_file'             => if $git_webhook_secret { $webhook_secret_file } else { undef },
        'git_unreachable_alert_after_seconds' => $git_unreachable_alert_after_seconds,
        'git_ssh_key'                         => if $git_ssh_key { $ssh_key_file } else { undef },
        'git_ssh_user'                        => $git_ssh_user,
        'git_mirror_dir'                      => $git_mirror_dir,
        'election_zookeeper'                  => $election_zookeeper,
        'election_path'                       => $election_path,
        'election_session_timeout_seconds'    => $election_session_timeout_seconds,
        'election_grace_period_seconds'       => $election_grace_period_seconds,
        'election_id'                         => $election_id,
        'tls_cert_file'                       => if $tls { $tls_cert_file } else { undef },
        'tls_key_file'                        => if $tls { $tls_key_file } else { undef },
        'tls_client_ca_file'                  => if $tls { $tls_ca_file } else { undef },
        'tls_reload_interval_seconds'         => $tls_reload_interval_seconds,
        'roles'                               => $roles,
    }),
    validate_cmd => "${galley::params::coordinator_binary} check-config --config %",
  }

  # --insecure (plaintext) only ever comes from the explicit `insecure` parameter.
  $serve_args_list = [if $insecure { '--insecure' }, $extra_args].filter |$a| { $a =~ NotUndef }
  $serve_args = if $serve_args_list.empty { undef } else { $serve_args_list.join(' ') }

  file { "/etc/default/${galley::params::coordinator_service}":
    ensure  => file,
    owner   => 'root',
    group   => 'root',
    mode    => '0644',
    content => epp('galley/default.epp', { 'log_level' => $log_level, 'extra_args' => $serve_args }),
  }

  service { $galley::params::coordinator_service:
    ensure  => $service_ensure,
    enable  => $service_enable,
    restart => "/bin/systemctl reload ${galley::params::coordinator_service}.service",
  }

  Package[$galley::params::coordinator_package]
  -> Class['galley']
  -> File[$config_file]
  ~> Service[$galley::params::coordinator_service]

  Package[$galley::params::coordinator_package]
  -> File["/etc/default/${galley::params::coordinator_service}"]
  ~> Service[$galley::params::coordinator_service]

  # check-config (validate_cmd) loads the TLS files: they must be in place before the config.
  # (Class['galley'] above already orders them; this keeps it explicit.)
  if $tls {
    File[$tls_ca_file, $tls_cert_file, $tls_key_file] -> File[$config_file]
  }
}
