//! The demo runs headless (`galley-demo --for …`) as a real process: the emulated
//! cluster, real agents and the coordinator start, a pushed deploy tag bounces web.main, a stop
//! tag stops api.main, an orphan container is reported and then reaped in enforce mode, and the
//! process prints its summary and exits 0.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A running `galley-demo` with its stdout collected line by line.
pub struct DemoProcess {
    pub child: Child,
    pub addr: String,
    lines: mpsc::Receiver<String>,
    pub output: Vec<String>,
}

impl DemoProcess {
    /// Starts the demo with `args` on a free port and waits for its gRPC address.
    pub fn start(args: &[&str]) -> Self {
        let tmp =
            std::env::temp_dir().join(format!("galley-demo-{}", uuid::Uuid::new_v4().simple()));
        let mut child = Command::new(env!("CARGO_BIN_EXE_galley-demo"))
            .args(["--listen", "127.0.0.1:0", "--dir"])
            .arg(&tmp)
            .args(args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn galley-demo");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut p = Self {
            child,
            addr: String::new(),
            lines,
            output: Vec::new(),
        };
        let line = p
            .wait_line(
                |l| l.starts_with("gRPC API listening on "),
                Duration::from_secs(60),
            )
            .unwrap_or_else(|| panic!("demo never printed its address:\n{}", p.output.join("\n")));
        p.addr = line
            .trim_start_matches("gRPC API listening on ")
            .trim()
            .to_owned();
        p
    }

    /// Collects lines until one matches `pred` (returned) or `timeout`/EOF (`None`).
    pub fn wait_line(&mut self, pred: impl Fn(&str) -> bool, timeout: Duration) -> Option<String> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.checked_duration_since(std::time::Instant::now())?;
            let line = self.lines.recv_timeout(left).ok()?;
            self.output.push(line.clone());
            if pred(&line) {
                return Some(line);
            }
        }
    }

    /// Waits for the process to exit (up to `timeout`), collecting the rest of its output.
    pub fn wait_exit(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            while let Ok(l) = self.lines.try_recv() {
                self.output.push(l);
            }
            if let Some(status) = self.child.try_wait().expect("wait") {
                std::thread::sleep(Duration::from_millis(100));
                while let Ok(l) = self.lines.try_recv() {
                    self.output.push(l);
                }
                return status;
            }
            if std::time::Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("demo did not exit in time:\n{}", self.output.join("\n"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for DemoProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn demo_headless_bounces_stops_and_reports_then_reaps_an_orphan() {
    let mut demo = DemoProcess::start(&["--for", "24s", "--step-seconds", "2"]);
    let status = demo.wait_exit(Duration::from_secs(90));
    let text = demo.output.join("\n");
    assert!(status.success(), "exit {status}:\n{text}");
    for line in [
        "summary: bounce_started: true",
        "summary: stopped: true",
        "summary: orphan_reported: true",
        "summary: orphan_reaped: true",
    ] {
        assert!(text.contains(line), "missing {line:?}:\n{text}");
    }
    assert!(
        text.contains("grpcurl -plaintext"),
        "prints the commands to try:\n{text}"
    );
    assert!(
        text.contains("pushed refs/tags/paasta-norcal-prod.everything-"),
        "{text}"
    );
    assert!(text.contains("bounce in progress on web.main"), "{text}");
    assert!(text.contains("NO_SUCH_TASK"), "{text}");
}
