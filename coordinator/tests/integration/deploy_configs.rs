//! Every config file shipped in `deploy/` parses with the real loaders (the demo crate checks
//! that it embeds exactly the example tree that is shipped).

use std::path::{Path, PathBuf};

use galley_common::soa::ServiceConfig;
use galley_coordinator::soa_dir;

/// The `deploy/` directory of the workspace.
pub(crate) fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

/// Every file below `dir`, recursively.
pub(crate) fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read_dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            files_under(&path, out)
        } else {
            out.push(path)
        }
    }
}

#[test]
fn every_example_soa_config_parses_and_every_instance_resolves() {
    let soa = deploy_dir().join("examples/soa-configs");
    let services = soa_dir::list_services(&soa).expect("list");
    assert!(services.len() >= 3, "{services:?}");
    for service in services {
        let source = soa_dir::read_service(&soa, &service).expect("read");
        let config = ServiceConfig::parse(&source).unwrap_or_else(|e| panic!("{service}: {e}"));
        for inst in config
            .all_instances()
            .unwrap_or_else(|e| panic!("{service}: {e}"))
        {
            inst.deploy_group().unwrap_or_else(|e| panic!("{e}"));
            inst.branch().unwrap_or_else(|e| panic!("{e}"));
        }
    }
}

#[test]
fn every_yaml_and_json_file_in_deploy_is_valid() {
    let mut files = Vec::new();
    files_under(&deploy_dir(), &mut files);
    for path in files {
        let text = std::fs::read_to_string(&path).expect("read");
        match path.extension().and_then(|e| e.to_str()) {
            Some("yaml") | Some("yml") => {
                galley_common::yaml::load(&text)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            }
            Some("json") => {
                serde_json::from_str::<serde_json::Value>(&text)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            }
            _ => {}
        }
    }
}
