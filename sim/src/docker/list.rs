//! `GET /containers/json` selection: `all`, `limit`, and every list filter, as Docker 20.10's
//! `foldFilter`/`includeContainerInList` apply them.

use super::engine::{EngineState, resolve};
use super::error::EngineError;
use super::filters::{FilterArgs, FilterError, LIST_FILTER_KEYS, parse_atoi};
use super::model::{Container, ContainerStatus};

/// The list query.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListQuery {
    /// Include non-running containers (implied by a `status` filter or a positive `limit`).
    pub all: bool,
    /// Return at most this many (newest first); 0 or less means no limit.
    pub limit: i64,
    /// Add `SizeRootFs` (and `SizeRw` when nonzero).
    pub size: bool,
    pub filters: FilterArgs,
}

/// Filter values checked up front, as Docker does before looking at any container.
struct Folded {
    all: bool,
    exited: Vec<i64>,
    before_seq: Option<u64>,
    since_seq: Option<u64>,
}

fn fold(st: &EngineState, q: &ListQuery) -> Result<Folded, EngineError> {
    let f = &q.filters;
    f.validate_keys(LIST_FILTER_KEYS)?;
    let exited = f
        .values("exited")
        .map(parse_atoi)
        .collect::<Result<Vec<_>, _>>()?;
    let mut all = q.all;
    for status in f.values("status") {
        if ContainerStatus::parse(status).is_none() {
            return Err(FilterError::InvalidFilter(format!("status={status}")).into());
        }
        all = true;
    }
    if let Some(bad) = f
        .values("health")
        .find(|h| !["starting", "healthy", "unhealthy", "none"].contains(h))
    {
        return Err(FilterError::InvalidHealth(bad.to_owned()).into());
    }
    let reference = |key: &str| -> Result<Option<u64>, EngineError> {
        let mut seq = None;
        for given in f.values(key) {
            let id = resolve(st, given).map_err(|_| EngineError::FilterReference {
                given: given.to_owned(),
            })?;
            seq = Some(st.containers[&id].seq);
        }
        Ok(seq)
    };
    let before_seq = reference("before")?;
    let since_seq = reference("since")?;
    Ok(Folded {
        all,
        exited,
        before_seq,
        since_seq,
    })
}

/// The containers the query selects, newest first.
pub(super) fn select<'a>(
    st: &'a EngineState,
    q: &ListQuery,
) -> Result<Vec<&'a Container>, EngineError> {
    let folded = fold(st, q)?;
    let mut containers: Vec<&Container> = st.containers.values().collect();
    containers.sort_by(|a, b| b.created.cmp(&a.created).then(b.seq.cmp(&a.seq)));
    let mut out = Vec::new();
    for c in containers {
        if q.limit > 0 && out.len() as i64 >= q.limit {
            break;
        }
        if folded.before_seq.is_some_and(|s| c.seq >= s)
            || folded.since_seq.is_some_and(|s| c.seq <= s)
        {
            continue;
        }
        if !c.status.is_alive() && !folded.all && q.limit <= 0 {
            continue;
        }
        if includes(c, &q.filters, &folded) {
            out.push(c);
        }
    }
    Ok(out)
}

fn includes(c: &Container, f: &FilterArgs, folded: &Folded) -> bool {
    let names_match = f.regex_match("name", &c.slash_name()) || f.regex_match("name", &c.name);
    let exited_ok = folded.exited.is_empty()
        || (c.status == ContainerStatus::Exited
            && c.started_at.is_some()
            && folded.exited.contains(&c.exit_code));
    let ancestor_ok = !f.has("ancestor")
        || f.values("ancestor").any(|a| {
            a == c.image
                || format!("{a}:latest") == c.image
                || a == c.image_id
                || c.image_id
                    .strip_prefix("sha256:")
                    .is_some_and(|h| h.starts_with(a))
        });
    // Containers here never have a healthcheck, volumes, published or exposed ports, and are
    // never swarm tasks.
    let health_ok = f.exact_match("health", "none");
    let is_task_ok = !f.has("is-task") || f.values("is-task").any(|v| v != "true");
    let no_such_feature = ["volume", "publish", "expose", "isolation"]
        .iter()
        .any(|k| f.has(k));
    f.fuzzy_match("id", &c.id)
        && names_match
        && f.match_kv_list("label", &c.labels)
        && f.exact_match("status", c.status.as_str())
        && exited_ok
        && ancestor_ok
        && health_ok
        && is_task_ok
        && f.exact_match("network", &c.network_mode)
        && !no_such_feature
}
