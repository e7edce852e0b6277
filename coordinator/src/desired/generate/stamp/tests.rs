use super::*;

fn bare_repo(path: &Path) -> git2::Repository {
    let repo = git2::Repository::init_bare(path).expect("init");
    let sig = git2::Signature::new("t", "t@example.com", &git2::Time::new(1_480_000_000, 0))
        .expect("sig");
    let tree = repo
        .find_tree(repo.treebuilder(None).expect("tb").write().expect("tree"))
        .expect("tree");
    let oid = repo
        .commit(None, &sig, &sig, "one", &tree, &[])
        .expect("commit");
    repo.reference("refs/heads/master", oid, true, "")
        .expect("ref");
    drop(tree);
    repo
}

#[test]
fn only_repositories_on_this_machine_have_a_refs_fingerprint() {
    let tmp = tempfile::tempdir().expect("tmp");
    let bare = tmp.path().join("svc.git");
    bare_repo(&bare);
    let work = tmp.path().join("work");
    git2::Repository::init(&work).expect("init");
    let bare_s = bare.display().to_string();
    assert_eq!(local_git_dir(&bare_s), Some(bare.clone()));
    assert_eq!(local_git_dir(&format!("file://{bare_s}")), Some(bare));
    assert_eq!(
        local_git_dir(&work.display().to_string()),
        Some(work.join(".git"))
    );
    for remote in [
        "git@git.example.com:services/svc",
        "ssh://git@example.com/svc",
        "https://example.com/svc.git",
        "git://127.0.0.1:9/svc",
        "relative/svc.git",
        "/no/such/repo",
    ] {
        assert_eq!(local_git_dir(remote), None, "{remote}");
        assert_eq!(refs_of(remote), None, "{remote}");
    }
}

#[test]
fn a_new_tag_a_moved_ref_and_packing_all_change_the_refs_fingerprint() {
    let tmp = tempfile::tempdir().expect("tmp");
    let path = tmp.path().join("svc.git");
    let repo = bare_repo(&path);
    let url = path.display().to_string();
    let head = repo.refname_to_id("refs/heads/master").expect("head");
    let before = refs_of(&url).expect("local");
    assert_eq!(
        refs_of(&url).as_ref(),
        Some(&before),
        "stable when nothing moves"
    );

    repo.reference(
        "refs/tags/paasta-c.main-20260101T000000-deploy",
        head,
        true,
        "",
    )
    .expect("tag");
    let tagged = refs_of(&url).expect("local");
    assert_ne!(tagged, before, "a new tag");

    repo.reference(
        "refs/tags/paasta-c.main-20260101T000000-deploy",
        head,
        true,
        "again",
    )
    .expect("rewrite");
    let moved = refs_of(&url).expect("local");
    assert_ne!(moved, tagged, "a rewritten ref file");

    std::fs::write(path.join("packed-refs"), "# pack-refs with: peeled\n").expect("pack");
    assert_ne!(refs_of(&url).expect("local"), moved, "packed-refs");
}

#[test]
fn a_stamp_is_fresh_until_an_input_or_the_output_changes() {
    let tmp = tempfile::tempdir().expect("tmp");
    let soa = tmp.path().join("soa");
    let dir = soa.join("svc");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let repo_path = tmp.path().join("svc.git");
    let repo = bare_repo(&repo_path);
    let url = repo_path.display().to_string();
    std::fs::write(dir.join("service.yaml"), format!("git_url: {url}\n")).expect("write");
    std::fs::write(dir.join("deployments.json"), "{}").expect("write");

    let stamp_now = || {
        let inputs = Inputs::take(&soa, "svc").expect("listed");
        let refs = refs_of(&url).expect("local");
        write(
            &soa,
            "svc",
            &inputs.stamp(&soa, "svc", false, Some((url.clone(), refs))),
        )
        .expect("stamp");
    };
    assert!(!is_fresh(&soa, "svc", false), "no stamp yet");
    stamp_now();
    assert!(is_fresh(&soa, "svc", false));
    assert!(!is_fresh(&soa, "svc", true), "other options");

    // Dot files and deployments.json are not inputs; a new config file is.
    std::fs::write(dir.join(".swp"), "x").expect("write");
    assert!(is_fresh(&soa, "svc", false));
    std::fs::write(dir.join("marathon-c.yaml"), "main: {}\n").expect("write");
    assert!(!is_fresh(&soa, "svc", false), "a new instance file");
    stamp_now();
    assert!(is_fresh(&soa, "svc", false));

    // A push.
    let head = repo.refname_to_id("refs/heads/master").expect("head");
    repo.reference(
        "refs/tags/paasta-c.main-20260101T000000-deploy",
        head,
        true,
        "",
    )
    .expect("tag");
    assert!(!is_fresh(&soa, "svc", false), "a pushed tag");
    stamp_now();

    // The output touched by someone else.
    std::fs::write(dir.join("deployments.json"), "{ }").expect("write");
    assert!(!is_fresh(&soa, "svc", false), "deployments.json replaced");
    stamp_now();

    // A foreign or broken stamp, or a removed one, is "not fresh".
    std::fs::write(stamp_path(&soa, "svc"), "{\"writer\": \"other\"}").expect("write");
    assert!(!is_fresh(&soa, "svc", false));
    stamp_now();
    remove(&soa, "svc");
    assert!(!is_fresh(&soa, "svc", false));
}
