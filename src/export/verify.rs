//! `verify`: every layer of every image hashed against its diff_id without
//! writing anything. A layer shared by several images is checked once;
//! layers are checked in parallel.

use super::progress::Bar;
use super::{ExportOptions, layer_report};
use crate::layer::produce;
use crate::report::{Finding, FindingKind, LayerReport, Method};
use crate::store::StoreError;
use crate::store::docker::{DataRoot, LayerLocation};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::BTreeMap;
use std::io;

/// The verdict on one image.
#[derive(Debug, Clone, Serialize)]
pub struct VerifiedImage {
    pub data_root: String,
    pub image_id: String,
    pub tags: Vec<String>,
    pub config_verified: bool,
    pub layers: Vec<LayerReport>,
    /// Image-level findings.
    pub findings: Vec<Finding>,
    /// Why the image could not be checked at all, if so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub verified: bool,
}

/// Verifies every image of `root`.
pub fn verify_images(
    root: &DataRoot,
    opts: &ExportOptions,
) -> Result<Vec<VerifiedImage>, StoreError> {
    let refs = root.references()?;
    let mut images = Vec::new();
    let mut unique: BTreeMap<String, LayerLocation> = BTreeMap::new();
    for id in root.image_ids()? {
        let located = root
            .load_image(&id, &refs)
            .and_then(|img| root.locate_layers(&img).map(|l| (img, l)));
        match located {
            Ok((img, locs)) => {
                for l in &locs {
                    unique
                        .entry(l.chain_id.clone())
                        .or_insert_with(|| l.clone());
                }
                images.push((id, Ok((img, locs))));
            }
            Err(e) => images.push((id, Err(e.to_string()))),
        }
    }
    let checked: BTreeMap<String, LayerReport> = unique
        .into_par_iter()
        .map(|(chain, loc)| {
            let bar = Bar::start(
                opts.progress.as_ref(),
                &format!("layer {}", &crate::digest::hex_part(&chain)[..12]),
                loc.size,
            );
            let advance = |n: u64| bar.advance(n);
            let input = super::layer_input(root, &loc, opts.rebuild);
            let report = match produce(input, || Ok(io::sink()), None, &advance) {
                Ok((_, p)) => layer_report(&loc, p),
                Err(e) => {
                    let failed = crate::layer::Produced {
                        method: if loc.tar_split.is_some() {
                            Method::TarSplit
                        } else {
                            Method::Rebuilt
                        },
                        written: Default::default(),
                        verified: false,
                        findings: Vec::new(),
                        teed: false,
                    };
                    let mut r = layer_report(&loc, failed);
                    r.findings.push(Finding::new(
                        FindingKind::FileUnreadable,
                        None,
                        e.to_string(),
                    ));
                    r
                }
            };
            bar.finish();
            (chain, report)
        })
        .collect();
    Ok(images
        .into_iter()
        .map(|(id, r)| match r {
            Ok((img, locs)) => {
                let layers: Vec<LayerReport> = locs
                    .iter()
                    .filter_map(|l| checked.get(&l.chain_id).cloned())
                    .map(|mut r| {
                        // The shared check knows the first image's index.
                        r.index = locs
                            .iter()
                            .position(|x| x.chain_id == r.chain_id)
                            .unwrap_or(r.index);
                        r
                    })
                    .collect();
                let mut findings = Vec::new();
                if !img.config_verified {
                    findings.push(Finding::new(
                        FindingKind::ConfigHashMismatch,
                        None,
                        "the stored config does not hash to its name",
                    ));
                }
                let verified = findings.is_empty()
                    && layers.iter().all(|l| l.verified && l.findings.is_empty());
                VerifiedImage {
                    data_root: root.describe(),
                    image_id: id,
                    tags: img.tags,
                    config_verified: img.config_verified,
                    layers,
                    findings,
                    error: None,
                    verified,
                }
            }
            Err(e) => VerifiedImage {
                data_root: root.describe(),
                image_id: id,
                tags: Vec::new(),
                config_verified: false,
                layers: Vec::new(),
                findings: Vec::new(),
                error: Some(e),
                verified: false,
            },
        })
        .collect())
}
