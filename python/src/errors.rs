//! The exceptions the package raises, and which library error becomes
//! which. Every message is the one line the command line prints after
//! `docker-forensics: error:` (the error and each cause said once, names
//! from the evidence escaped by `docker_forensics::escape::visible`),
//! with the command line's hints spelled as this API's keyword arguments.

use docker_forensics::StoreError;
use docker_forensics::export::ExportError;
use docker_forensics::export::timeline::TimelineError;
use docker_forensics::layer::diff::ContainerDiffError;
use pyo3::PyErr;
use pyo3::create_exception;
use pyo3::exceptions::PyException;

create_exception!(
    docker_forensics,
    DockerForensicsError,
    PyException,
    "Base of every error this package raises; str() is the one-line message the command line prints."
);
create_exception!(
    docker_forensics,
    UsageError,
    DockerForensicsError,
    "An argument names nothing, or more than one thing: an unknown or ambiguous image, container, store or partition, an invalid reference or format."
);
create_exception!(
    docker_forensics,
    EvidenceError,
    DockerForensicsError,
    "The evidence cannot be opened or read, or its records are broken."
);
create_exception!(
    docker_forensics,
    OutputError,
    DockerForensicsError,
    "The output cannot be written: it exists, is inside the evidence, or the operating system refused."
);

/// Which exception class.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Usage,
    Evidence,
    Output,
}

/// The exception of `kind` with `message` (escaped here).
pub fn raise(kind: Kind, message: &str) -> PyErr {
    let m = docker_forensics::escape::visible(message).into_owned();
    match kind {
        Kind::Usage => UsageError::new_err(m),
        Kind::Evidence => EvidenceError::new_err(m),
        Kind::Output => OutputError::new_err(m),
    }
}

/// The error and its causes on one line, each cause said once (as the
/// command line's `one_line`).
fn one_line(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = String::new();
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        let s = c.to_string();
        if !text.contains(&s) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&s);
        }
        cause = c.source();
    }
    text
}

/// A library error as an exception: `hint` is appended as the command
/// line appends its flag hints.
fn with_hint(kind: Kind, e: &(dyn std::error::Error + 'static), hint: &str) -> PyErr {
    raise(kind, &format!("{}{hint}", one_line(e)))
}

pub fn evidence(e: docker_forensics::EvidenceError) -> PyErr {
    with_hint(Kind::Evidence, &e, "")
}

pub fn store(e: StoreError) -> PyErr {
    let (kind, hint) = match &e {
        StoreError::NoDataRoot { .. } => (Kind::Evidence, "; name one with docker_root="),
        StoreError::AmbiguousImage { .. } | StoreError::AmbiguousContainer { .. } => {
            (Kind::Usage, "; choose one with store= (or docker_root=)")
        }
        StoreError::InvalidReference { .. }
        | StoreError::UnknownImage { .. }
        | StoreError::UnknownContainer { .. } => (Kind::Usage, ""),
        _ => (Kind::Evidence, ""),
    };
    with_hint(kind, &e, hint)
}

pub fn export(e: ExportError) -> PyErr {
    match e {
        ExportError::Store(s) => store(s),
        ExportError::Exists { .. } => {
            // The library names the command line's flag.
            let m = one_line(&e).replace("use --force", "pass force=True");
            raise(Kind::Output, &m)
        }
        ExportError::Output { .. } | ExportError::InsideEvidence { .. } => {
            with_hint(Kind::Output, &e, "")
        }
        _ => with_hint(Kind::Evidence, &e, ""),
    }
}

pub fn diff(e: ContainerDiffError) -> PyErr {
    with_hint(Kind::Evidence, &e, "")
}

pub fn timeline(e: TimelineError) -> PyErr {
    match e {
        TimelineError::Store(s) => store(s),
        TimelineError::Output(_) => with_hint(Kind::Output, &e, ""),
    }
}
