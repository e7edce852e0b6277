# @summary The Galley agent on a Mesos slave: package, /etc/galley/agent.yaml, service.
#
# The config is validated by the new binary before it replaces the old file
# (`galley-agent --check-config`), so a bad hiera value never reaches a running agent. A
# config change reloads the service (validate, then graceful restart; the agent re-lists
# Docker on start and keeps no state on disk).
#
# @param coordinator_url
#   The coordinator's gRPC endpoint, e.g. `http://galley.norcal-prod.example.com:7070`.
#   Required (no default).
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
#   galley::agent::coordinator_url: 'http://galley.norcal-prod.example.com:7070'
class galley::agent (
  String[1] $coordinator_url,
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
  contain galley

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
