//! The case report: one page an examiner reads and hands on
//! (`report.html`, [`html`]) and a CASE/UCO record other tools ingest
//! (`case.jsonld`, [`case_uco`]), both rendered from one
//! [`model::CaseReport`] gathered from the catalog, the verification of
//! every layer, each container's diff and the evidence's provenance.
//! `SHA256SUMS` beside them covers both.

pub mod case_uco;
pub mod html;
pub mod model;

pub use model::{CaseReport, build};

use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

/// What [`write`] wrote.
#[derive(Debug, Clone)]
pub struct ReportFiles {
    /// `OUTPUT_DIR/report.html`.
    pub html: PathBuf,
    /// `OUTPUT_DIR/case.jsonld`.
    pub case: PathBuf,
    /// `OUTPUT_DIR/SHA256SUMS`.
    pub sums: PathBuf,
}

/// Writing the report failed.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {source}")]
pub struct ReportError {
    /// The file that could not be written.
    pub path: String,
    /// Why.
    #[source]
    pub source: std::io::Error,
}

/// Writes `report.html`, `case.jsonld` (naming report.html with its
/// SHA-256) and `SHA256SUMS` into `out` (which must exist). Each file
/// is written beside its name and renamed into place, so a reader never
/// sees half a file.
pub fn write(r: &CaseReport, out: &Path) -> Result<ReportFiles, ReportError> {
    let html = out.join("report.html");
    let page = html::render(r);
    put(&html, page.as_bytes())?;
    let mut outputs = vec![case_uco::Output {
        name: "report.html".into(),
        path: html.to_string_lossy().into_owned(),
        size: page.len() as u64,
        sha256: hex::encode(Sha256::digest(page.as_bytes())),
    }];
    // Each image directory this run wrote, file by file as its
    // SHA256SUMS names them.
    for d in r.images.iter().filter_map(|i| i.dir.as_deref()) {
        outputs.extend(written_files(out, d));
    }
    let doc = case_uco::document(r, &outputs);
    let case = out.join("case.jsonld");
    let mut bytes = serde_json::to_vec_pretty(&doc).map_err(|e| ReportError {
        path: case.to_string_lossy().into_owned(),
        source: std::io::Error::other(e),
    })?;
    bytes.push(b'\n');
    put(&case, &bytes)?;
    let sums = out.join("SHA256SUMS");
    let text = format!(
        "{}{}",
        crate::escape::sha256sums_line(&outputs[0].sha256, "report.html"),
        crate::escape::sha256sums_line(&hex::encode(Sha256::digest(&bytes)), "case.jsonld")
    );
    put(&sums, text.as_bytes())?;
    Ok(ReportFiles { html, case, sums })
}

/// The files `OUTPUT_DIR/<dir>/SHA256SUMS` lists, with their sizes (a
/// name written escaped, with a leading backslash, is left out).
fn written_files(out: &Path, dir: &str) -> Vec<case_uco::Output> {
    let Ok(sums) = std::fs::read_to_string(out.join(dir).join("SHA256SUMS")) else {
        return Vec::new();
    };
    let mut files = Vec::new();
    for line in sums.lines().filter(|l| !l.starts_with('\\')) {
        let Some((sha, name)) = line.split_once("  ") else {
            continue;
        };
        let path = out.join(dir).join(name);
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        files.push(case_uco::Output {
            name: format!("{dir}/{name}"),
            path: path.to_string_lossy().into_owned(),
            size: meta.len(),
            sha256: sha.to_string(),
        });
    }
    files
}

fn put(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    let err = |source| ReportError {
        path: path.to_string_lossy().into_owned(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    #[cfg_attr(not(unix), allow(unused_mut))]
    let mut b = tempfile::Builder::new();
    // Readable as any file the examiner writes (a temporary file is 0600).
    #[cfg(unix)]
    b.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644));
    let mut tmp = b.tempfile_in(dir).map_err(err)?;
    tmp.write_all(bytes).map_err(err)?;
    tmp.persist(path).map_err(|e| err(e.error))?;
    Ok(())
}
