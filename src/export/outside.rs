//! The evidence is never written: an output directory inside the
//! evidence tree (symlinks resolved) is refused before anything is
//! created. The command line and the Python bindings both check here.

use super::error::{ExportError, out_err};
use std::path::Path;

/// Refuses `out` when it is, or would be created, inside the evidence
/// directory `evidence` (a disk image file has no inside: always fine).
/// `out` need not exist yet: its nearest existing ancestor is resolved.
pub fn check_output_outside(evidence: &Path, out: &Path) -> Result<(), ExportError> {
    let Ok(ev) = evidence.canonicalize() else {
        return Ok(());
    };
    if !ev.is_dir() {
        return Ok(());
    }
    let abs = if out.is_absolute() {
        out.to_path_buf()
    } else {
        std::env::current_dir().map_err(out_err(out))?.join(out)
    };
    let mut existing = abs.as_path();
    let mut rest = Vec::new();
    while !existing.exists() {
        match (existing.parent(), existing.file_name()) {
            (Some(p), Some(n)) => {
                rest.push(n.to_owned());
                existing = p;
            }
            _ => break,
        }
    }
    let mut resolved = existing.canonicalize().map_err(out_err(out))?;
    for n in rest.iter().rev() {
        resolved.push(n);
    }
    if resolved.starts_with(&ev) {
        return Err(ExportError::InsideEvidence {
            out: out.display().to_string(),
            evidence: evidence.display().to_string(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inside_is_refused_outside_is_not() {
        let ev = tempfile::tempdir().unwrap();
        let other = tempfile::tempdir().unwrap();
        let inside = ev.path().join("a/b");
        let e = check_output_outside(ev.path(), &inside).unwrap_err();
        assert!(e.to_string().contains("inside the evidence"), "{e}");
        assert!(check_output_outside(ev.path(), &other.path().join("out")).is_ok());
        // Through a symlink that points into the evidence.
        std::os::unix::fs::symlink(ev.path(), other.path().join("link")).unwrap();
        assert!(check_output_outside(ev.path(), &other.path().join("link/x")).is_err());
    }
}
