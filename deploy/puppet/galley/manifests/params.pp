# @summary Fixed facts of the Debian packages (paths, user names); not meant to be overridden.
#
# @api private
class galley::params {
  $config_dir = '/etc/galley'
  $tls_dir = '/etc/galley/tls'
  $coordinator_package = 'galley-coordinator'
  $coordinator_service = 'galley-coordinator'
  $coordinator_user = 'galley'
  $coordinator_binary = '/usr/bin/galley-coordinator'
  $agent_package = 'galley-agent'
  $agent_service = 'galley-agent'
  $agent_user = 'galley-agent'
  $agent_binary = '/usr/bin/galley-agent'
}
