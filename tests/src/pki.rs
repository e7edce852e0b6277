//! Test certificates made at test time with rcgen: CAs, server, operator and agent
//! certificates, written as PEM files.

use std::path::PathBuf;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

/// A certificate authority.
pub struct Ca {
    /// The CA certificate.
    pub pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    /// A new self-signed CA.
    pub fn new(name: &str) -> Self {
        let key = KeyPair::generate().expect("key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let cert = params.self_signed(&key).expect("ca");
        Self {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// (cert PEM, key PEM) for `names`; `expired`: valid only in 2001.
    pub fn issue(&self, names: &[&str], expired: bool) -> (String, String) {
        let key = KeyPair::generate().expect("key");
        let mut params =
            CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .expect("params");
        if expired {
            params.not_before = rcgen::date_time_ymd(2001, 1, 1);
            params.not_after = rcgen::date_time_ymd(2001, 12, 31);
        }
        let cert = params.signed_by(&key, &self.issuer).expect("sign");
        (cert.pem(), key.serialize_pem())
    }
}

/// Two CAs and a directory for PEM files.
pub struct Pki {
    /// Where files go.
    pub dir: tempfile::TempDir,
    /// The cluster's CA.
    pub ca: Ca,
    /// A CA nobody trusts.
    pub other_ca: Ca,
}

impl Default for Pki {
    fn default() -> Self {
        Self::new()
    }
}

impl Pki {
    /// Two fresh CAs.
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("tmp"),
            ca: Ca::new("galley test CA"),
            other_ca: Ca::new("someone else's CA"),
        }
    }

    /// Writes `text` to `name` in the directory.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).expect("write");
        p
    }

    /// Client files for `names` signed by `ca`: (cert, key) paths.
    pub fn client(&self, ca: &Ca, file: &str, names: &[&str], expired: bool) -> (PathBuf, PathBuf) {
        let (c, k) = ca.issue(names, expired);
        (
            self.write(&format!("{file}.crt"), &c),
            self.write(&format!("{file}.key"), &k),
        )
    }
}
