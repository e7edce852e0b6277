//! The operator API through grpcurl, as README.md shows it (reflection, no proto files).
//!
//! `scripts/test.sh` installs grpcurl and exports `GALLEY_GRPCURL` and
//! `GALLEY_REQUIRE_GRPCURL=1`; without them a test that needs grpcurl prints SKIPPED.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

/// grpcurl against one address, plaintext or with client certificate files.
#[derive(Debug, Clone)]
pub struct Grpcurl {
    bin: String,
    addr: String,
    /// `-cacert`, `-cert`, `-key`; `None`: `-plaintext`.
    tls: Option<(PathBuf, PathBuf, PathBuf)>,
}

/// What one call printed.
#[derive(Debug, Clone)]
pub struct Out {
    /// Exit status 0.
    pub ok: bool,
    /// Standard output (the JSON answer).
    pub stdout: String,
    /// Standard error (`ERROR: Code: ... Message: ...`).
    pub stderr: String,
}

impl Out {
    /// The answer as JSON (`{}` when empty).
    pub fn json(&self) -> Value {
        if self.stdout.trim().is_empty() {
            return Value::Object(Default::default());
        }
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("grpcurl printed no JSON ({e}): {}", self.stdout))
    }

    /// The gRPC code name of a failed call (`PermissionDenied`, `FailedPrecondition`, ...).
    pub fn code(&self) -> Option<String> {
        self.stderr
            .lines()
            .find_map(|l| l.trim().strip_prefix("Code: "))
            .map(str::to_owned)
    }
}

impl Grpcurl {
    /// grpcurl if installed; `None` (after a loud SKIPPED line) when it is not and
    /// `GALLEY_REQUIRE_GRPCURL` is unset. Panics when it is required and missing.
    pub fn find(addr: &str) -> Option<Self> {
        let bin = std::env::var("GALLEY_GRPCURL").unwrap_or_else(|_| "grpcurl".to_owned());
        let works = Command::new(&bin)
            .arg("-version")
            .output()
            .is_ok_and(|o| o.status.success() || !o.stderr.is_empty());
        if !works {
            assert!(
                std::env::var_os("GALLEY_REQUIRE_GRPCURL").is_none(),
                "GALLEY_REQUIRE_GRPCURL is set but grpcurl ({bin}) does not run"
            );
            eprintln!("SKIPPED: grpcurl not found (scripts/test.sh installs it)");
            return None;
        }
        Some(Self {
            bin,
            addr: addr.to_owned(),
            tls: None,
        })
    }

    /// The same client with mutual TLS: the CA to trust and a client certificate and key.
    pub fn with_tls(&self, ca: PathBuf, cert: PathBuf, key: PathBuf) -> Self {
        Self {
            tls: Some((ca, cert, key)),
            ..self.clone()
        }
    }

    /// `grpcurl [-plaintext | -cacert -cert -key] [-d DATA] ADDR SERVICE/METHOD`, where a
    /// bare method name means `galley.v1.CoordinatorService/<method>`.
    pub fn call(&self, method: &str, data: Option<&str>) -> Out {
        let full = if method.contains('/') {
            method.to_owned()
        } else {
            format!("galley.v1.CoordinatorService/{method}")
        };
        let mut args: Vec<String> = Vec::new();
        if let Some(d) = data {
            args.extend(["-d".into(), d.into()]);
        }
        args.push(self.addr.clone());
        args.push(full);
        self.raw(&args)
    }

    /// grpcurl with the connection flags and then `args` (e.g. `[addr, "list"]`).
    pub fn raw(&self, args: &[String]) -> Out {
        let mut cmd = Command::new(&self.bin);
        cmd.args(["-max-time", "20"]);
        match &self.tls {
            None => {
                cmd.arg("-plaintext");
            }
            Some((ca, cert, key)) => {
                cmd.arg("-cacert")
                    .arg(ca)
                    .arg("-cert")
                    .arg(cert)
                    .arg("-key")
                    .arg(key);
            }
        }
        let o = cmd.args(args).output().expect("run grpcurl");
        Out {
            ok: o.status.success(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    /// A streaming call: sends `messages` (JSON, one per element) on stdin, keeps the
    /// stream open for `open_for` (so the server can answer), then half-closes it and returns
    /// everything the server sent (one JSON object after another on stdout).
    pub fn stream(&self, method: &str, messages: &[String], open_for: std::time::Duration) -> Out {
        use std::io::Write;
        let mut cmd = Command::new(&self.bin);
        cmd.args([
            "-max-time",
            "60",
            "-plaintext",
            "-d",
            "@",
            &self.addr,
            method,
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().expect("run grpcurl");
        let mut stdin = child.stdin.take().expect("stdin");
        for m in messages {
            stdin.write_all(m.as_bytes()).expect("write a message");
            stdin.write_all(b"\n").expect("write");
        }
        stdin.flush().expect("flush");
        std::thread::sleep(open_for);
        drop(stdin);
        let o = child.wait_with_output().expect("grpcurl output");
        Out {
            ok: o.status.success(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    /// A call that must succeed; its JSON answer.
    pub fn ok(&self, method: &str, data: Option<&str>) -> Value {
        let out = self.call(method, data);
        assert!(out.ok, "{method} failed: {}", out.stderr);
        out.json()
    }

    /// The grpcurl program.
    pub fn program(&self) -> &str {
        &self.bin
    }

    /// The address it dials.
    pub fn addr(&self) -> &str {
        &self.addr
    }
}
