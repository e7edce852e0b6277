//! Replays every input kept under `fuzz/regressions/<target>/` (workspace root) through its
//! target: minimal inputs the fuzzers found, and nasty seeds (deep nesting, alias bombs,
//! invalid UTF-8, huge numbers) that keep the harness honest.

use std::collections::BTreeMap;

use galley_common::soa::ServiceSource;
use proptest::test_runner::TestCaseError;

use crate::deployments::check_parse;
use crate::soa::check_service;
use crate::yaml::check_load;
use galley_e2e::fuzz::regression_inputs as inputs;

fn replay(target: &str, check: impl Fn(&str) -> Result<(), TestCaseError>) {
    for (path, bytes) in inputs(target) {
        if let Err(e) = check(&String::from_utf8_lossy(&bytes)) {
            panic!("{}: {e}", path.display());
        }
    }
}

#[test]
fn yaml_regressions_replay() {
    replay("yaml", |text| check_load(text).map(drop));
}

#[test]
fn deployments_regressions_replay() {
    replay("deployments", check_parse);
}

/// Each input as service.yaml, as an instance file and as smartstack.yaml.
#[test]
fn soa_regressions_replay() {
    replay("soa", |text| {
        for file in [
            "service.yaml",
            "marathon-norcal-prod.yaml",
            "smartstack.yaml",
        ] {
            let files = BTreeMap::from([(file.to_string(), text.to_string())]);
            check_service(
                &ServiceSource {
                    name: "svc".into(),
                    files,
                },
                None,
            )?;
        }
        Ok(())
    });
}
