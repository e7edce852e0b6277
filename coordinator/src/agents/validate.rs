//! What an agent may tell the coordinator. Every hello and inventory record is checked here
//! before the registry keeps it, so the orphan planner only ever sees well-formed records and
//! can never order a reap of an id like `""`, `../../x` or one with a NUL in it (the agent's
//! own re-check is a second guard, not the only one). Pure: no I/O.
//!
//! Limits (README "Limits"): a hostname is a DNS name or an IP address of at most 253 bytes,
//! kept lower-case; a container id is Docker's 64 lower-case hex digits; a name is Docker's
//! `[a-zA-Z0-9][a-zA-Z0-9_.-]*` of at most 255 bytes; task ids, images and app ids at most
//! [`MAX_TEXT`] bytes without control characters; creation times after 2000-01-01 and no more
//! than a day ahead of the coordinator's clock.

use super::model::ContainerObs;

/// Longest task id, image or app id accepted.
pub const MAX_TEXT: usize = 1024;

/// 2000-01-01T00:00:00Z in unix nanoseconds: no container is older.
const EARLIEST_NANOS: i64 = 946_684_800_000_000_000;

/// A day in nanoseconds (clock skew tolerated for creation times).
const DAY_NANOS: i64 = 86_400_000_000_000;

/// Why a record was refused: the field and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct Invalid {
    /// The offending field.
    pub field: &'static str,
    /// What is wrong.
    pub reason: String,
}

fn invalid(field: &'static str, reason: impl Into<String>) -> Invalid {
    Invalid {
        field,
        reason: reason.into(),
    }
}

/// `raw` as a registry key: lower-case, a DNS name (labels of letters, digits, `-`, `_`) or an
/// IPv4/IPv6 address, at most 253 bytes.
pub fn hostname(raw: &str) -> Result<String, Invalid> {
    let h = raw.to_ascii_lowercase();
    if h.is_empty() || h.len() > 253 {
        return Err(invalid(
            "hostname",
            format!("must be 1 to 253 bytes, not {}", raw.len()),
        ));
    }
    if h.parse::<std::net::IpAddr>().is_ok() {
        return Ok(h);
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if h.split('.').all(label_ok) {
        Ok(h)
    } else {
        Err(invalid(
            "hostname",
            format!("{:?} is not a DNS name or IP address", truncate(raw)),
        ))
    }
}

/// Checks one inventory record against `now_unix_nanos`.
pub fn container(c: &ContainerObs, now_unix_nanos: i64) -> Result<(), Invalid> {
    if c.id.len() != 64 || !c.id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(invalid(
            "id",
            format!("{:?} is not 64 lower-case hex digits", truncate(&c.id)),
        ));
    }
    let name_ok = !c.name.is_empty()
        && c.name.len() <= 255
        && c.name.as_bytes()[0].is_ascii_alphanumeric()
        && c.name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if !name_ok {
        return Err(invalid(
            "name",
            format!("{:?} is not a Docker container name", truncate(&c.name)),
        ));
    }
    if c.created_unix_nanos < EARLIEST_NANOS
        || c.created_unix_nanos > now_unix_nanos.saturating_add(DAY_NANOS)
    {
        return Err(invalid(
            "created_unix_nanos",
            format!("{} is not a plausible creation time", c.created_unix_nanos),
        ));
    }
    if c.started_unix_nanos < 0 {
        return Err(invalid("started_unix_nanos", "is negative"));
    }
    let texts = [
        ("task_id_env", c.task_id_env.as_deref()),
        ("task_id_label", c.task_id_label.as_deref()),
        ("marathon_app_id", c.marathon_app_id.as_deref()),
        ("image", Some(c.image.as_str())),
    ];
    for (field, text) in texts {
        if let Some(t) = text
            && (t.len() > MAX_TEXT || t.chars().any(char::is_control))
        {
            return Err(invalid(
                field,
                format!("longer than {MAX_TEXT} bytes or has control characters"),
            ));
        }
    }
    Ok(())
}

/// At most 80 characters of `s`, for messages.
fn truncate(s: &str) -> String {
    if s.chars().count() <= 80 {
        s.to_owned()
    } else {
        format!("{}…", s.chars().take(80).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agents::model::ContainerState;

    const NOW: i64 = 1_800_000_000_000_000_000;

    fn good() -> ContainerObs {
        ContainerObs {
            id: "a".repeat(64),
            name: "mesos-0c4f2f1e-1b2c".to_owned(),
            created_unix_nanos: NOW - DAY_NANOS,
            started_unix_nanos: NOW - DAY_NANOS,
            state: ContainerState::Running,
            task_id_env: Some("web.main.abc".to_owned()),
            task_id_label: None,
            marathon_app_id: Some("/web.main".to_owned()),
            image: "registry:443/services-web:paasta-abc".to_owned(),
        }
    }

    #[test]
    fn well_formed_records_pass() {
        assert_eq!(container(&good(), NOW), Ok(()));
    }

    #[test]
    fn hostile_records_are_refused_naming_the_field() {
        type Mutation = Box<dyn Fn(&mut ContainerObs)>;
        let cases: Vec<(&str, Mutation)> = vec![
            ("id", Box::new(|c| c.id = String::new())),
            ("id", Box::new(|c| c.id = "../../../x".into())),
            ("id", Box::new(|c| c.id = format!("{}\0", "a".repeat(63)))),
            ("id", Box::new(|c| c.id = "A".repeat(64))),
            ("name", Box::new(|c| c.name = String::new())),
            ("name", Box::new(|c| c.name = "mesos-x/../../etc".into())),
            ("name", Box::new(|c| c.name = "mesos-\nforged".into())),
            (
                "name",
                Box::new(|c| c.name = format!("mesos-{}", "x".repeat(300))),
            ),
            ("created_unix_nanos", Box::new(|c| c.created_unix_nanos = 0)),
            (
                "created_unix_nanos",
                Box::new(|c| c.created_unix_nanos = -1),
            ),
            (
                "created_unix_nanos",
                Box::new(|c| c.created_unix_nanos = NOW + 2 * DAY_NANOS),
            ),
            (
                "started_unix_nanos",
                Box::new(|c| c.started_unix_nanos = -5),
            ),
            (
                "task_id_env",
                Box::new(|c| c.task_id_env = Some("x".repeat(MAX_TEXT + 1))),
            ),
            (
                "task_id_label",
                Box::new(|c| c.task_id_label = Some("a\u{7}b".into())),
            ),
            ("image", Box::new(|c| c.image = "img\0".into())),
        ];
        for (field, mutate) in cases {
            let mut c = good();
            mutate(&mut c);
            let err = container(&c, NOW).expect_err(field);
            assert_eq!(err.field, field, "{c:?}: {err}");
        }
    }

    #[test]
    fn hostnames_are_dns_names_or_addresses_and_lower_case() {
        assert_eq!(
            hostname("Mesos-Agent-1.Example.com").unwrap(),
            "mesos-agent-1.example.com"
        );
        assert_eq!(hostname("10.0.0.7").unwrap(), "10.0.0.7");
        assert_eq!(hostname("fe80::1").unwrap(), "fe80::1");
        for bad in [
            "",
            "a\nb",
            "a\0b",
            "../../etc",
            "host/x",
            "-lead.example.com",
            "a..b",
            &"x".repeat(10_000),
        ] {
            assert!(hostname(bad).is_err(), "{bad:?} accepted");
        }
    }
}
