# @summary Common Galley setup: /etc/galley and the cluster's TLS files.
#
# Included by galley::agent and galley::coordinator; declare it yourself (or set its keys in
# hiera) only to hand out TLS files.
#
# @param tls_ca
#   PEM of the CA that signs the cluster's Galley certificates; written to
#   /etc/galley/tls/ca.pem (0644). Undef: no file.
# @param tls_cert
#   PEM of this host's certificate (chain); written to /etc/galley/tls/cert.pem (0644).
# @param tls_key
#   PEM of this host's private key; written to /etc/galley/tls/key.pem (0640, group
#   `tls_key_group`). Keep it in eyaml.
# @param tls_key_group
#   Group that may read the key (the service user of the host's Galley daemon).
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
