//! What the gRPC client commands (`status`, `mark-for-deployment --wait`, `rollback --wait`)
//! share: the TLS options grpcurl users pass, and durations as operators write them.

use std::path::PathBuf;
use std::time::Duration;

use galley_coordinator::operator::ClientTls;

/// `--cacert`, `--cert`, `--key`: mutual TLS to the coordinator (plaintext without them).
#[derive(clap::Args, Debug, Clone)]
pub struct TlsArgs {
    /// CA bundle that signed the coordinator's certificate (PEM); with it, the connection is
    /// TLS.
    #[arg(long)]
    cacert: Option<PathBuf>,
    /// This operator's certificate (PEM).
    #[arg(long, requires = "cacert")]
    cert: Option<PathBuf>,
    /// Its private key (PEM).
    #[arg(long, requires = "cert")]
    key: Option<PathBuf>,
}

impl TlsArgs {
    /// The TLS files, `None` for plaintext.
    pub fn tls(&self) -> Option<ClientTls> {
        self.cacert.as_ref().map(|ca| ClientTls {
            ca: ca.clone(),
            cert: self.cert.clone(),
            key: self.key.clone(),
        })
    }
}

/// `30m`, `90s`, `1h`, `2h30m`, or plain seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("{text:?} is not a duration like 30m, 90s or 1h");
    if let Ok(secs) = text.parse::<f64>() {
        return Duration::try_from_secs_f64(secs).map_err(|_| bad());
    }
    let (mut total, mut digits) = (0u64, String::new());
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return Err(bad()),
        };
        let n: u64 = digits.parse().map_err(|_| bad())?;
        total = total.saturating_add(n.saturating_mul(unit));
        digits.clear();
    }
    if !digits.is_empty() || text.is_empty() {
        return Err(bad());
    }
    Ok(Duration::from_secs(total))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::parse_duration;

    #[test]
    fn durations_as_operators_write_them() {
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("2h30m"), Ok(Duration::from_secs(9000)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        for bad in ["", "5x", "m", "10m5", "-3"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
