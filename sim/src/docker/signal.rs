//! Signal parsing as Docker's `signal.ParseSignal` and the linux daemon's validity check do it.

/// SIGKILL, the default of `kill` and the second step of `stop`.
pub const SIGKILL: i64 = 9;
/// SIGTERM, the first step of `stop`.
pub const SIGTERM: i64 = 15;
/// The highest signal number the linux daemon accepts (SIGRTMAX).
const SIGRTMAX: i64 = 64;

const SIGNALS: &[(&str, i64)] = &[
    ("ABRT", 6),
    ("ALRM", 14),
    ("BUS", 7),
    ("CHLD", 17),
    ("CLD", 17),
    ("CONT", 18),
    ("FPE", 8),
    ("HUP", 1),
    ("ILL", 4),
    ("INT", 2),
    ("IO", 29),
    ("IOT", 6),
    ("KILL", 9),
    ("PIPE", 13),
    ("POLL", 29),
    ("PROF", 27),
    ("PWR", 30),
    ("QUIT", 3),
    ("SEGV", 11),
    ("STKFLT", 16),
    ("STOP", 19),
    ("SYS", 31),
    ("TERM", 15),
    ("TRAP", 5),
    ("TSTP", 20),
    ("TTIN", 21),
    ("TTOU", 22),
    ("URG", 23),
    ("USR1", 10),
    ("USR2", 12),
    ("VTALRM", 26),
    ("WINCH", 28),
    ("XCPU", 24),
    ("XFSZ", 25),
    ("RTMIN", 34),
    ("RTMAX", 64),
];

/// Why a `signal` query value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignalError {
    /// Not a number and not a known name, or the number 0 (400 `Invalid signal: X`).
    #[error("Invalid signal: {0}")]
    Invalid(String),
}

/// Parses a signal given as a number (`9`) or a name with or without `SIG` (`SIGKILL`, `kill`).
/// Numbers are not range-checked here; see [`supported_on_linux`].
pub fn parse_signal(raw: &str) -> Result<i64, SignalError> {
    if let Ok(n) = raw.parse::<i64>() {
        return if n == 0 {
            Err(SignalError::Invalid(raw.to_owned()))
        } else {
            Ok(n)
        };
    }
    let upper = raw.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some(&(_, n)) = SIGNALS.iter().find(|(s, _)| *s == name) {
        return Ok(n);
    }
    // RTMIN+n / RTMAX-n.
    let rt = name
        .strip_prefix("RTMIN+")
        .and_then(|n| n.parse::<i64>().ok())
        .map(|n| 34 + n)
        .or_else(|| {
            name.strip_prefix("RTMAX-")
                .and_then(|n| n.parse::<i64>().ok())
                .map(|n| 64 - n)
        });
    match rt {
        Some(n) if (34..=64).contains(&n) && name.len() <= 8 => Ok(n),
        _ => Err(SignalError::Invalid(raw.to_owned())),
    }
}

/// Whether the linux daemon accepts the signal number (1..=SIGRTMAX).
pub fn supported_on_linux(signal: i64) -> bool {
    (1..=SIGRTMAX).contains(&signal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_and_numbers() {
        assert_eq!(parse_signal("SIGKILL"), Ok(9));
        assert_eq!(parse_signal("term"), Ok(15));
        assert_eq!(parse_signal("15"), Ok(15));
        assert_eq!(parse_signal("RTMIN+1"), Ok(35));
        assert_eq!(
            parse_signal("SIGFOO"),
            Err(SignalError::Invalid("SIGFOO".into()))
        );
        assert_eq!(parse_signal("0"), Err(SignalError::Invalid("0".into())));
        assert!(!supported_on_linux(99));
    }
}
