//! The chaos campaign's long form: many seeds, longer schedules, figures at the end.
//!
//! ```sh
//! nice cargo build --workspace --bins
//! eval "$(scripts/zookeeper.sh start /tmp/galley-zk)"
//! cargo run -p galley-e2e --bin chaos -- --seeds 1..20 [--steps 24] [--span-secs 60] [--minimize 8]
//! ```
//!
//! `GALLEY_CHAOS_SHAPE=<steps>x<span ms>` overrides `--steps`/`--span-secs` (the replay lines
//! a failure prints carry it). `--seeds A..B` runs seeds A to B-1 (`--seeds 7` just one); a failing seed is reported (seed,
//! schedule, violations, kept logs) and minimized by delta debugging within `--minimize`
//! replays (0: off). Exit 1 when any seed failed.

use galley_e2e::chaos::Campaign;
use galley_e2e::chaos::figures::Figures;
use galley_e2e::chaos::runner::{run_seed, settings};

fn usage() -> ! {
    eprintln!("usage: chaos [--seeds A..B | --seeds N] [--steps N] [--span-secs S] [--minimize R]");
    std::process::exit(2)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let (mut seeds, mut steps, mut span, mut minimize) = (1..21u64, 24usize, 60u64, 8usize);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let v = args.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--seeds" => {
                seeds = match v.split_once("..") {
                    Some((a, b)) => {
                        a.parse().unwrap_or_else(|_| usage())..b.parse().unwrap_or_else(|_| usage())
                    }
                    None => {
                        let s: u64 = v.parse().unwrap_or_else(|_| usage());
                        s..s + 1
                    }
                }
            }
            "--steps" => steps = v.parse().unwrap_or_else(|_| usage()),
            "--span-secs" => span = v.parse().unwrap_or_else(|_| usage()),
            "--minimize" => minimize = v.parse().unwrap_or_else(|_| usage()),
            _ => usage(),
        }
    }
    let Ok(zk) = std::env::var("GALLEY_ZOOKEEPER") else {
        eprintln!(
            "GALLEY_ZOOKEEPER is not set: run `eval \"$(scripts/zookeeper.sh start DIR)\"` first"
        );
        std::process::exit(2)
    };
    let campaign = Campaign {
        settings: settings(zk, steps, span * 1000),
    };
    let mut figures = Figures::default();
    let started = std::time::Instant::now();
    for seed in seeds {
        // Ctrl-C or SIGTERM ends the campaign cleanly: dropping the run kills its processes.
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = run_seed(&campaign, seed, None, minimize, &mut figures) => {}
            _ = tokio::signal::ctrl_c() => { eprintln!("chaos: interrupted"); break; }
            _ = term.recv() => { eprintln!("chaos: terminated"); break; }
        }
        eprintln!("{figures}");
    }
    println!(
        "{figures}  campaign wall time: {:.0}s",
        started.elapsed().as_secs_f64()
    );
    if !figures.failed_seeds.is_empty() {
        std::process::exit(1);
    }
}
