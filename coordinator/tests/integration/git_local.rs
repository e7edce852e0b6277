//! The local-repository fast path lists exactly what libgit2's transport lists.

use std::collections::BTreeSet;

use galley_coordinator::git::{list_refs_blocking, list_refs_libgit2, local};

use crate::fixtures::TestRepo;

fn as_set(refs: Vec<(String, String)>) -> BTreeSet<(String, String)> {
    refs.into_iter().collect()
}

#[test]
fn fast_path_matches_libgit2_on_loose_packed_annotated_and_symbolic_refs() {
    let tmp = tempfile::tempdir().expect("tmp");
    let repo = TestRepo::bare(&tmp.path().join("r.git"));
    let (a, b, c) = (repo.commit("a"), repo.commit("b"), repo.commit("c"));
    repo.set_ref("refs/heads/master", &a)
        .set_ref("refs/heads/feature/x", &b)
        .set_ref("refs/tags/paasta-g-20160101T000000-deploy", &b);
    let tag_obj = repo.annotated_tag("paasta-g-20160202T000000-deploy", &c);
    // Packed refs, one of them an annotated tag with its peel line, one overridden by a loose ref.
    let packed = format!(
        "# pack-refs with: peeled fully-peeled sorted \n{a} refs/heads/old\n{tag_obj} refs/tags/packed-annotated\n^{c}\n{a} refs/tags/paasta-g-20160101T000000-deploy\n"
    );
    std::fs::write(repo.path.join("packed-refs"), packed).expect("packed-refs");
    std::fs::create_dir_all(repo.path.join("refs/remotes/origin")).expect("mkdir");
    std::fs::write(
        repo.path.join("refs/remotes/origin/HEAD"),
        "ref: refs/heads/feature/x\n",
    )
    .expect("symref");

    let dir = local::local_git_dir(&repo.path.display().to_string()).expect("a local git dir");
    assert!(
        local::list_refs(&dir).is_some(),
        "the fast path answers for this layout"
    );
    for url in [
        repo.path.display().to_string(),
        format!("file://{}", repo.path.display()),
    ] {
        let fast = as_set(list_refs_blocking(&url).expect("fast path"));
        let slow = as_set(list_refs_libgit2(&url).expect("libgit2"));
        assert_eq!(fast, slow, "{url}");
        assert!(fast.contains(&(
            "refs/tags/paasta-g-20160202T000000-deploy^{}".to_string(),
            c.clone()
        )));
        assert!(
            fast.contains(&(
                "refs/tags/paasta-g-20160101T000000-deploy".to_string(),
                b.clone()
            )),
            "loose wins over packed"
        );
    }
}

#[test]
fn missing_repositories_fail_with_libgit2s_error() {
    let err = list_refs_blocking("/nonexistent/repo.git").unwrap_err();
    assert!(!err.message().is_empty());
}
