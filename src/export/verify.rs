//! `verify`: every layer of every image hashed against its diff_id without
//! writing anything, whatever the store. A layer shared by several images
//! of one store is checked once; layers are checked in parallel.

use super::error::ExportOptions;
use super::progress::Bar;
use super::source::{Tee, layer_report, prepare_layer, unpacked_input, usable_blob, write_layer};
use crate::digest::hex_part;
use crate::evidence::fs::FileSystem;
use crate::layer::Produced;
use crate::report::{Finding, FindingKind, LayerReport, Method};
use crate::store::catalog::Found;
use crate::store::model::{Image, LayerSource};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::BTreeMap;
use std::io;

/// The verdict on one image.
#[derive(Debug, Clone, Serialize)]
pub struct VerifiedImage {
    /// `docker`, `containerd/<namespace>` or `podman`.
    pub store: String,
    /// Where the store is (volume, path, driver, why); absent when the
    /// image could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_root: Option<crate::store::DataRootRef>,
    /// The same, typed (evidence file → partition → LV → filesystem →
    /// directory); absent when the image could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<crate::evidence::provenance::Location>,
    /// The image id, `sha256:<hex>`.
    pub image_id: String,
    /// Its references, not the id repeated as a name.
    pub tags: Vec<String>,
    /// sha256 of the stored config equals the id.
    pub config_verified: bool,
    /// Every layer as checked, lowest first; a layer shared with another
    /// image of the store is checked once and reported for both.
    pub layers: Vec<LayerReport>,
    /// Image-level findings.
    pub findings: Vec<Finding>,
    /// Why the image could not be checked at all, if so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Config and every layer verified, nothing found.
    pub verified: bool,
}

impl VerifiedImage {
    /// An image that could not be read.
    pub fn failed(
        store: &str,
        data_root: Option<crate::store::DataRootRef>,
        image_id: &str,
        error: String,
    ) -> Self {
        VerifiedImage {
            store: store.to_string(),
            data_root,
            source: None,
            image_id: image_id.to_string(),
            tags: Vec::new(),
            config_verified: false,
            layers: Vec::new(),
            findings: Vec::new(),
            error: Some(error),
            verified: false,
        }
    }
}

/// What makes a layer distinct: its store, its ChainID and its unpacked
/// copy (containerd keeps one snapshot per namespace: each is compared
/// with the layer).
type LayerKey = (String, String, String);

/// One distinct layer to check: its key, filesystem, image and source.
type Job<'a> = (LayerKey, &'a dyn FileSystem, &'a Image, &'a LayerSource);

/// Verifies `images` (each with the store that holds it).
pub fn verify_images(images: &[Found<'_>], opts: &ExportOptions) -> Vec<VerifiedImage> {
    // Each distinct layer of each store once.
    let mut unique: BTreeMap<LayerKey, (usize, &Image, &LayerSource)> = BTreeMap::new();
    let store_of: Vec<String> = images.iter().map(|f| f.store.place().describe()).collect();
    for (n, f) in images.iter().enumerate() {
        for l in &f.image.layers {
            unique
                .entry(layer_key(&store_of[n], l))
                .or_insert((n, &f.image, l));
        }
    }
    let jobs: Vec<Job<'_>> = unique
        .into_iter()
        .map(|(k, (n, img, l))| (k, images[n].store.fs(), img, l))
        .collect();
    let checked: BTreeMap<LayerKey, LayerReport> = jobs
        .into_par_iter()
        .map(|(key, fs, image, l)| {
            let bar = Bar::start(
                opts.progress.as_ref(),
                &format!(
                    "layer {}",
                    hex_part(&l.chain_id).chars().take(12).collect::<String>()
                ),
                l.size,
            );
            let report = check_layer(fs, image, l, opts.rebuild, &bar);
            bar.finish();
            (key, report)
        })
        .collect();
    images
        .iter()
        .zip(&store_of)
        .map(|(f, s)| {
            let img = &f.image;
            let layers: Vec<LayerReport> = img
                .layers
                .iter()
                .filter_map(|l| {
                    let mut r = checked.get(&layer_key(s, l))?.clone();
                    // The shared check knows the first image's index.
                    r.index = l.index;
                    Some(r)
                })
                .collect();
            let mut findings: Vec<Finding> = img
                .problems
                .iter()
                .map(|p| Finding::new(FindingKind::BlobMismatch, None, p.clone()))
                .collect();
            if img.config_digest.is_empty() {
                findings.push(Finding::new(
                    FindingKind::ConfigHashMismatch,
                    None,
                    "the store kept no content-addressed config: nothing to check it against",
                ));
            } else if !img.config_verified {
                findings.push(Finding::new(
                    FindingKind::ConfigHashMismatch,
                    None,
                    "the stored config does not hash to its config digest",
                ));
            }
            let verified =
                findings.is_empty() && layers.iter().all(|l| l.verified && l.findings.is_empty());
            VerifiedImage {
                store: img.store.clone(),
                source: Some(f.store.place().location()),
                data_root: Some(f.store.place().data_root()),
                image_id: img.id.clone(),
                tags: img.tags(),
                config_verified: img.config_verified,
                layers,
                findings,
                error: None,
                verified,
            }
        })
        .collect()
}

fn layer_key(store: &str, l: &LayerSource) -> LayerKey {
    let unpacked = l
        .unpacked
        .as_ref()
        .map(|u| u.dir.display())
        .unwrap_or_default();
    (store.to_string(), l.chain_id.clone(), unpacked)
}

/// Checks one layer from its best source, writing nothing.
fn check_layer(
    fs: &dyn FileSystem,
    image: &Image,
    l: &LayerSource,
    rebuild: bool,
    bar: &Bar,
) -> LayerReport {
    let failed = |detail: String, kind: FindingKind| {
        let method = if usable_blob(l, rebuild).is_some() {
            Method::Blob
        } else if l.unpacked.as_ref().is_some_and(|u| u.tar_split.is_some()) && !rebuild {
            Method::TarSplit
        } else {
            Method::Rebuilt
        };
        let p = Produced {
            method,
            written: Default::default(),
            verified: false,
            findings: vec![Finding::new(kind, None, detail)],
            teed: false,
        };
        layer_report(l, p, l.unpacked.as_ref().map(|u| u.key.clone()))
    };
    if usable_blob(l, rebuild).is_none() && unpacked_input(fs, l, rebuild).is_none() {
        return failed(
            "neither the blob nor an unpacked copy is there".into(),
            FindingKind::LayerMissing,
        );
    }
    let written = prepare_layer(fs, image, l, rebuild)
        .and_then(|p| write_layer(fs, image, l, p, || Ok(io::sink()), Tee::None, bar));
    match written {
        Ok((_, out)) => out.report,
        Err(e) => failed(e.to_string(), FindingKind::FileUnreadable),
    }
}
