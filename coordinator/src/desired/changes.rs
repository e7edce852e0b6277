//! Which services changed between two desired states, for caches worked out per service or
//! per instance: a new desired state after a soa-dir change shares every unchanged service's
//! [`ServiceEntry`] (the same `Arc`, with the same desired instances and issues), so a cache
//! drops and works out again only what belongs to the services whose entry is new or gone.
//! At 50,000 instances, clearing every such cache on each change cost a pass's worth of work
//! and about 140 MB of heap that fragmentation kept resident.
//!
//! Architecture Invariant: an entry `Arc` is carried into a new desired state only when the
//! service's files and the read's context are the same, so its desired instances (their
//! `Arc`s too) and issues are the same.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Weak};

use super::{DesiredReport, LastDesired, ServiceEntry};

/// What changed since the desired state a cache saw last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DesiredChange {
    /// The same desired state (`Arc`): nothing to work out.
    Same,
    /// A new desired state; these services' entries are new, or gone (sorted).
    Services(BTreeSet<String>),
}

impl DesiredChange {
    /// Whether `service` may have changed.
    pub fn touches(&self, service: &str) -> bool {
        match self {
            Self::Same => false,
            Self::Services(s) => s.contains(service),
        }
    }

    /// Whether anything may have changed.
    pub fn is_same(&self) -> bool {
        matches!(self, Self::Same) || matches!(self, Self::Services(s) if s.is_empty())
    }
}

/// Remembers the entries of the last desired state it saw, by identity (weak: it keeps no
/// entry alive, and a `Weak` keeps its address from being reused).
#[derive(Debug, Default)]
pub struct ServiceWatch {
    of: LastDesired,
    entries: BTreeMap<String, Weak<ServiceEntry>>,
}

impl ServiceWatch {
    /// The services whose entries differ between the last desired state seen and `desired`
    /// (every service of `desired` the first time), and remembers `desired`.
    pub fn changes(&mut self, desired: &Arc<DesiredReport>) -> DesiredChange {
        if !self.of.changed_to(desired) {
            return DesiredChange::Same;
        }
        let mut changed = BTreeSet::new();
        for (service, was) in &self.entries {
            let same = desired
                .services
                .get(service)
                .is_some_and(|now| std::ptr::eq(was.as_ptr(), Arc::as_ptr(now)));
            if !same {
                changed.insert(service.clone());
            }
        }
        for (service, now) in &desired.services {
            match self.entries.get_mut(service) {
                Some(was) if std::ptr::eq(was.as_ptr(), Arc::as_ptr(now)) => {}
                Some(was) => *was = Arc::downgrade(now),
                None => {
                    changed.insert(service.clone());
                    self.entries.insert(service.clone(), Arc::downgrade(now));
                }
            }
        }
        self.entries.retain(|s, _| desired.services.contains_key(s));
        DesiredChange::Services(changed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(yaml: &str) -> Arc<ServiceEntry> {
        Arc::new(ServiceEntry::for_tests(yaml))
    }

    fn desired(services: &[(&str, &Arc<ServiceEntry>)]) -> Arc<DesiredReport> {
        let mut d = DesiredReport::default();
        for (s, e) in services {
            d.services.insert((*s).to_owned(), Arc::clone(e));
        }
        Arc::new(d)
    }

    #[test]
    fn names_the_services_whose_entry_is_new_or_gone() {
        let (a, b, c) = (entry("a: 1"), entry("b: 1"), entry("c: 1"));
        let mut watch = ServiceWatch::default();
        let first = desired(&[("a", &a), ("b", &b)]);
        let set = |s: &[&str]| DesiredChange::Services(s.iter().map(|s| s.to_string()).collect());
        assert_eq!(watch.changes(&first), set(&["a", "b"]), "all new at first");
        assert_eq!(watch.changes(&first), DesiredChange::Same);

        // b replaced by an equal but new entry, c added, a kept.
        let b2 = entry("b: 1");
        let second = desired(&[("a", &a), ("b", &b2), ("c", &c)]);
        let change = watch.changes(&second);
        assert_eq!(change, set(&["b", "c"]));
        assert!(change.touches("b") && !change.touches("a"));

        // a removed; nothing else.
        let third = desired(&[("b", &b2), ("c", &c)]);
        assert_eq!(watch.changes(&third), set(&["a"]));
        // A new desired state sharing every entry changes nothing.
        let fourth = desired(&[("b", &b2), ("c", &c)]);
        let change = watch.changes(&fourth);
        assert_eq!(change, set(&[]));
        assert!(change.is_same());
    }
}
