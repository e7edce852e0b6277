# @summary The Galley agent on a Mesos slave: package, /etc/galley/agent.yaml, service.
#
# The config is validated by the new binary before it replaces the old file
# (`galley-agent --check-config`), so a bad hiera value never reaches a running agent. A
# config change reloads the service (validate, then graceful restart; the agent re-lists
# Docker on start and keeps no state on disk).
#
# The agent keeps a session to every coordinator it is given (one per Mesos master), so
# whichever is elected leader has a fresh inventory: list them all in `coordinator_urls`.
#
# TLS: with `https://` URLs the config gets a `tls:` section naming the files the `galley`
# class writes, so `galley::tls_ca`, `galley::tls_cert` and `galley::tls_key` must be set
# (and `galley::tls_key_group` must be `galley-agent`, the service's user), or the catalog
# fails. The certificate's DNS SAN must be this slave's hostname (`hostname`, else the kernel
# hostname): the coordinator refuses inventory for any other host. The agent re-reads the
# files at every (re)connect; puppet does not restart it when they change.
#
# @param coordinator_url
#   One coordinator's gRPC endpoint, e.g. `https://mesos-master1.norcal-prod.example.com:7070`.
#   Kept for existing hiera; `coordinator_urls` is the way to name several. At least one URL
#   overall (this or `coordinator_urls`) is required.
# @param coordinator_urls
#   Every coordinator of the cluster (one per master), e.g.
#   `['https://mesos-master1.norcal-prod.example.com:7070', ...]`; the agent keeps a session
#   to each (and to `coordinator_url`, duplicates ignored).
# @param tls
#   Mutual TLS to the coordinators: renders `tls:` with /etc/galley/tls/{ca,cert,key}.pem.
#   Undef: on exactly when the URLs are `https://`. Every URL must be `https://` with TLS
#   and `http://` without.
# @param package_ensure
#   `installed`, `latest` or a version (`0.2.0`): pin it per host group to roll out a new
#   agent gradually (see the README).
# @param service_ensure
#   `running` or `stopped`.
# @param service_enable
#   Start at boot.
# @param docker_socket
#   Docker's unix socket.
# @param hostname
#   The slave's hostname as Mesos reports it; undef: the kernel hostname.
# @param heartbeat_interval_secs
#   Seconds between heartbeats to the coordinator.
# @param relist_interval_secs
#   Seconds between full Docker re-lists.
# @param min_age_secs
#   Containers younger than this are never reaped.
# @param max_reaps_per_minute
#   The agent's own reap budget.
# @param reconnect_min_ms
#   Reconnect backoff floor.
# @param reconnect_max_ms
#   Reconnect backoff ceiling.
# @param docker_timeout_secs
#   Timeout of each Docker request.
# @param metrics_listen
#   `ip:port` for the agent's Prometheus `/metrics` and `/healthz` (e.g. `0.0.0.0:9101`);
#   undef: not served.
# @param log_level
#   RUST_LOG of the service (e.g. `info`, `debug`).
#
# @example On every Mesos slave (hiera)
#   classes: ['galley::agent']
#   galley::agent::coordinator_urls:
#     - 'https://mesos-master1.norcal-prod.example.com:7070'
#     - 'https://mesos-master2.norcal-prod.example.com:7070'
#     - 'https://mesos-master3.norcal-prod.example.com:7070'
#   galley::tls_ca: "%{lookup('pki::ca_pem')}"
#   galley::tls_cert: "%{lookup('pki::host_cert_pem')}"
#   galley::tls_key: ENC[PKCS7,...]
#   galley::tls_key_group: 'galley-agent'
class galley::agent (
  Optional[String[1]] $coordinator_url = undef,
  Array[String[1]] $coordinator_urls = [],
  Optional[Boolean] $tls = undef,
  String[1] $package_ensure = 'installed',
  Enum['running', 'stopped'] $service_ensure = 'running',
  Boolean $service_enable = true,
  String[1] $docker_socket = '/var/run/docker.sock',
  Optional[String[1]] $hostname = undef,
  Integer[1] $heartbeat_interval_secs = 10,
  Integer[1] $relist_interval_secs = 300,
  Integer[0] $min_age_secs = 3600,
  Integer[0] $max_reaps_per_minute = 10,
  Integer[1] $reconnect_min_ms = 500,
  Integer[1] $reconnect_max_ms = 30000,
  Integer[1] $docker_timeout_secs = 30,
  Optional[String[1]] $metrics_listen = undef,
  String[1] $log_level = 'info',
) inherits galley::params {
  $urls = ([$coordinator_url] + $coordinator_urls).filter |$u| { $u =~ NotUndef }.unique
  if $urls.empty {
    fail('galley::agent: coordinator_urls (or coordinator_url) must name at least one coordinator')
  }
  $https = $urls.filter |$u| { $u =~ /\Ahttps:\/\// }
  $use_tls = $tls ? {
    undef   => !$https.empty,
    default => $tls,
  }
  if $use_tls and $https.length != $urls.length {
    fail("galley::agent: with TLS every coordinator URL must be https://: ${urls.join(', ')}")
  }
  if !$use_tls and !$https.empty {
    fail("galley::agent: https:// coordinator URLs need tls => true: ${urls.join(', ')}")
  }

  contain galley

  $tls_dir = $galley::params::tls_dir
  $tls_ca_file = "${tls_dir}/ca.pem"
  $tls_cert_file = "${tls_dir}/cert.pem"
  $tls_key_file = "${tls_dir}/key.pem"
  if $use_tls {
    if !($galley::tls_ca and $galley::tls_cert and $galley::tls_key) {
      fail('galley::agent: TLS needs galley::tls_ca, galley::tls_cert and galley::tls_key')
    }
    if $galley::tls_key_group != $galley::params::agent_user {
      fail(@("MSG"/L))
        galley::agent: galley::tls_key_group must be '${galley::params::agent_user}' \
        (the agent's user reads ${tls_key_file}), not '${galley::tls_key_group}'
        |- MSG
    }
  }

  package { $galley::params::agent_package:
    ensure => $package_ensure,
  }

  file { "${galley::params::config_dir}/agent.yaml":
    ensure       => file,
    owner        => 'root',
    group        => 'root',
    mode         => '0644',
    content      => epp('galley/agent.yaml.epp', {
        'coordinator_url'         => $coordinator_url,
        'coordinator_urls'        => $coordinator_urls,
        'tls_ca_file'             => if $use_tls { $tls_ca_file } else { undef },
        'tls_cert_file'           => if $use_tls { $tls_cert_file } else { undef },
        'tls_key_file'            => if $use_tls { $tls_key_file } else { undef },
        'docker_socket'           => $docker_socket,
        'hostname'                => $hostname,
        'heartbeat_interval_secs' => $heartbeat_interval_secs,
        'relist_interval_secs'    => $relist_interval_secs,
        'min_age_secs'            => $min_age_secs,
        'max_reaps_per_minute'    => $max_reaps_per_minute,
        'reconnect_min_ms'        => $reconnect_min_ms,
        'reconnect_max_ms'        => $reconnect_max_ms,
        'docker_timeout_secs'     => $docker_timeout_secs,
        'metrics_listen'          => $metrics_listen,
    }),
    validate_cmd => "${galley::params::agent_binary} --config % --check-config",
  }

  file { "/etc/default/${galley::params::agent_service}":
    ensure  => file,
    owner   => 'root',
    group   => 'root',
    mode    => '0644',
    content => epp('galley/default.epp', { 'log_level' => $log_level, 'extra_args' => undef }),
  }

  service { $galley::params::agent_service:
    ensure  => $service_ensure,
    enable  => $service_enable,
    restart => "/bin/systemctl reload ${galley::params::agent_service}.service",
  }

  Package[$galley::params::agent_package]
  -> Class['galley']
  -> File["${galley::params::config_dir}/agent.yaml"]
  ~> Service[$galley::params::agent_service]

  Package[$galley::params::agent_package]
  -> File["/etc/default/${galley::params::agent_service}"]
  ~> Service[$galley::params::agent_service]

  # No refresh from the package: a new version restarts a running agent through the
  # package's own postinst (try-restart); a second restart here would only add churn.
  Package[$galley::params::agent_package] -> Service[$galley::params::agent_service]
}
