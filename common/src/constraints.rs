//! Marathon constraints as PaaSTA v0.19.9 computes them when an instance has no explicit
//! `constraints` (spec §3.4): `extra_constraints`, then `[discover, GROUP_BY, <number of
//! locations>]` counted over the Mesos slaves left after the deploy black/whitelist, then one
//! UNLIKE per blacklist entry, one LIKE for the whitelist, and the pool. Every element is
//! stringified with Python 2's `str()`.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

/// A Mesos slave's attributes (`region`, `habitat`, `pool`, …).
pub type SlaveAttributes = BTreeMap<String, String>;

/// `deploy_whitelist`: one location type and the values allowed for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployWhitelist {
    /// Attribute name, e.g. `region`.
    pub location_type: String,
    /// Allowed values.
    pub locations: Vec<String>,
}

/// The inputs of the computed constraints.
#[derive(Debug, Clone, PartialEq)]
pub struct ConstraintInputs<'a> {
    /// `extra_constraints`, verbatim (stringified on output).
    pub extra_constraints: &'a [Vec<Value>],
    /// The smartstack namespace's `discover` attribute.
    pub discover: &'a str,
    /// `deploy_blacklist` as `(location_type, location)` pairs.
    pub blacklist: &'a [(String, String)],
    /// `deploy_whitelist`, if any.
    pub whitelist: Option<&'a DeployWhitelist>,
    /// `pool`.
    pub pool: &'a str,
}

/// PaaSTA's `NoSlavesAvailable`, with its message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct NoSlavesAvailable {
    /// "No mesos slaves were available to query. Try again later" or "… after filtering …".
    pub message: String,
}

/// `host_passes_blacklist`: no `(type, value)` entry equals the slave's attribute.
pub fn passes_blacklist(attributes: &SlaveAttributes, blacklist: &[(String, String)]) -> bool {
    !blacklist
        .iter()
        .any(|(t, v)| attributes.get(t).is_some_and(|a| a == v))
}

/// `host_passes_whitelist`: no whitelist, or the slave's attribute is one of the locations.
pub fn passes_whitelist(attributes: &SlaveAttributes, whitelist: Option<&DeployWhitelist>) -> bool {
    whitelist.is_none_or(|w| {
        attributes
            .get(&w.location_type)
            .is_some_and(|a| w.locations.contains(a))
    })
}

/// `get_mesos_slaves_grouped_by_attribute(...).keys()`: the distinct values of `attribute`
/// among the slaves that pass the black/whitelist. Slaves without the attribute are not
/// counted but do not fail; no slaves at all, or none left after filtering, do.
pub fn discover_locations<'s>(
    slaves: &'s [SlaveAttributes],
    attribute: &str,
    blacklist: &[(String, String)],
    whitelist: Option<&DeployWhitelist>,
) -> Result<BTreeSet<&'s str>, NoSlavesAvailable> {
    if slaves.is_empty() {
        return Err(NoSlavesAvailable {
            message: "No mesos slaves were available to query. Try again later".into(),
        });
    }
    let filtered: Vec<&SlaveAttributes> = slaves
        .iter()
        .filter(|s| passes_blacklist(s, blacklist) && passes_whitelist(s, whitelist))
        .collect();
    if filtered.is_empty() {
        return Err(NoSlavesAvailable {
            message: "No mesos slaves were available after filtering. Try again later".into(),
        });
    }
    Ok(filtered
        .into_iter()
        .filter_map(|s| s.get(attribute).map(String::as_str))
        .collect())
}

/// `get_calculated_constraints` when the instance has no explicit `constraints`.
pub fn calculated_constraints(
    inputs: &ConstraintInputs<'_>,
    slaves: &[SlaveAttributes],
) -> Result<Vec<Vec<String>>, CalculateError> {
    let mut out = Vec::new();
    for constraint in inputs.extra_constraints {
        let row = constraint
            .iter()
            .map(py2_str)
            .collect::<Result<Vec<_>, _>>()
            .map_err(CalculateError::BadExtraConstraint)?;
        out.push(row);
    }
    let locations =
        discover_locations(slaves, inputs.discover, inputs.blacklist, inputs.whitelist)?;
    let group_by = locations.len().to_string();
    out.push(vec![inputs.discover.into(), "GROUP_BY".into(), group_by]);
    for (t, v) in inputs.blacklist {
        out.push(vec![t.clone(), "UNLIKE".into(), v.clone()]);
    }
    if let Some(w) = inputs.whitelist {
        out.push(vec![
            w.location_type.clone(),
            "LIKE".into(),
            w.locations.join("|"),
        ]);
    }
    out.push(vec!["pool".into(), "LIKE".into(), inputs.pool.into()]);
    Ok(out)
}

/// Why [`calculated_constraints`] failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalculateError {
    /// An `extra_constraints` element Python's `str()` would not render as a scalar.
    #[error("{0}")]
    BadExtraConstraint(String),
    /// No slaves to count locations over.
    #[error(transparent)]
    NoSlaves(#[from] NoSlavesAvailable),
}

/// Python 2 `str()` of a scalar JSON value: strings as is, `True`/`False`, `None`, integers in
/// decimal, floats with 12 significant digits (`'%.12g'`-like, plus `.0` when integral). Lists and
/// mappings are refused (PaaSTA would have embedded their Python repr).
pub fn py2_str(value: &Value) -> Result<String, String> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Bool(true) => Ok("True".into()),
        Value::Bool(false) => Ok("False".into()),
        Value::Null => Ok("None".into()),
        Value::Number(n) => Ok(match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (_, Some(u), _) => u.to_string(),
            (_, _, Some(f)) => py2_float_str(f),
            _ => n.to_string(),
        }),
        other => Err(format!(
            "constraint elements must be scalars, found {other}"
        )),
    }
}

/// Python 2.7 `str(float)`: `PyOS_double_to_string(f, 'g', 12, ADD_DOT_0)`.
pub fn py2_float_str(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    const PRECISION: i32 = 12;
    let sci = format!("{:.*e}", (PRECISION - 1) as usize, f);
    let (mantissa, exp) = sci.split_once('e').expect("`{:e}` always has an exponent");
    let exp: i32 = exp.parse().expect("integer exponent");
    let trim = |s: &str| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s.to_string()
        }
    };
    // With ADD_DOT_0, CPython switches to exponent notation one digit early.
    if (-4..PRECISION - 1).contains(&exp) {
        let decimals = (PRECISION - 1 - exp) as usize;
        let fixed = trim(&format!("{f:.decimals$}"));
        if fixed.contains('.') {
            fixed
        } else {
            format!("{fixed}.0")
        }
    } else {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim(mantissa), exp.abs())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn python2_str_of_scalars() {
        let cases = [
            (json!("x"), "x"),
            (json!(1), "1"),
            (json!(true), "True"),
            (json!(null), "None"),
            (json!(1.0), "1.0"),
            (json!(0.1), "0.1"),
            (json!(0.30000000000000004), "0.3"),
            (json!(1e16), "1e+16"),
            (json!(12345678901.0), "12345678901.0"),
            (json!(123456789012.0), "1.23456789012e+11"),
            (json!(999999999999.5), "1e+12"),
            (json!(5e-5), "5e-05"),
            (json!(1234567890123.0), "1.23456789012e+12"),
            (json!(0.0001), "0.0001"),
            (json!(0.00001), "1e-05"),
            (json!(-2.5), "-2.5"),
        ];
        for (v, want) in cases {
            assert_eq!(py2_str(&v).unwrap(), want, "{v}");
        }
        assert!(py2_str(&json!([1])).is_err());
    }

    #[test]
    fn slaves_without_the_attribute_are_not_counted() {
        let slave = |pairs: &[(&str, &str)]| -> SlaveAttributes {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let slaves = [slave(&[("region", "a")]), slave(&[("habitat", "h")])];
        let locations = discover_locations(&slaves, "region", &[], None).unwrap();
        assert_eq!(locations.into_iter().collect::<Vec<_>>(), vec!["a"]);
        let none = discover_locations(&slaves, "pool", &[], None).unwrap();
        assert!(none.is_empty());
    }
}
