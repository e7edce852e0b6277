//! The demo embeds exactly the example tree that is shipped in `deploy/examples/soa-configs`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use galley_common::soa::is_instance_file;
use galley_demo::EXAMPLE_FILES;

/// Every file below `dir`, recursively.
fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read_dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            files_under(&path, out)
        } else {
            out.push(path)
        }
    }
}

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

#[test]
fn the_demo_embeds_the_whole_example_tree() {
    let soa = deploy_dir().join("examples/soa-configs");
    let mut files = Vec::new();
    files_under(&soa, &mut files);
    let shipped: BTreeSet<String> = files
        .iter()
        .map(|p| p.strip_prefix(&soa).expect("prefix").display().to_string())
        .collect();
    let embedded: BTreeSet<String> = EXAMPLE_FILES.iter().map(|(p, _)| p.to_string()).collect();
    assert_eq!(shipped, embedded);
    for (rel, text) in EXAMPLE_FILES {
        assert_eq!(
            std::fs::read_to_string(soa.join(rel)).expect("read"),
            *text,
            "{rel}"
        );
        let name = rel.rsplit('/').next().expect("name");
        assert!(
            is_instance_file(name).is_some() || galley_common::soa::SERVICE_FILES.contains(&name),
            "{rel}"
        );
    }
}
