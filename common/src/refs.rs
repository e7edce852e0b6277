//! Git ref names that carry desired state (spec §2): deploy tags
//! `refs/tags/paasta-<deploy_group>-<YYYYMMDDTHHMMSS>-deploy`, control tags
//! `refs/tags/paasta-<cluster>.<instance>-<force_bounce>-<start|stop>` (also with the era-A
//! double `paasta-paasta-` prefix), and legacy branches `refs/heads/paasta-<cluster>.<instance>`.

use std::collections::HashMap;
use std::fmt;

/// A git object id as 40 lowercase hex characters.
pub type Sha = String;

/// `start` or `stop`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum DesiredState {
    /// Run the instance.
    Start,
    /// Scale the instance to zero.
    Stop,
}

impl DesiredState {
    /// `start` / `stop`.
    pub fn as_str(self) -> &'static str {
        match self {
            DesiredState::Start => "start",
            DesiredState::Stop => "stop",
        }
    }
}

impl fmt::Display for DesiredState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether `ts` has PaaSTA's tag timestamp shape `\d{8}T\d{6}`.
pub fn is_tag_timestamp(ts: &str) -> bool {
    let b = ts.as_bytes();
    b.len() == 15 && b[8] == b'T' && b[..8].iter().chain(&b[9..]).all(u8::is_ascii_digit)
}

/// The deploy tag for `deploy_group` at `timestamp` (`YYYYMMDDTHHMMSS`, UTC).
pub fn deploy_tag_name(deploy_group: &str, timestamp: &str) -> String {
    format!("refs/tags/paasta-{deploy_group}-{timestamp}-deploy")
}

/// The start/stop tag for `control_branch` (`<cluster>.<instance>`).
pub fn control_tag_name(control_branch: &str, timestamp: &str, state: DesiredState) -> String {
    format!("refs/tags/paasta-{control_branch}-{timestamp}-{state}")
}

/// Parses a deploy tag into `(deploy_group, timestamp)`.
pub fn parse_deploy_tag(ref_name: &str) -> Option<(&str, &str)> {
    let rest = ref_name
        .strip_prefix("refs/tags/paasta-")?
        .strip_suffix("-deploy")?;
    let (group, ts) = rest.rsplit_once('-')?;
    (is_tag_timestamp(ts) && !group.is_empty()).then_some((group, ts))
}

/// A parsed start/stop tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlTag<'a> {
    /// Control branches this tag may address: with a double `paasta-paasta-` prefix both the
    /// once- and twice-stripped names match, as PaaSTA's `(?:paasta-){1,2}` does.
    pub control_branches: Vec<&'a str>,
    /// The force_bounce token (usually a timestamp).
    pub force_bounce: &'a str,
    /// Requested state.
    pub state: DesiredState,
}

/// Parses `refs/tags/(paasta-){1,2}<control_branch>-<force_bounce>-<start|stop>`.
pub fn parse_control_tag(ref_name: &str) -> Option<ControlTag<'_>> {
    let rest = ref_name.strip_prefix("refs/tags/paasta-")?;
    let (rest, state) = if let Some(r) = rest.strip_suffix("-start") {
        (r, DesiredState::Start)
    } else if let Some(r) = rest.strip_suffix("-stop") {
        (r, DesiredState::Stop)
    } else {
        return None;
    };
    let (branch, force_bounce) = rest.rsplit_once('-')?;
    if branch.is_empty() || force_bounce.is_empty() {
        return None;
    }
    let mut control_branches = vec![branch];
    if let Some(inner) = branch.strip_prefix("paasta-").filter(|s| !s.is_empty()) {
        control_branches.push(inner);
    }
    Some(ControlTag {
        control_branches,
        force_bounce,
        state,
    })
}

/// What a service's refs say, indexed once so each instance is a lookup.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RefIndex {
    /// deploy group → (latest timestamp, sha).
    latest_deploy: HashMap<String, (String, Sha)>,
    /// (control branch, sha) → the winning (force_bounce, state).
    controls: HashMap<(String, Sha), (String, DesiredState)>,
    /// branch name (without `refs/heads/`) → sha.
    heads: HashMap<String, Sha>,
}

impl RefIndex {
    /// Indexes `(ref name, sha)` pairs as `git ls-remote` lists them. Annotated tags are peeled
    /// (`<tag>^{}` entries give the commit); PaaSTA used the tag object's id there, which named
    /// an image that was never built.
    pub fn new<'a>(refs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut direct: Vec<(&str, &str)> = Vec::new();
        let mut peeled: HashMap<&str, &str> = HashMap::new();
        for (name, sha) in refs {
            match name.strip_suffix("^{}") {
                Some(base) => {
                    peeled.insert(base, sha);
                }
                None => direct.push((name, sha)),
            }
        }
        let mut index = RefIndex::default();
        for (name, sha) in direct {
            let sha = peeled.get(name).copied().unwrap_or(sha);
            index.add(name, sha);
        }
        index
    }

    fn add(&mut self, name: &str, sha: &str) {
        if let Some(branch) = name.strip_prefix("refs/heads/") {
            self.heads.insert(branch.to_string(), sha.to_string());
        } else if let Some((group, ts)) = parse_deploy_tag(name) {
            let newer = self
                .latest_deploy
                .get(group)
                .is_none_or(|(old, _)| ts > old.as_str());
            if newer {
                self.latest_deploy
                    .insert(group.to_string(), (ts.to_string(), sha.to_string()));
            }
        } else if let Some(tag) = parse_control_tag(name) {
            for branch in tag.control_branches {
                let key = (branch.to_string(), sha.to_string());
                let candidate = (tag.force_bounce.to_string(), tag.state);
                // Greatest force_bounce wins; on a tie `stop` sorts after `start`.
                if self.controls.get(&key).is_none_or(|old| candidate > *old) {
                    self.controls.insert(key, candidate);
                }
            }
        }
    }

    /// The sha of the newest deploy tag of `deploy_group`, with its timestamp.
    pub fn latest_deploy(&self, deploy_group: &str) -> Option<(&str, &str)> {
        self.latest_deploy
            .get(deploy_group)
            .map(|(ts, sha)| (ts.as_str(), sha.as_str()))
    }

    /// The tip of `refs/heads/<branch>`.
    pub fn head(&self, branch: &str) -> Option<&str> {
        self.heads.get(branch).map(String::as_str)
    }

    /// Desired state of `control_branch` when `sha` is deployed: the start/stop tag on that sha
    /// with the greatest force_bounce, or `(start, None)`.
    pub fn desired_state(&self, control_branch: &str, sha: &str) -> (DesiredState, Option<String>) {
        self.controls
            .get(&(control_branch.to_string(), sha.to_string()))
            .map(|(fb, st)| (*st, Some(fb.clone())))
            .unwrap_or((DesiredState::Start, None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deploy_tags_parse_with_dotted_and_dashed_groups() {
        assert_eq!(
            parse_deploy_tag("refs/tags/paasta-prod.main-20160308T053933-deploy"),
            Some(("prod.main", "20160308T053933"))
        );
        assert_eq!(
            parse_deploy_tag("refs/tags/paasta-try-me-20160308T053933-deploy"),
            Some(("try-me", "20160308T053933"))
        );
        assert_eq!(
            parse_deploy_tag("refs/tags/paasta-x-2016030T053933-deploy"),
            None
        );
        assert_eq!(
            parse_deploy_tag("refs/heads/paasta-x-20160308T053933-deploy"),
            None
        );
        assert_eq!(
            parse_deploy_tag("refs/tags/paasta--20160308T053933-deploy"),
            None
        );
    }

    #[test]
    fn control_tags_accept_single_and_double_prefix() {
        let t = parse_control_tag("refs/tags/paasta-cluster.inst-20160205T182601-stop")
            .expect("parses");
        assert_eq!(t.control_branches, vec!["cluster.inst"]);
        assert_eq!(
            (t.force_bounce, t.state),
            ("20160205T182601", DesiredState::Stop)
        );
        let t =
            parse_control_tag("refs/tags/paasta-paasta-cluster.inst-123-start").expect("parses");
        assert_eq!(
            t.control_branches,
            vec!["paasta-cluster.inst", "cluster.inst"]
        );
        assert!(parse_control_tag("refs/tags/paasta-cluster.inst-123-restart").is_none());
        assert!(parse_control_tag("refs/tags/paasta-x-20160308T053933-deploy").is_none());
    }

    #[test]
    fn latest_deploy_and_control_on_same_sha() {
        let refs = [
            ("refs/tags/paasta-g-20160101T000000-deploy", "aaa"),
            ("refs/tags/paasta-g-20160202T000000-deploy", "bbb"),
            ("refs/tags/paasta-c.i-20160301T000000-stop", "bbb"),
            ("refs/tags/paasta-c.i-20160401T000000-start", "aaa"),
        ];
        let idx = RefIndex::new(refs);
        assert_eq!(idx.latest_deploy("g"), Some(("20160202T000000", "bbb")));
        assert_eq!(
            idx.desired_state("c.i", "bbb"),
            (DesiredState::Stop, Some("20160301T000000".into()))
        );
        assert_eq!(idx.desired_state("c.i", "ccc"), (DesiredState::Start, None));
    }

    #[test]
    fn annotated_tags_are_peeled() {
        let refs = [
            ("refs/tags/paasta-g-20160101T000000-deploy", "tagobj"),
            ("refs/tags/paasta-g-20160101T000000-deploy^{}", "commit"),
        ];
        assert_eq!(
            RefIndex::new(refs).latest_deploy("g"),
            Some(("20160101T000000", "commit"))
        );
    }

    #[test]
    fn names_round_trip() {
        assert_eq!(
            parse_deploy_tag(&deploy_tag_name("a.b", "20161129T010203")),
            Some(("a.b", "20161129T010203"))
        );
        let name = control_tag_name("c.i", "20161129T010203", DesiredState::Stop);
        let t = parse_control_tag(&name).expect("parses");
        assert_eq!(
            (t.control_branches[0], t.force_bounce, t.state),
            ("c.i", "20161129T010203", DesiredState::Stop)
        );
    }
}
