//! A layer's findings, capped: a hostile layer of millions of changed or
//! missing files must not make `report.json` (or memory) grow with it. The
//! first [`MAX_LAYER_FINDINGS`] are kept as they are; the rest are only
//! counted, by kind, in one closing [`FindingKind::FindingsOmitted`].

use crate::report::{Finding, FindingKind};

/// Findings kept per layer.
pub const MAX_LAYER_FINDINGS: usize = 1000;

/// Collects findings up to a cap, counting the rest.
#[derive(Debug)]
pub(crate) struct Findings {
    kept: Vec<Finding>,
    cap: usize,
    /// Findings past the cap, by kind (a handful of kinds at most).
    omitted: Vec<(FindingKind, u64)>,
}

impl Default for Findings {
    fn default() -> Self {
        Findings::with_cap(MAX_LAYER_FINDINGS)
    }
}

impl Findings {
    pub(crate) fn with_cap(cap: usize) -> Self {
        Findings {
            kept: Vec::new(),
            cap,
            omitted: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, f: Finding) {
        if self.kept.len() < self.cap {
            self.kept.push(f);
            return;
        }
        match self.omitted.iter_mut().find(|(k, _)| *k == f.kind) {
            Some((_, c)) => *c = c.saturating_add(1),
            None => self.omitted.push((f.kind, 1)),
        }
    }

    /// Takes back the kept findings about `path` (a later tar entry for
    /// the same name replaced the one they were about); findings already
    /// past the cap are only counted and stay counted.
    pub(crate) fn retract(&mut self, path: &str) {
        self.kept.retain(|f| f.path.as_deref() != Some(path));
    }

    pub(crate) fn into_vec(mut self) -> Vec<Finding> {
        if !self.omitted.is_empty() {
            let total: u64 = self.omitted.iter().map(|(_, n)| *n).sum();
            let list: Vec<String> = self
                .omitted
                .iter()
                .map(|(k, n)| format!("{n} {}", kind_name(*k)))
                .collect();
            self.kept.push(Finding::new(
                FindingKind::FindingsOmitted,
                None,
                format!(
                    "{total} more findings in this layer, not listed (only the first {} are): {}",
                    self.cap,
                    list.join(", ")
                ),
            ));
        }
        self.kept
    }
}

/// The snake_case name a kind has in `report.json`.
fn kind_name(kind: FindingKind) -> String {
    match serde_json::to_value(kind) {
        Ok(serde_json::Value::String(s)) => s,
        _ => format!("{kind:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_first_and_counts_the_rest_by_kind() {
        let mut f = Findings::with_cap(2);
        for i in 0..5 {
            f.push(Finding::new(
                FindingKind::FileMissing,
                Some(i.to_string()),
                "x",
            ));
        }
        f.push(Finding::new(FindingKind::ContentChanged, None, "y"));
        let v = f.into_vec();
        assert_eq!(v.len(), 3);
        assert_eq!(v[1].path.as_deref(), Some("1"));
        assert_eq!(v[2].kind, FindingKind::FindingsOmitted);
        assert!(v[2].detail.contains("4 more"), "{}", v[2].detail);
        assert!(v[2].detail.contains("3 file_missing, 1 content_changed"));
    }
}
