# @summary Common Galley setup: /etc/galley and the cluster's TLS files.
#
# Included by galley::agent and galley::coordinator; set its keys in hiera to hand out the
# TLS files. They are required wherever TLS is on (galley::coordinator's default; galley::agent
# with https:// URLs): the classes fail the catalog without them.
#
# @param tls_ca
#   PEM of the CA that signs the cluster's Galley certificates (coordinators', agents' and
#   operators'); written to /etc/galley/tls/ca.pem (0644). Undef: no file.
# @param tls_cert
#   PEM of this host's certificate (chain); written to /etc/galley/tls/cert.pem (0644). Its
#   DNS SAN: on a master the name agents and operators dial; on a slave the slave's hostname
#   as Mesos reports it (the coordinator refuses an agent's inventory for any other host).
# @param tls_key
#   PEM of this host's private key; written to /etc/galley/tls/key.pem (0640, group
#   `tls_key_group`). Keep it in eyaml (hiera `lookup_options`: `convert_to: Sensitive`).
# @param tls_key_group
#   Group that may read the key: the user of the host's Galley daemon, `galley` on a master,
#   `galley-agent` on a slave (the classes check it when TLS is on).
#
# @example TLS files from hiera (eyaml for the key)
#   galley::tls_ca: "%{lookup('pki::ca_pem')}"
#   galley::tls_cert: "%{lookup('pki::host_cert_pem')}"
#   galley::tls_key: ENC[PKCS7,...]
class galley (
  Optional[String[1]] $tls_ca = undef,
  Optional[String[1]] $tls_cert = undef,
  Optional[Sensitive[String[1]]] $tls_key = undef,
  String[1] $tls_key_group = 'root',
) inherits galley::params {
  file { $galley::params::config_dir:
    ensure => directory,
    owner  => 'root',
    group  => 'root',
    mode   => '0755',
  }

  if $tls_ca or $tls_cert or $tls_key {
    file { $galley::params::tls_dir:
      ensure => directory,
      owner  => 'root',
      group  => 'root',
      mode   => '0755',
    }
  }
  if $tls_ca {
    file { "${galley::params::tls_dir}/ca.pem":
      ensure  => file,
      owner   => 'root',
      group   => 'root',
      mode    => '0644',
      content => $tls_ca,
    }
  }
  if $tls_cert {
    file { "${galley::params::tls_dir}/cert.pem":
      ensure  => file,
      owner   => 'root',
      group   => 'root',
      mode    => '0644',
      content => $tls_cert,
    }
  }
  if $tls_key {
    file { "${galley::params::tls_dir}/key.pem":
      ensure    => file,
      owner     => 'root',
      group     => $tls_key_group,
      mode      => '0640',
      content   => $tls_key,
      show_diff => false,
    }
  }
}
