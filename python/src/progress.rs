//! Export progress as calls of a Python callable:
//! `progress(layer, done_bytes, expected_bytes_or_None, finished)`, once
//! when a layer starts (done 0), then every [`STEP`] bytes or so, and
//! once when it is finished. Layers are worked on by several threads; the
//! callable is called with the interpreter's lock taken for the call
//! only. An exception raised by the callable cannot stop the export: it
//! is reported as Python reports errors in callbacks
//! (`sys.unraisablehook`) and the export goes on.

use docker_forensics::export::{LayerProgress, ProgressSink};
use pyo3::prelude::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Bytes between two calls for one layer.
const STEP: u64 = 8 << 20;

/// The callable, shared by every layer's progress.
pub struct Callback(pub Arc<Py<PyAny>>);

impl Callback {
    fn call(cb: &Py<PyAny>, label: &str, done: u64, expected: Option<u64>, finished: bool) {
        Python::attach(|py| {
            if let Err(e) = cb.call1(py, (label, done, expected, finished)) {
                e.write_unraisable(py, Some(cb.bind(py)));
            }
        });
    }
}

impl ProgressSink for Callback {
    fn start_layer(&self, label: &str, expected: Option<u64>) -> Box<dyn LayerProgress> {
        Callback::call(&self.0, label, 0, expected, false);
        Box::new(Layer {
            cb: self.0.clone(),
            label: label.to_string(),
            expected,
            done: AtomicU64::new(0),
            said: AtomicU64::new(0),
        })
    }
}

struct Layer {
    cb: Arc<Py<PyAny>>,
    label: String,
    expected: Option<u64>,
    done: AtomicU64,
    /// `done` when the callable was last called.
    said: AtomicU64,
}

impl LayerProgress for Layer {
    fn advance(&self, n: u64) {
        let done = self.done.fetch_add(n, Ordering::Relaxed).saturating_add(n);
        let said = self.said.load(Ordering::Relaxed);
        if done.saturating_sub(said) >= STEP
            && self
                .said
                .compare_exchange(said, done, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            Callback::call(&self.cb, &self.label, done, self.expected, false);
        }
    }

    fn finish(&self) {
        let done = self.done.load(Ordering::Relaxed);
        Callback::call(&self.cb, &self.label, done, self.expected, true);
    }
}
