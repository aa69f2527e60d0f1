//! What every export does alike: claim its output directory (refusing an
//! existing one unless forced, and removing a half-written one), settle
//! which config goes into the archive, and close with `report.json` and
//! `SHA256SUMS`.

use super::error::{ExportError, out_err};
use crate::digest::sha256_hex;
use crate::report::{Finding, FindingKind, LayerReport};
use serde::Serialize;
use std::fs;
use std::path::Path;

/// The name an output directory is written under until it is complete:
/// `.<name>.partial-<pid>` beside it. An interrupted or killed run leaves
/// only such names, never one that looks like a result.
pub fn partial_name(dir: &Path) -> std::path::PathBuf {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    dir.with_file_name(format!(".{name}{PARTIAL}{}", std::process::id()))
}

/// What marks a directory being written (see [`partial_name`]).
pub const PARTIAL: &str = ".partial-";

/// Writes `dir` atomically: refuses an existing one unless `force`, runs
/// `write` in a fresh directory under its [`partial_name`], and renames
/// that to `dir` only when `write` succeeded (`report.json` and
/// `SHA256SUMS` are its last files); on failure the partial directory is
/// removed, so that a half-written export never passes for a complete one.
/// Set once the run is being stopped: no output directory is started or
/// renamed into place after that.
static STOPPING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Stops every export of this process from starting or finishing an
/// output directory (on SIGINT/SIGTERM, before this run's `.partial-`
/// directories are removed), so that none appears after their removal.
pub fn stop_new_outputs() {
    STOPPING.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// Whether [`stop_new_outputs`] was called.
pub fn is_stopping() -> bool {
    STOPPING.load(std::sync::atomic::Ordering::SeqCst)
}

fn stopping(dir: &Path) -> Result<(), ExportError> {
    if STOPPING.load(std::sync::atomic::Ordering::SeqCst) {
        return Err(ExportError::Interrupted {
            path: dir.display().to_string(),
        });
    }
    Ok(())
}

pub fn in_fresh_dir<T>(
    dir: &Path,
    force: bool,
    write: impl FnOnce(&Path) -> Result<T, ExportError>,
) -> Result<T, ExportError> {
    if dir.symlink_metadata().is_ok() && !force {
        let path = dir.display().to_string();
        return Err(if is_complete(dir) {
            ExportError::Complete { path }
        } else {
            ExportError::Exists { path }
        });
    }
    stopping(dir)?;
    let tmp = partial_name(dir);
    if tmp.symlink_metadata().is_ok() {
        fs::remove_dir_all(&tmp).map_err(out_err(&tmp))?;
    }
    fs::create_dir_all(&tmp).map_err(out_err(&tmp))?;
    let r = write(&tmp).and_then(|v| stopping(dir).map(|()| v));
    if r.is_err() {
        let _ = fs::remove_dir_all(&tmp);
        return r;
    }
    if dir.symlink_metadata().is_ok() {
        fs::remove_dir_all(dir).map_err(out_err(dir))?;
    }
    fs::rename(&tmp, dir).map_err(out_err(dir))?;
    r
}

/// The config for the archive: the original bytes when every layer
/// reproduced its diff_id, otherwise a derived one with the layers' new
/// hashes. Returns it, whether it was derived, and the findings saying so
/// (and whether the original config hashes to its id).
pub fn settle_config(
    original: &[u8],
    id: &str,
    config_verified: bool,
    layers: &[LayerReport],
) -> (Vec<u8>, bool, Vec<Finding>) {
    let mut findings = Vec::new();
    if id.is_empty() {
        // Pre-1.10 Docker: no content-addressed config at all.
        findings.push(Finding::new(
            FindingKind::ConfigHashMismatch,
            None,
            format!(
                "the store kept no content-addressed config: image_metadata.json is one made from its v1 JSON (sha256:{}), nothing to verify it against",
                sha256_hex(original)
            ),
        ));
    } else if !config_verified {
        findings.push(Finding::new(
            FindingKind::ConfigHashMismatch,
            None,
            format!(
                "the stored config hashes to sha256:{}, not to its name {id}",
                sha256_hex(original)
            ),
        ));
    }
    if layers.iter().all(|l| l.verified) {
        return (original.to_vec(), false, findings);
    }
    let ids: Vec<String> = layers
        .iter()
        .map(|l| format!("sha256:{}", l.sha256))
        .collect();
    let cfg = match derive_config(original, &ids) {
        Ok(cfg) => cfg,
        Err(e) => {
            // Never a `null` config: keep the original, and say why.
            findings.push(Finding::new(
                FindingKind::DerivedConfig,
                None,
                format!("a derived config could not be made ({e}); image.tar carries the original config, whose diff_ids do not all match the layers written"),
            ));
            return (original.to_vec(), false, findings);
        }
    };
    let unknown = layers.iter().all(|l| l.diff_id.is_empty());
    findings.push(Finding::new(
        FindingKind::DerivedConfig,
        None,
        if unknown { format!(
            "the store recorded no diff_ids; image.tar carries a config with the diff_ids of the layers as written (image id sha256:{}), which `docker load` takes as the image id",
            sha256_hex(&cfg)
        ) } else { format!(
            "layer(s) {} could not be reproduced byte for byte; image.tar carries a derived config (image id sha256:{}) with their new diff_ids; image_metadata.json keeps the original",
            layers.iter().filter(|l| !l.verified).map(|l| l.index.to_string()).collect::<Vec<_>>().join(", "),
            sha256_hex(&cfg)
        ) },
    ));
    (cfg, true, findings)
}

/// The original config with `rootfs.diff_ids` replaced, key order kept.
pub fn derive_config(
    original: &[u8],
    diff_ids: &[String],
) -> Result<Vec<u8>, crate::json::JsonError> {
    let mut v: serde_json::Value = crate::json::parse(original)?;
    if let Some(rootfs) = v.get_mut("rootfs").and_then(|r| r.as_object_mut()) {
        rootfs.insert("diff_ids".into(), serde_json::json!(diff_ids));
    }
    Ok(serde_json::to_vec(&v)?)
}

/// Writes a small file and returns its line for `SHA256SUMS`.
pub fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> Result<(String, String), ExportError> {
    let path = dir.join(name);
    fs::write(&path, bytes).map_err(out_err(&path))?;
    Ok((sha256_hex(bytes), name.to_string()))
}

/// Writes `report.json` and then `SHA256SUMS` (every file written before,
/// `sha256sum -c` format).
pub fn close_dir(
    dir: &Path,
    report: &impl Serialize,
    mut sums: Vec<(String, String)>,
) -> Result<(), ExportError> {
    let mut json = serde_json::to_vec_pretty(report).unwrap_or_default();
    json.push(b'\n');
    sums.push(write_file(dir, "report.json", &json)?);
    let text: String = sums
        .iter()
        .map(|(s, n)| crate::escape::sha256sums_line(s, n))
        .collect();
    write_file(dir, "SHA256SUMS", text.as_bytes())?;
    Ok(())
}

/// Writes `committed.tar` (the image's layers plus the container's, under
/// `config`) and returns its `SHA256SUMS` line, the image id `docker load`
/// will report, and its tag `forensics/<container name>:<12 hex of id>`.
pub fn write_committed(
    dir: &Path,
    config: &[u8],
    layers: &[super::archive::ArchiveLayer],
    container_name: &str,
    container_id: &str,
) -> Result<((String, String), String, String), ExportError> {
    let name: String = container_name
        .to_ascii_lowercase()
        .chars()
        .map(|ch| {
            if ch.is_ascii_alphanumeric() || "._-".contains(ch) {
                ch
            } else {
                '-'
            }
        })
        .collect();
    let tag = format!(
        "forensics/{}:{}",
        name.trim_matches(|ch: char| !ch.is_ascii_alphanumeric()),
        container_id.get(..12).unwrap_or(container_id)
    );
    let plan = super::archive::ArchivePlan::new(config, std::slice::from_ref(&tag), layers);
    let path = dir.join("committed.tar");
    let (sha, _) = super::archive::write_archive(&path, &plan, layers).map_err(out_err(&path))?;
    Ok((
        (sha, "committed.tar".into()),
        format!("sha256:{}", sha256_hex(config)),
        tag,
    ))
}

/// The totals of an image report.
pub fn totals(
    layers: &[LayerReport],
    layer_files: bool,
    image_findings: usize,
    archive_len: u64,
) -> super::image_report::Totals {
    super::image_report::Totals {
        layers: layers.len(),
        layers_verified: layers.iter().filter(|l| l.verified).count(),
        layers_rebuilt: layers
            .iter()
            .filter(|l| l.method == crate::report::Method::Rebuilt)
            .count(),
        // A layer linked to one written before is counted there.
        bytes_written: layers
            .iter()
            .filter(|l| layer_files && l.same_as.is_none())
            .map(|l| l.size)
            .sum::<u64>()
            + archive_len,
        files_checked: layers.iter().map(|l| l.files_checked).sum(),
        findings: image_findings + layers.iter().map(|l| l.findings.len()).sum::<usize>(),
    }
}

/// A container log as written by [`write_log`].
pub struct WrittenLog {
    pub summary: super::logs::LogSummary,
    /// `SHA256SUMS` lines of the raw copy and of `logs.txt`.
    pub sums: Vec<(String, String)>,
    /// Set when lines could not be parsed.
    pub finding: Option<Finding>,
}

/// Copies a container log out of the evidence as `raw_name` and renders
/// it into `logs.txt` in the same single read.
pub fn write_log(
    fs: &dyn crate::evidence::fs::FileSystem,
    log: &crate::evidence::fs::EvPath,
    dir: &Path,
    raw_name: &str,
    render: impl FnOnce(
        &mut dyn std::io::BufRead,
        &mut dyn std::io::Write,
    ) -> std::io::Result<super::logs::LogSummary>,
) -> Result<WrittenLog, ExportError> {
    use crate::digest::HashingWriter;
    use std::io::{BufReader, BufWriter, Read};
    let raw_path = dir.join(raw_name);
    let txt_path = dir.join("logs.txt");
    let file = fs.open(log).map_err(|e| ExportError::Evidence {
        place: log.display(),
        detail: e.to_string(),
    })?;
    let raw = HashingWriter::new(BufWriter::new(
        fs::File::create(&raw_path).map_err(out_err(&raw_path))?,
    ));
    let mut txt = HashingWriter::new(BufWriter::new(
        fs::File::create(&txt_path).map_err(out_err(&txt_path))?,
    ));
    /// Writes everything read through it to the raw copy.
    struct Tee<R, W> {
        inner: R,
        copy: W,
    }
    impl<R: Read, W: std::io::Write> Read for Tee<R, W> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.inner.read(buf)?;
            self.copy.write_all(&buf[..n])?;
            Ok(n)
        }
    }
    let mut reader = BufReader::new(Tee {
        inner: file,
        copy: raw,
    });
    let summary = render(&mut reader, &mut txt).map_err(out_err(&txt_path))?;
    // Whatever the renderer left unread still belongs in the raw copy.
    std::io::copy(&mut reader, &mut std::io::sink()).map_err(out_err(&raw_path))?;
    let Tee { copy: raw, .. } = reader.into_inner();
    let (_, raw_sha, _) = raw.finish().map_err(out_err(&raw_path))?;
    let (_, txt_sha, _) = txt.finish().map_err(out_err(&txt_path))?;
    let finding = (summary.broken_lines > 0).then(|| {
        Finding::new(
            FindingKind::FileUnreadable,
            Some(log.display()),
            format!(
                "{} log line(s) could not be parsed and were skipped (the raw log is kept)",
                summary.broken_lines
            ),
        )
    });
    Ok(WrittenLog {
        summary,
        sums: vec![
            (raw_sha, raw_name.to_string()),
            (txt_sha, "logs.txt".into()),
        ],
        finding,
    })
}

/// True when `dir` has a `SHA256SUMS` and every file it names is there
/// with that sha256: a directory an earlier run finished.
pub fn is_complete(dir: &Path) -> bool {
    let Ok(sums) = fs::read_to_string(dir.join("SHA256SUMS")) else {
        return false;
    };
    let mut any = false;
    for line in sums.lines() {
        // Only our own plain lines: `<hex>  <relative name>`.
        let Some((sha, name)) = line.split_once("  ") else {
            return false;
        };
        if name.starts_with('/') || name.split('/').any(|c| c == "..") {
            return false;
        }
        let Ok(mut f) = fs::File::open(dir.join(name)) else {
            return false;
        };
        let mut h = crate::digest::HashingWriter::new(std::io::sink());
        if std::io::copy(&mut f, &mut h).is_err() {
            return false;
        }
        match h.finish() {
            Ok((_, got, _)) if got == sha => any = true,
            _ => return false,
        }
    }
    any
}
