//! Container records and their JSON renderings (ContainerSummary for the list, ContainerInspect).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

/// Go's zero `time.Time` as Docker renders never-set `StartedAt`/`FinishedAt`.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// Container lifecycle states, with Docker's lowercase wire strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContainerStatus {
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
}

impl ContainerStatus {
    /// Every state, in Docker's order (used to validate the `status` filter).
    pub const ALL: [ContainerStatus; 7] = [
        Self::Created,
        Self::Restarting,
        Self::Running,
        Self::Removing,
        Self::Paused,
        Self::Exited,
        Self::Dead,
    ];

    /// The wire string (`State` in the list, `State.Status` in inspect).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Restarting => "restarting",
            Self::Removing => "removing",
            Self::Exited => "exited",
            Self::Dead => "dead",
        }
    }

    /// Parses a wire string; `None` for anything Docker would reject.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Whether the container's process exists (running or paused), i.e. it can be killed.
    pub fn is_alive(self) -> bool {
        matches!(self, Self::Running | Self::Paused | Self::Restarting)
    }
}

/// How the container's PID 1 reacts to SIGTERM, which decides what `stop` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopBehavior {
    /// PID 1 has no SIGTERM handler (e.g. busybox `sleep`), so the kernel ignores the signal:
    /// `stop -t N` waits N seconds, then SIGKILLs; the exit code is 137.
    IgnoreSigterm,
    /// PID 1 exits with `exit_code` on SIGTERM (143 for a default-handled TERM, 0 for a clean
    /// shutdown).
    ExitOnSigterm { exit_code: i64 },
}

/// One container as the emulated daemon stores it.
#[derive(Debug, Clone, PartialEq)]
pub struct Container {
    /// 64 lowercase hex characters.
    pub id: String,
    /// Name without the leading `/`.
    pub name: String,
    /// Image as given at create time (`Config.Image`, list `Image`).
    pub image: String,
    /// `sha256:…` id of the image (a stable fake derived from the image name).
    pub image_id: String,
    /// Entrypoint + command, split as Docker does into `Path` and `Args`.
    pub path: String,
    pub args: Vec<String>,
    /// `Config.Cmd` as given (None when the create request had none).
    pub cmd: Option<Vec<String>>,
    /// `Config.Env`, `K=V` strings in the order given.
    pub env: Vec<String>,
    pub labels: BTreeMap<String, String>,
    /// `HostConfig.NetworkMode` (`none`, `bridge`, `host`, …).
    pub network_mode: String,
    pub created: DateTime<Utc>,
    pub status: ContainerStatus,
    /// Fake PID while alive, 0 otherwise.
    pub pid: u32,
    pub exit_code: i64,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub stop_behavior: StopBehavior,
    /// Creation order, the list's tie-breaker when two containers share a creation instant.
    pub seq: u64,
}

impl Container {
    /// The name as the API shows it, with its leading slash.
    pub fn slash_name(&self) -> String {
        format!("/{}", self.name)
    }

    /// The summary's `Command`: path and args joined by spaces.
    pub fn command_line(&self) -> String {
        std::iter::once(self.path.as_str())
            .chain(self.args.iter().map(String::as_str))
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The human `Status` text of the list (`Up 5 seconds`, `Exited (137) 3 seconds ago`, …).
    pub fn status_text(&self, now: DateTime<Utc>) -> String {
        let since = |t: Option<DateTime<Utc>>| human_duration(now - t.unwrap_or(self.created));
        match self.status {
            ContainerStatus::Created => "Created".to_owned(),
            ContainerStatus::Running => format!("Up {}", since(self.started_at)),
            ContainerStatus::Paused => format!("Up {} (Paused)", since(self.started_at)),
            ContainerStatus::Restarting => {
                format!(
                    "Restarting ({}) {} ago",
                    self.exit_code,
                    since(self.finished_at)
                )
            }
            ContainerStatus::Removing => "Removal In Progress".to_owned(),
            ContainerStatus::Exited => {
                format!(
                    "Exited ({}) {} ago",
                    self.exit_code,
                    since(self.finished_at)
                )
            }
            ContainerStatus::Dead => "Dead".to_owned(),
        }
    }

    fn network_json(&self) -> Value {
        json!({
            self.network_mode.clone(): {
                "IPAMConfig": null, "Links": null, "Aliases": null,
                "NetworkID": fake_hex_id(&format!("network:{}", self.network_mode)),
                "EndpointID": if self.status.is_alive() { fake_hex_id(&format!("endpoint:{}", self.id)) } else { String::new() },
                "Gateway": "", "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "",
                "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "MacAddress": "", "DriverOpts": null
            }
        })
    }

    /// ContainerSummary as `GET /containers/json` renders it. `SizeRw` is omitted because it is
    /// 0 (Go's `omitempty`), as for a container that wrote nothing.
    pub fn summary_json(&self, now: DateTime<Utc>, with_size: bool) -> Value {
        let mut v = serde_json::Map::new();
        v.insert("Id".into(), json!(self.id));
        v.insert("Names".into(), json!([self.slash_name()]));
        v.insert("Image".into(), json!(self.image));
        v.insert("ImageID".into(), json!(self.image_id));
        v.insert("Command".into(), json!(self.command_line()));
        v.insert("Created".into(), json!(self.created.timestamp()));
        v.insert("Ports".into(), json!([]));
        if with_size {
            v.insert("SizeRootFs".into(), json!(FAKE_ROOTFS_SIZE));
        }
        v.insert("Labels".into(), json!(self.labels));
        v.insert("State".into(), json!(self.status.as_str()));
        v.insert("Status".into(), json!(self.status_text(now)));
        v.insert(
            "HostConfig".into(),
            json!({ "NetworkMode": self.network_mode }),
        );
        v.insert(
            "NetworkSettings".into(),
            json!({ "Networks": self.network_json() }),
        );
        v.insert("Mounts".into(), json!([]));
        Value::Object(v)
    }

    /// ContainerInspect as `GET /containers/{id}/json` renders it (the fields clients use).
    pub fn inspect_json(&self) -> Value {
        let time_or_zero =
            |t: Option<DateTime<Utc>>| t.map_or_else(|| ZERO_TIME.to_owned(), go_rfc3339_nano);
        json!({
            "Id": self.id,
            "Created": go_rfc3339_nano(self.created),
            "Path": self.path,
            "Args": self.args,
            "State": {
                "Status": self.status.as_str(),
                "Running": matches!(self.status, ContainerStatus::Running | ContainerStatus::Paused),
                "Paused": self.status == ContainerStatus::Paused,
                "Restarting": self.status == ContainerStatus::Restarting,
                "OOMKilled": false,
                "Dead": self.status == ContainerStatus::Dead,
                "Pid": self.pid,
                "ExitCode": self.exit_code,
                "Error": "",
                "StartedAt": time_or_zero(self.started_at),
                "FinishedAt": time_or_zero(self.finished_at),
            },
            "Image": self.image_id,
            "ResolvConfPath": "", "HostnamePath": "", "HostsPath": "", "LogPath": "",
            "Name": self.slash_name(),
            "RestartCount": 0,
            "Driver": "vfs",
            "Platform": "linux",
            "MountLabel": "", "ProcessLabel": "", "AppArmorProfile": "",
            "ExecIDs": null,
            "HostConfig": {
                "NetworkMode": self.network_mode,
                "RestartPolicy": { "Name": "no", "MaximumRetryCount": 0 },
                "AutoRemove": false,
                "Privileged": false,
            },
            "GraphDriver": { "Data": null, "Name": "vfs" },
            "Mounts": [],
            "Config": {
                "Hostname": self.id.get(..12).unwrap_or(&self.id),
                "Domainname": "", "User": "",
                "AttachStdin": false, "AttachStdout": false, "AttachStderr": false,
                "Tty": false, "OpenStdin": false, "StdinOnce": false,
                "Env": if self.env.is_empty() { Value::Null } else { json!(self.env) },
                "Cmd": self.cmd,
                "Image": self.image,
                "Volumes": null, "WorkingDir": "", "Entrypoint": null, "OnBuild": null,
                "Labels": self.labels,
            },
            "NetworkSettings": {
                "Bridge": "", "SandboxID": "", "HairpinMode": false,
                "Ports": {},
                "Networks": self.network_json(),
            },
        })
    }
}

/// `SizeRootFs` reported with `size=1` (about a busybox rootfs).
const FAKE_ROOTFS_SIZE: i64 = 1_982_256;

/// Formats a time as Go's `time.RFC3339Nano` does: fractional seconds without trailing zeros.
pub fn go_rfc3339_nano(t: DateTime<Utc>) -> String {
    let base = t.format("%Y-%m-%dT%H:%M:%S");
    match t.timestamp_subsec_nanos() {
        0 => format!("{base}Z"),
        n => {
            let frac = format!("{n:09}");
            format!("{base}.{}Z", frac.trim_end_matches('0'))
        }
    }
}

/// Docker's `units.HumanDuration` (go-units), used in the list's `Status`.
pub fn human_duration(d: chrono::Duration) -> String {
    let seconds = d.num_seconds();
    if seconds < 1 {
        return "Less than a second".to_owned();
    }
    if seconds == 1 {
        return "1 second".to_owned();
    }
    if seconds < 60 {
        return format!("{seconds} seconds");
    }
    let minutes = d.num_minutes();
    if minutes == 1 {
        return "About a minute".to_owned();
    }
    if minutes < 60 {
        return format!("{minutes} minutes");
    }
    let hours = (d.num_milliseconds() as f64 / 3_600_000.0 + 0.5) as i64;
    match hours {
        1 => "About an hour".to_owned(),
        h if h < 48 => format!("{h} hours"),
        h if h < 24 * 7 * 2 => format!("{} days", h / 24),
        h if h < 24 * 30 * 2 => format!("{} weeks", h / 24 / 7),
        h if h < 24 * 365 * 2 => format!("{} months", h / 24 / 30),
        _ => format!("{} years", d.num_hours() / 24 / 365),
    }
}

/// A stable 64-hex fake id derived from `seed` (FNV-1a, four lanes). Used for image, network
/// and endpoint ids, which clients only compare, never resolve.
pub fn fake_hex_id(seed: &str) -> String {
    (0u64..4)
        .map(|lane| {
            let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ lane.wrapping_mul(0x9e37_79b9_7f4a_7c15);
            for b in seed.bytes() {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0000_0100_0000_01b3);
            }
            format!("{h:016x}")
        })
        .collect()
}

/// The fake `sha256:` image id for an image reference.
pub fn image_id_for(image: &str) -> String {
    format!("sha256:{}", fake_hex_id(&format!("image:{image}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_nano_trims_trailing_zeros_like_go() {
        let t = DateTime::parse_from_rfc3339("2026-11-29T02:30:42.275867400Z")
            .unwrap()
            .to_utc();
        assert_eq!(go_rfc3339_nano(t), "2026-11-29T02:30:42.2758674Z");
        let t = DateTime::parse_from_rfc3339("2016-06-01T00:00:00Z")
            .unwrap()
            .to_utc();
        assert_eq!(go_rfc3339_nano(t), "2016-06-01T00:00:00Z");
    }

    #[test]
    fn human_duration_matches_go_units() {
        let s = chrono::Duration::seconds;
        assert_eq!(
            human_duration(chrono::Duration::milliseconds(300)),
            "Less than a second"
        );
        assert_eq!(human_duration(s(1)), "1 second");
        assert_eq!(human_duration(s(59)), "59 seconds");
        assert_eq!(human_duration(s(90)), "About a minute");
        assert_eq!(human_duration(s(3000)), "50 minutes");
        assert_eq!(human_duration(s(3600)), "About an hour");
        assert_eq!(human_duration(s(6 * 3600)), "6 hours");
        assert_eq!(human_duration(s(3 * 86400)), "3 days");
    }

    #[test]
    fn fake_ids_are_stable_64_hex() {
        let a = fake_hex_id("x");
        assert_eq!(a.len(), 64);
        assert_eq!(a, fake_hex_id("x"));
        assert_ne!(a, fake_hex_id("y"));
    }
}
