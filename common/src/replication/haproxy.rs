//! The smartstack path's data (spec §5.2): synapse's haproxy stats CSV
//! (`http://<host>:<synapse_port>/;csv;norefresh`) reduced to UP backends per proxy, and the
//! discover locations to ask, one slave per location. Fetching is the caller's I/O.

use std::collections::BTreeMap;

use crate::constraints::passes_blacklist;
use crate::observed::MesosSlave;

/// One server row of the CSV.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HaproxyRow {
    /// Proxy name: `service.namespace` for synapse's backends.
    pub pxname: String,
    /// Server name (`ip:port_hostname` for synapse), or `FRONTEND` / `BACKEND`.
    pub svname: String,
    /// `UP`, `UP 1/3`, `DOWN`, `MAINT`, `no check`, ...
    pub status: String,
}

/// A CSV haproxy did not write.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HaproxyCsvError {
    /// The first line is not haproxy's `# pxname,svname,...` header.
    #[error("haproxy csv: first line is not a '# pxname,svname,...' header")]
    NoHeader,
    /// The header lacks a column PaaSTA reads.
    #[error("haproxy csv: header has no {column} column")]
    MissingColumn {
        /// `pxname`, `svname` or `status`.
        column: &'static str,
    },
}

/// Parses the stats CSV (`;csv`): the `# `-prefixed header names the columns; blank lines are
/// skipped; short rows miss the columns they lack (as empty strings).
pub fn parse_csv(text: &str) -> Result<Vec<HaproxyRow>, HaproxyCsvError> {
    let mut lines = text.lines();
    let header = lines
        .next()
        .and_then(|l| l.strip_prefix('#'))
        .ok_or(HaproxyCsvError::NoHeader)?;
    let columns: Vec<&str> = header.split(',').map(str::trim).collect();
    let index = |column: &'static str| {
        columns
            .iter()
            .position(|c| *c == column)
            .ok_or(HaproxyCsvError::MissingColumn { column })
    };
    let (px, sv, st) = (index("pxname")?, index("svname")?, index("status")?);
    Ok(lines
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            let field = |i: usize| fields.get(i).copied().unwrap_or_default().to_owned();
            HaproxyRow {
                pxname: field(px),
                svname: field(sv),
                status: field(st),
            }
        })
        .collect())
}

/// UP backends per proxy name: server rows (not `FRONTEND`/`BACKEND`) whose status starts
/// with `UP` (so `UP 1/3`, going down, still counts, as in PaaSTA). Proxies with servers but
/// none UP are listed with 0.
pub fn up_backends(rows: &[HaproxyRow]) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for row in rows {
        if row.svname == "FRONTEND" || row.svname == "BACKEND" {
            continue;
        }
        let n = out.entry(row.pxname.clone()).or_insert(0);
        if row.status.starts_with("UP") {
            *n += 1;
        }
    }
    out
}

/// `get_mesos_slaves_grouped_by_attribute(attribute, blacklist)`, keeping only the first slave
/// (in the master's order) of each location: location → hostname to ask. Slaves without the
/// attribute, or matching the blacklist, are left out.
pub fn first_slave_per_location(
    slaves: &[MesosSlave],
    attribute: &str,
    blacklist: &[(String, String)],
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for slave in slaves {
        if !passes_blacklist(&slave.attributes, blacklist) {
            continue;
        }
        if let Some(location) = slave.attributes.get(attribute) {
            out.entry(location.clone())
                .or_insert_with(|| slave.hostname.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const CSV: &str = "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight\n\
        web.main,FRONTEND,,,0,1,2000,5,0,0,0,0,0,,,,,OPEN,\n\
        web.main,10.0.0.1:31000_slave1,0,0,0,1,,5,0,0,,0,,0,0,0,0,UP,1\n\
        web.main,10.0.0.2:31001_slave2,0,0,0,1,,5,0,0,,0,,0,0,0,0,UP 1/3,1\n\
        web.main,10.0.0.3:31002_slave3,0,0,0,1,,5,0,0,,0,,0,0,0,0,DOWN,1\n\
        web.main,BACKEND,0,0,0,1,200,5,0,0,0,0,,0,0,0,0,UP,2\n\
        api.canary,10.0.0.1:31005_slave1,0,0,0,1,,5,0,0,,0,,0,0,0,0,MAINT,1\n\
        \n";

    #[test]
    fn up_rows_are_counted_per_proxy_without_frontend_and_backend() {
        let rows = parse_csv(CSV).expect("parses");
        assert_eq!(rows.len(), 6);
        let up = up_backends(&rows);
        assert_eq!(up.get("web.main"), Some(&2));
        assert_eq!(up.get("api.canary"), Some(&0));
        assert_eq!(up.get("missing.ns"), None);
    }

    #[test]
    fn headerless_or_columnless_csv_is_an_error() {
        assert_eq!(parse_csv("web.main,x,UP\n"), Err(HaproxyCsvError::NoHeader));
        assert_eq!(parse_csv(""), Err(HaproxyCsvError::NoHeader));
        assert_eq!(
            parse_csv("# pxname,svname,weight\n"),
            Err(HaproxyCsvError::MissingColumn { column: "status" })
        );
    }

    fn slave(host: &str, attrs: &[(&str, &str)]) -> MesosSlave {
        MesosSlave {
            id: format!("id-{host}"),
            hostname: host.to_owned(),
            attributes: attrs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    #[test]
    fn first_slave_of_each_location_minus_the_blacklist() {
        let slaves = [
            slave("a1", &[("region", "uswest1"), ("habitat", "a")]),
            slave("a2", &[("region", "uswest1"), ("habitat", "a")]),
            slave("b1", &[("region", "useast1"), ("habitat", "b")]),
            slave("c1", &[("region", "useast2"), ("habitat", "c")]),
            slave("none", &[("pool", "default")]),
        ];
        let by_region = first_slave_per_location(&slaves, "region", &[]);
        assert_eq!(
            by_region.into_iter().collect::<Vec<_>>(),
            [
                ("useast1".to_owned(), "b1".to_owned()),
                ("useast2".to_owned(), "c1".to_owned()),
                ("uswest1".to_owned(), "a1".to_owned()),
            ]
        );
        let blacklist = [("region".to_owned(), "useast2".to_owned())];
        let by_habitat = first_slave_per_location(&slaves, "habitat", &blacklist);
        assert_eq!(by_habitat.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert!(first_slave_per_location(&slaves, "superregion", &[]).is_empty());
    }
}
