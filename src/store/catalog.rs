//! Every image store found in the evidence, side by side: Docker's own
//! store, containerd roots (every namespace), and containers/storage
//! (Podman, CRI-O). One place to list images, resolve a name, and list
//! containers, whichever store holds them; each row names its store
//! (`docker`, `containerd/<namespace>`, `podman`).

use super::StoreError;
use super::containerd::shape::{ImageContent, StoreContainer, StoreImage};
use super::containerd::{ContainerdError, ContainerdRoot, ContainerdStore};
use super::docker::{DataRoot, ImageKind};
use super::model::Image;
use super::podman::{PodmanError, PodmanRoot, PodmanStore};
use crate::evidence::Evidence;
use crate::evidence::fs::FileSystem;
use serde::Serialize;

/// The stores of one piece of evidence.
pub struct Catalog {
    pub docker: Vec<DataRoot>,
    pub containerd: Vec<ContainerdStore>,
    pub podman: Vec<PodmanStore>,
    /// Stores that were found but could not be opened, one line each.
    pub problems: Vec<String>,
}

/// One row of `images`, whatever the store.
#[derive(Debug, Clone, Serialize)]
pub struct ImageRow {
    /// `docker`, `containerd/<namespace>` or `podman`.
    pub store: String,
    /// Where the store is (volume, path).
    pub data_root: String,
    pub id: String,
    pub tags: Vec<String>,
    pub digests: Vec<String>,
    pub created: Option<String>,
    pub layers: usize,
    pub size: Option<u64>,
    /// Docker: tagged, intermediate or dangling.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<ImageKind>,
    /// containerd/podman: the manifest the name points at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest_digest: Option<String>,
    /// containerd/podman: every layer is unpacked on disk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unpacked: Option<bool>,
    pub config_verified: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// An image found by name.
pub enum Found<'a> {
    Docker(&'a DataRoot, Image),
    Other {
        store: String,
        data_root: String,
        fs: &'a dyn FileSystem,
        content: ImageContent,
    },
}

impl Found<'_> {
    pub fn id(&self) -> &str {
        match self {
            Found::Docker(_, i) => &i.id,
            Found::Other { content, .. } => &content.id,
        }
    }
    pub fn store(&self) -> String {
        match self {
            Found::Docker(..) => "docker".into(),
            Found::Other { store, .. } => store.clone(),
        }
    }
}

/// A container found in a non-Docker store, with where its files are.
pub struct OtherContainer<'a> {
    pub data_root: String,
    pub fs: &'a dyn FileSystem,
    pub container: StoreContainer,
}

impl Catalog {
    /// Finds every store. `docker_root` (from `--docker-root`) names the
    /// Docker data root and limits the search to it. Finding nothing at
    /// all is an error.
    pub fn discover(ev: &Evidence, docker_root: Option<&str>) -> Result<Catalog, StoreError> {
        let docker = match DataRoot::discover(ev, docker_root) {
            Ok(r) => r,
            Err(StoreError::NoDataRoot { .. }) => Vec::new(),
            Err(e) => return Err(e),
        };
        let mut cat = Catalog {
            docker,
            containerd: Vec::new(),
            podman: Vec::new(),
            problems: Vec::new(),
        };
        if docker_root.is_none() {
            match ContainerdRoot::discover(ev, None) {
                Ok(roots) => {
                    for r in roots {
                        match r.open() {
                            Ok(s) => cat.containerd.push(s),
                            Err(e) => cat
                                .problems
                                .push(format!("containerd root {}: {e}", r.describe())),
                        }
                    }
                }
                Err(e) => cat.problems.push(format!("containerd: {e}")),
            }
            match PodmanRoot::discover(ev, None) {
                Ok(roots) => {
                    for r in roots {
                        match r.open() {
                            Ok(s) => {
                                let place = r.describe();
                                if let Some(e) = s.libpod_error() {
                                    cat.problems.push(format!(
                                        "containers/storage root {place}: libpod state unreadable: {e}"
                                    ));
                                }
                                cat.problems.extend(
                                    s.libpod_findings()
                                        .iter()
                                        .map(|f| format!("containers/storage root {place}: {f}")),
                                );
                                cat.podman.push(s);
                            }
                            Err(e) => cat
                                .problems
                                .push(format!("containers/storage root {}: {e}", r.describe())),
                        }
                    }
                }
                Err(e) => cat.problems.push(format!("containers/storage: {e}")),
            }
        }
        if cat.docker.is_empty() && cat.containerd.is_empty() && cat.podman.is_empty() {
            if let Some(p) = cat.problems.first() {
                return Err(StoreError::BadImage {
                    image: ev.source.clone(),
                    detail: p.clone(),
                });
            }
            return Err(StoreError::NoDataRoot {
                evidence: ev.source.clone(),
                looked: "the Docker, containerd and Podman locations".into(),
            });
        }
        Ok(cat)
    }

    /// Each store's place and why it was taken, for the examiner.
    pub fn describe(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .docker
            .iter()
            .map(|r| format!("docker data root: {} — {}", r.describe(), r.reason))
            .collect();
        v.extend(self.containerd.iter().map(|s| {
            format!(
                "containerd root: {} — {}",
                s.root().describe(),
                s.root().reason
            )
        }));
        v.extend(self.podman.iter().map(|s| {
            format!(
                "containers/storage root: {} — {}",
                s.root().describe(),
                s.root().reason
            )
        }));
        v
    }

    /// Every image of every store.
    pub fn images(&self) -> Result<Vec<ImageRow>, StoreError> {
        let mut rows = Vec::new();
        for root in &self.docker {
            for i in root.list_images()? {
                rows.push(ImageRow {
                    store: "docker".into(),
                    data_root: root.describe(),
                    id: i.id,
                    tags: i.tags,
                    digests: i.digests,
                    created: i.created,
                    layers: i.layers,
                    size: i.size,
                    kind: Some(i.kind),
                    manifest_digest: None,
                    unpacked: None,
                    config_verified: i.config_verified,
                    error: i.error,
                });
            }
        }
        let other = |s: StoreImage, data_root: String| ImageRow {
            config_verified: s.error.is_none(),
            store: s.store,
            data_root,
            id: s.id,
            // CRI records the image id as one more name; it is the id.
            tags: s
                .names
                .into_iter()
                .filter(|n| !n.starts_with("sha256:"))
                .collect(),
            digests: Vec::new(),
            created: s.created,
            layers: s.layers,
            size: None,
            kind: None,
            manifest_digest: s.manifest_digest,
            unpacked: Some(s.unpacked),
            error: s.error,
        };
        for s in &self.containerd {
            let images = s.images().map_err(|e| other_err(&s.root().describe(), e))?;
            rows.extend(images.into_iter().map(|i| other(i, s.root().describe())));
        }
        for s in &self.podman {
            rows.extend(
                s.images()
                    .into_iter()
                    .map(|i| other(i, s.root().describe())),
            );
        }
        Ok(rows)
    }

    /// Resolves a name, id or id prefix across every store; `store`
    /// (`--store`) limits the search to the stores whose label starts
    /// with it. A name found in several stores is ambiguous.
    pub fn resolve(&self, name: &str, store: Option<&str>) -> Result<Found<'_>, StoreError> {
        let wanted =
            |label: &str| store.is_none_or(|s| label == s || label.starts_with(&format!("{s}/")));
        let mut hits: Vec<Found<'_>> = Vec::new();
        let mut unknown: Option<StoreError> = None;
        if wanted("docker") {
            for root in &self.docker {
                match root.resolve(name) {
                    Ok(img) => hits.push(Found::Docker(root, img)),
                    Err(
                        e @ (StoreError::UnknownImage { .. } | StoreError::InvalidReference { .. }),
                    ) => {
                        unknown.get_or_insert(e);
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        for s in &self.containerd {
            let namespaces = s
                .namespaces()
                .map_err(|e| other_err(&s.root().describe(), e))?;
            for ns in namespaces {
                let label = format!("containerd/{ns}");
                if !wanted(&label) {
                    continue;
                }
                match s.image(&ns, name) {
                    Ok(content) => hits.push(Found::Other {
                        store: label,
                        data_root: s.root().describe(),
                        fs: s.root().fs(),
                        content,
                    }),
                    Err(ContainerdError::UnknownImage { .. }) => {}
                    Err(e) => return Err(other_err(&s.root().describe(), e)),
                }
            }
        }
        if wanted("podman") {
            for s in &self.podman {
                match s.image(name) {
                    Ok(content) => hits.push(Found::Other {
                        store: "podman".into(),
                        data_root: s.root().describe(),
                        fs: s.root().fs(),
                        content,
                    }),
                    Err(PodmanError::UnknownImage { .. }) => {}
                    Err(PodmanError::AmbiguousImage {
                        reference,
                        candidates,
                    }) => {
                        return Err(StoreError::AmbiguousImage {
                            reference,
                            candidates,
                        });
                    }
                    Err(e) => return Err(other_err(&s.root().describe(), e)),
                }
            }
        }
        match hits.len() {
            1 => Ok(hits.remove(0)),
            0 => Err(match unknown {
                Some(StoreError::UnknownImage {
                    reference,
                    mut candidates,
                }) => {
                    candidates.extend(self.other_names());
                    candidates.truncate(20);
                    StoreError::UnknownImage {
                        reference,
                        candidates,
                    }
                }
                Some(e) => e,
                None => StoreError::UnknownImage {
                    reference: name.to_string(),
                    candidates: self.other_names(),
                },
            }),
            _ => Err(StoreError::AmbiguousImage {
                reference: name.to_string(),
                candidates: hits
                    .iter()
                    .map(|h| {
                        format!(
                            "{} in {}",
                            &crate::digest::hex_part(h.id())[..12],
                            h.store()
                        )
                    })
                    .chain(std::iter::once(
                        "choose one with --store (or --docker-root)".to_string(),
                    ))
                    .collect(),
            }),
        }
    }

    fn other_names(&self) -> Vec<String> {
        let mut v = Vec::new();
        for s in &self.containerd {
            if let Ok(images) = s.images() {
                v.extend(images.into_iter().flat_map(|i| i.names));
            }
        }
        for s in &self.podman {
            v.extend(s.images().into_iter().flat_map(|i| i.names));
        }
        v.truncate(20);
        v
    }

    /// Containers of the containerd and containers/storage stores.
    pub fn other_containers(&self) -> Vec<OtherContainer<'_>> {
        let mut v = Vec::new();
        for s in &self.containerd {
            for c in s.containers().unwrap_or_default() {
                v.push(OtherContainer {
                    data_root: s.root().describe(),
                    fs: s.root().fs(),
                    container: c,
                });
            }
        }
        for s in &self.podman {
            for c in s.containers() {
                v.push(OtherContainer {
                    data_root: s.root().describe(),
                    fs: s.root().fs(),
                    container: c,
                });
            }
        }
        v
    }
}

fn other_err(place: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::BadImage {
        image: place.to_string(),
        detail: e.to_string(),
    }
}

impl OtherContainer<'_> {
    /// The container in the shared model, for listings.
    pub fn to_model(&self) -> super::model::Container {
        let c = &self.container;
        super::model::Container {
            id: c.id.clone(),
            name: c.name.clone().unwrap_or_else(|| c.id.clone()),
            store: c.store.clone(),
            image_id: c.image_id.clone().unwrap_or_default(),
            image_ref: c.image.clone(),
            state: c.state.clone().unwrap_or_else(|| "unknown".into()),
            exit_code: c.exit_code,
            created: c.created.clone(),
            started: c.started.clone(),
            finished: c.finished.clone(),
            path: c.path.clone(),
            args: c.args.clone().unwrap_or_default(),
            entrypoint: c.entrypoint.clone(),
            cmd: c.command.clone(),
            user: c.user.clone(),
            working_dir: c.working_dir.clone(),
            env: c.env.clone().unwrap_or_default(),
            labels: c.labels.clone(),
            mounts: c.mounts.clone().unwrap_or_default(),
            // The shared model has no "not recorded": only a recorded
            // `true` shows as privileged.
            privileged: c.privileged == Some(true),
            cap_add: c.cap_add.clone().unwrap_or_default(),
            log_path: c.log.as_ref().map(|l| l.display()),
            ..Default::default()
        }
    }

    /// Matches a full id, a unique id prefix (checked by the caller) or
    /// a name.
    pub fn matches(&self, input: &str) -> bool {
        let c = &self.container;
        c.id == input || c.name.as_deref() == Some(input.trim_start_matches('/'))
    }
}
