//! `docker_forensics._native`: the Python bindings of the
//! `docker-forensics` library (PyO3), wrapped by the pure-Python package
//! in `python/docker_forensics/`.
//!
//! Every result is a plain Python object made from the library's own
//! serde structs (serialized with serde_json, read back with Python's
//! `json.loads`): the same members, names and values as the command
//! line's `--json` output and `report.json`, never spelled twice. Long
//! work runs with the interpreter's lock released (`Python::detach`);
//! the catalog sits behind a mutex that is only taken while the lock is
//! released, so a progress callback (which takes the lock) cannot
//! deadlock with another Python thread using the same evidence.

mod errors;
mod progress;

use docker_forensics::evidence::image::Acquisition;
use docker_forensics::evidence::volume::PartitionChoice;
use docker_forensics::export::timeline::{Filter, Format, write_timeline};
use docker_forensics::export::{
    ExportError, ExportOptions, ProgressSink, RunRecord, VerifiedImage, check_output_outside,
    export_container, export_image, verify_images,
};
use docker_forensics::{Catalog, Found, OpenOptions, StoreFilter, container_changes};
use errors::{Kind, raise};
use pyo3::create_exception;
use pyo3::exceptions::PyUserWarning;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

create_exception!(
    docker_forensics,
    DockerForensicsWarning,
    PyUserWarning,
    "Something was found but could not be read (a container, an image on the timeline); the rest of the result stands."
);

/// Serializes `v` to JSON text (done without the interpreter's lock).
fn json<T: Serialize + ?Sized>(v: &T) -> PyResult<String> {
    serde_json::to_string(v)
        .map_err(|e| raise(Kind::Evidence, &format!("cannot serialize the result: {e}")))
}

/// JSON text as Python objects (`json.loads`: dicts keep the members'
/// order).
fn loads(py: Python<'_>, text: &str) -> PyResult<Py<PyAny>> {
    Ok(py.import("json")?.call_method1("loads", (text,))?.unbind())
}

/// Issues each line of `problems` as a [`DockerForensicsWarning`].
fn warn_all(py: Python<'_>, problems: &[String]) -> PyResult<()> {
    let category = py.get_type::<DockerForensicsWarning>();
    for p in problems {
        let m = docker_forensics::escape::visible(p).into_owned();
        let c = std::ffi::CString::new(m.replace('\0', "\\0"))
            .map_err(|e| raise(Kind::Evidence, &e.to_string()))?;
        PyErr::warn(py, &category, &c, 1)?;
    }
    Ok(())
}

/// How this process was run, for the `run` member of reports: the
/// Python program's `sys.argv`, the host name, the start time.
fn run_record(py: Python<'_>) -> PyResult<RunRecord> {
    let argv: Vec<String> = py
        .import("sys")?
        .getattr("argv")?
        .extract()
        .unwrap_or_default();
    let host: Option<String> = py
        .import("platform")?
        .call_method0("node")?
        .extract::<String>()
        .ok()
        .filter(|h| !h.is_empty());
    let started = py
        .import("datetime")?
        .getattr("datetime")?
        .call_method1(
            "now",
            (py.import("datetime")?.getattr("timezone")?.getattr("utc")?,),
        )?
        .call_method1("strftime", ("%Y-%m-%dT%H:%M:%SZ",))?
        .extract()?;
    Ok(RunRecord {
        command_line: argv,
        host,
        started,
        media_verification: None,
    })
}

/// Opened evidence and the image stores found in it.
#[pyclass(frozen, module = "docker_forensics")]
pub struct Evidence {
    /// The evidence path as given.
    path: PathBuf,
    source: String,
    acquisition: Option<Acquisition>,
    acquisition_json: Option<String>,
    stores: Vec<String>,
    notes: Vec<String>,
    catalog: Mutex<Catalog>,
}

impl Evidence {
    /// The catalog; called only with the interpreter's lock released.
    fn catalog(&self) -> PyResult<MutexGuard<'_, Catalog>> {
        self.catalog.lock().map_err(|_| {
            raise(
                Kind::Evidence,
                "the evidence's catalog is unusable after an earlier failure; open the evidence again",
            )
        })
    }

    /// Refuses a store filter that names no store here, as `--store`.
    fn check_store(catalog: &Catalog, store: Option<&str>) -> PyResult<()> {
        if let Some(wanted) = store {
            let labels = catalog.labels();
            if !labels.iter().any(|l| StoreFilter(Some(wanted)).accepts(l)) {
                return Err(raise(
                    Kind::Usage,
                    &format!(
                        "store={wanted}: no such store in this evidence; stores here: {}",
                        labels.into_iter().collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
        }
        Ok(())
    }

    fn options(
        &self,
        py: Python<'_>,
        progress: Option<Py<PyAny>>,
        force: bool,
        rebuild: bool,
    ) -> PyResult<ExportOptions> {
        Ok(ExportOptions {
            force,
            rebuild,
            progress: progress
                .map(|p| Arc::new(progress::Callback(Arc::new(p))) as Arc<dyn ProgressSink>),
            evidence: self.source.clone(),
            acquisition: self.acquisition.clone(),
            written: None,
            run: Some(run_record(py)?),
            ..Default::default()
        })
    }

    /// Checks `out` is outside the evidence and creates it.
    fn prepare_output(&self, out: &Path) -> PyResult<()> {
        check_output_outside(&self.path, out).map_err(errors::export)?;
        std::fs::create_dir_all(out).map_err(|e| {
            raise(
                Kind::Output,
                &format!("{}: cannot create output directory: {e}", out.display()),
            )
        })
    }
}

/// Reads the `report.json` an earlier run left complete in `dir`.
/// The report of an export as JSON; for a directory an earlier run
/// finished, the report it wrote then.
fn report_or_kept<R: Serialize>(r: Result<R, ExportError>) -> PyResult<String> {
    match r {
        Ok(report) => json(&report),
        Err(ExportError::Complete { path }) => kept_report(&path),
        Err(e) => Err(errors::export(e)),
    }
}

fn kept_report(dir: &str) -> PyResult<String> {
    std::fs::read_to_string(Path::new(dir).join("report.json")).map_err(|e| {
        raise(
            Kind::Output,
            &format!("{dir}: already complete, but its report.json cannot be read: {e}"),
        )
    })
}

#[pymethods]
impl Evidence {
    /// The evidence path as given.
    #[getter]
    fn path(&self) -> String {
        self.source.clone()
    }

    /// The stores found, one line each (as the command line says them).
    #[getter]
    fn stores(&self) -> Vec<String> {
        self.stores.clone()
    }

    /// What was found but could not be used (a partition, a store), one
    /// line each.
    #[getter]
    fn notes(&self) -> Vec<String> {
        self.notes.clone()
    }

    /// What the acquisition tool recorded in an EWF image (case,
    /// examiner, stored hashes), as in `report.json`; None otherwise.
    #[getter]
    fn acquisition(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        self.acquisition_json
            .as_deref()
            .map(|t| loads(py, t))
            .transpose()
    }

    /// Every image, one dict each: the members of `images --json`'s
    /// `images` items. `store` limits it to one store (`docker`,
    /// `containerd`, `containerd/<namespace>`, `podman`).
    #[pyo3(signature = (store=None))]
    fn images(&self, py: Python<'_>, store: Option<&str>) -> PyResult<Py<PyAny>> {
        let text = py.detach(|| {
            let catalog = self.catalog()?;
            Self::check_store(&catalog, store)?;
            json(&catalog.images(StoreFilter(store)).map_err(errors::store)?)
        })?;
        loads(py, &text)
    }

    /// Every container, one dict each: the members of `containers
    /// --json`'s `containers` items. A container that cannot be read is
    /// a `DockerForensicsWarning`.
    #[pyo3(signature = (store=None))]
    fn containers(&self, py: Python<'_>, store: Option<&str>) -> PyResult<Py<PyAny>> {
        let (text, unreadable) = py.detach(|| {
            let catalog = self.catalog()?;
            Self::check_store(&catalog, store)?;
            let mut rows = Vec::new();
            let mut unreadable = Vec::new();
            for (s, c) in catalog.containers(StoreFilter(store)) {
                match c {
                    Ok(c) => {
                        // As the command line: each row names its data root.
                        let mut v = serde_json::to_value(&c).map_err(|e| {
                            raise(Kind::Evidence, &format!("cannot serialize: {e}"))
                        })?;
                        if let Some(o) = v.as_object_mut() {
                            o.insert(
                                "data_root".into(),
                                serde_json::to_value(s.place().data_root()).map_err(|e| {
                                    raise(Kind::Evidence, &format!("cannot serialize: {e}"))
                                })?,
                            );
                        }
                        rows.push(v);
                    }
                    Err(e) => unreadable.push(e.to_string()),
                }
            }
            Ok::<_, PyErr>((json(&rows)?, unreadable))
        })?;
        warn_all(py, &unreadable)?;
        loads(py, &text)
    }

    /// Checks every layer of every image against its diff_id, writing
    /// nothing: one dict per image, the members of `verify --json`'s
    /// `images` items. An image that cannot be loaded is listed with its
    /// `error`.
    #[pyo3(signature = (store=None, rebuild=false, progress=None))]
    fn verify(
        &self,
        py: Python<'_>,
        store: Option<&str>,
        rebuild: bool,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let opts = self.options(py, progress, false, rebuild)?;
        let text = py.detach(|| {
            let catalog = self.catalog()?;
            Self::check_store(&catalog, store)?;
            let mut found: Vec<Found<'_>> = Vec::new();
            let mut failed = Vec::new();
            for job in catalog
                .all_images(StoreFilter(store))
                .map_err(errors::store)?
            {
                match job {
                    Ok(f) => found.push(f),
                    Err((what, e)) => failed.push((what, e)),
                }
            }
            let mut all = verify_images(&found, &opts);
            for (what, e) in failed {
                let (id, store) = what.split_once(" in ").unwrap_or((what.as_str(), ""));
                all.push(VerifiedImage::failed(store, None, id, e.to_string()));
            }
            json(&all)
        })?;
        loads(py, &text)
    }

    /// What a container changed over its image, as `docker diff`: the
    /// members of `diff --json`'s `changes` items (`path`, `kind` A/C/D,
    /// `is_dir`), sorted by path. `container` is an id, unique id prefix
    /// or name.
    #[pyo3(signature = (container, store=None))]
    fn diff(&self, py: Python<'_>, container: &str, store: Option<&str>) -> PyResult<Py<PyAny>> {
        let text = py.detach(|| {
            let catalog = self.catalog()?;
            Self::check_store(&catalog, store)?;
            let found = catalog
                .find_container(container, StoreFilter(store))
                .map_err(errors::store)?;
            let list =
                container_changes(found.store.fs(), &found.container).map_err(errors::diff)?;
            json(&list)
        })?;
        loads(py, &text)
    }

    /// The timeline of every layer and container (or of one `image` /
    /// `container`): `format` is `jsonl` (a list of dicts, Timesketch's
    /// members), `csv` or `bodyfile` (the text). With `path`, it is
    /// written to that file instead (byte for byte as the command line
    /// writes it) and a dict of counts is returned. What could not be
    /// put on it is a `DockerForensicsWarning` (and, with `path`, the
    /// counts' `problems`).
    #[pyo3(signature = (format="jsonl", image=None, container=None, store=None, path=None))]
    fn timeline(
        &self,
        py: Python<'_>,
        format: &str,
        image: Option<String>,
        container: Option<String>,
        store: Option<String>,
        path: Option<PathBuf>,
    ) -> PyResult<Py<PyAny>> {
        let fmt = match format {
            "jsonl" => Format::Jsonl,
            "csv" => Format::Csv,
            "bodyfile" => Format::Bodyfile,
            other => {
                return Err(raise(
                    Kind::Usage,
                    &format!("format={other:?}: not a timeline format; use jsonl, csv or bodyfile"),
                ));
            }
        };
        if let Some(p) = &path {
            check_output_outside(&self.path, p).map_err(errors::export)?;
        }
        let filter = Filter {
            image,
            container,
            store,
        };
        let (bytes, summary) = py.detach(|| {
            let catalog = self.catalog()?;
            Self::check_store(&catalog, filter.store.as_deref())?;
            match &path {
                Some(p) => {
                    let file = std::fs::File::create(p).map_err(|e| {
                        raise(Kind::Output, &format!("{}: cannot write: {e}", p.display()))
                    })?;
                    let mut w = std::io::BufWriter::new(file);
                    let s =
                        write_timeline(&catalog, &filter, fmt, &mut w).map_err(errors::timeline)?;
                    std::io::Write::flush(&mut w).map_err(|e| {
                        raise(Kind::Output, &format!("{}: cannot write: {e}", p.display()))
                    })?;
                    Ok::<_, PyErr>((Vec::new(), s))
                }
                None => {
                    let mut buf = Vec::new();
                    let s = write_timeline(&catalog, &filter, fmt, &mut buf)
                        .map_err(errors::timeline)?;
                    Ok((buf, s))
                }
            }
        })?;
        warn_all(py, &summary.problems)?;
        if path.is_some() {
            let d = PyDict::new(py);
            d.set_item("files", summary.files)?;
            d.set_item("events", summary.events)?;
            d.set_item("layers", summary.layers)?;
            d.set_item("containers", summary.containers)?;
            d.set_item("problems", summary.problems)?;
            return Ok(d.into_any().unbind());
        }
        let text = String::from_utf8_lossy(&bytes);
        if fmt != Format::Jsonl {
            return Ok(text.into_owned().into_pyobject(py)?.into_any().unbind());
        }
        let list = PyList::empty(py);
        for line in text.lines().filter(|l| !l.is_empty()) {
            list.append(loads(py, line)?)?;
        }
        Ok(list.into_any().unbind())
    }

    /// Exports one image (name, tag, id or unique id prefix) into
    /// `output_dir/image_<12 hex>/`: `image.tar` (`docker load`
    /// accepts it), each layer, the config, a Dockerfile, `report.json`,
    /// `SHA256SUMS`. Returns the report (the members of `report.json`).
    /// A directory an earlier run finished (its `SHA256SUMS` checks) is
    /// kept and its report returned; one that exists unfinished needs
    /// `force=True`. `progress`, if given, is called as
    /// `progress(layer, done_bytes, expected_bytes_or_None, finished)`.
    /// `archive_only=True` writes each layer only inside `image.tar` (as
    /// `extract --archive-only`).
    #[pyo3(signature = (image, output_dir, force=false, store=None, rebuild=false, progress=None, archive_only=false))]
    #[allow(clippy::too_many_arguments)]
    fn export_image(
        &self,
        py: Python<'_>,
        image: &str,
        output_dir: PathBuf,
        force: bool,
        store: Option<&str>,
        rebuild: bool,
        progress: Option<Py<PyAny>>,
        archive_only: bool,
    ) -> PyResult<Py<PyAny>> {
        let mut opts = self.options(py, progress, force, rebuild)?;
        opts.archive_only = archive_only;
        let text = py.detach(|| {
            let catalog = self.catalog()?;
            Self::check_store(&catalog, store)?;
            let found = catalog
                .resolve(image, StoreFilter(store))
                .map_err(errors::store)?;
            self.prepare_output(&output_dir)?;
            report_or_kept(export_image(found.store, &found.image, &output_dir, &opts))
        })?;
        loads(py, &text)
    }

    /// Exports one container (id, unique id prefix or name) into
    /// `output_dir/container_<12 hex>/`: its changes, a committed image,
    /// its records and logs. Returns the report (the members of its
    /// `report.json`).
    #[pyo3(signature = (container, output_dir, force=false, store=None, progress=None))]
    fn export_container(
        &self,
        py: Python<'_>,
        container: &str,
        output_dir: PathBuf,
        force: bool,
        store: Option<&str>,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let opts = self.options(py, progress, force, false)?;
        let text = py.detach(|| {
            let catalog = self.catalog()?;
            Self::check_store(&catalog, store)?;
            let found = catalog
                .find_container(container, StoreFilter(store))
                .map_err(errors::store)?;
            self.prepare_output(&output_dir)?;
            report_or_kept(export_container(&catalog, &found, &output_dir, &opts))
        })?;
        loads(py, &text)
    }

    fn __repr__(&self) -> String {
        format!(
            "<docker_forensics.Evidence {:?}: {} store(s)>",
            docker_forensics::escape::visible(&self.source),
            self.stores.len()
        )
    }
}

/// Opens the evidence at `path` (a directory, or a raw or E01 disk
/// image) read-only and finds its image stores. `docker_root` names the
/// Docker data root (relative to the evidence root) and limits the
/// search to it; `partition` picks one partition of a disk image (2 as
/// fdisk numbers it, "001" as mmls's slot, "@2048" by start sector).
#[pyfunction]
#[pyo3(signature = (path, docker_root=None, partition=None))]
fn open_evidence(
    py: Python<'_>,
    path: PathBuf,
    docker_root: Option<String>,
    partition: Option<Bound<'_, PyAny>>,
) -> PyResult<Evidence> {
    let partition = match partition {
        None => None,
        Some(p) => {
            let s = p.str()?.to_string();
            Some(
                s.parse::<PartitionChoice>()
                    .map_err(|m| raise(Kind::Usage, &format!("partition={s}: {m}")))?,
            )
        }
    };
    let opened = py.detach(|| {
        let ev = docker_forensics::Evidence::open(
            &path,
            &OpenOptions {
                partition,
                ..Default::default()
            },
        )
        .map_err(errors::evidence)?;
        let catalog = Catalog::discover(&ev, docker_root.as_deref()).map_err(errors::store)?;
        let acquisition_json = ev.acquisition.as_ref().map(json).transpose()?;
        Ok::<_, PyErr>((ev, catalog, acquisition_json))
    })?;
    let (ev, catalog, acquisition_json) = opened;
    let mut notes = ev.notes.clone();
    notes.extend(catalog.problems.iter().cloned());
    Ok(Evidence {
        path,
        source: ev.source.clone(),
        acquisition: ev.acquisition.clone(),
        acquisition_json,
        stores: catalog.describe(),
        notes,
        catalog: Mutex::new(catalog),
    })
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_function(wrap_pyfunction!(open_evidence, m)?)?;
    m.add_class::<Evidence>()?;
    m.add(
        "DockerForensicsError",
        py.get_type::<errors::DockerForensicsError>(),
    )?;
    m.add("UsageError", py.get_type::<errors::UsageError>())?;
    m.add("EvidenceError", py.get_type::<errors::EvidenceError>())?;
    m.add("OutputError", py.get_type::<errors::OutputError>())?;
    m.add(
        "DockerForensicsWarning",
        py.get_type::<DockerForensicsWarning>(),
    )?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
