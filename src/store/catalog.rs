//! Every image store found in the evidence, side by side: Docker's own
//! store, containerd roots (every namespace), and containers/storage
//! (Podman, CRI-O). One place to list images, resolve a name, and find
//! containers, whichever store holds them, with the `--store` filter
//! applied here and nowhere else. Each row names its store (`docker`,
//! `containerd/<namespace>`, `podman`).

use super::containerd::ContainerdRoot;
use super::docker::{CONTAINERD_IMAGES, DataRoot};
use super::model::{Container, Image, ImageRow};
use super::podman::PodmanRoot;
use super::{Store, StoreError};
use crate::evidence::Evidence;
use crate::evidence::fs::FsError;

/// The stores of one piece of evidence.
pub struct Catalog {
    stores: Vec<Box<dyn Store>>,
    /// Stores that were found but could not be opened, one line each.
    pub problems: Vec<String>,
}

// A catalog moves between threads (the Python bindings use it with the
// interpreter's lock released): a store that is not `Send` fails here.
const _: () = {
    const fn is_send<T: Send>() {}
    is_send::<Catalog>()
};

/// An image found by name, with the store that holds it.
pub struct Found<'a> {
    /// The store the image is in; pass it to the exporters.
    pub store: &'a dyn Store,
    /// The image, with its layers located.
    pub image: Image,
}

/// An image loaded for `--all`, or what it is and why it could not be.
pub type Loaded<'a> = Result<Found<'a>, (String, StoreError)>;

/// A container found by name, with the store that holds it.
pub struct FoundContainer<'a> {
    /// The store the container is in.
    pub store: &'a dyn Store,
    /// The container as its engine recorded it.
    pub container: Container,
}

/// Which stores a command looks at: all, or those whose label is
/// `filter` or starts with `filter/` (`--store containerd` takes every
/// namespace).
#[derive(Debug, Clone, Copy, Default)]
pub struct StoreFilter<'a>(pub Option<&'a str>);

impl StoreFilter<'_> {
    /// Whether the store (or image/container) labelled `label`
    /// (`docker`, `containerd/k8s.io`, `podman`) is looked at.
    pub fn accepts(&self, label: &str) -> bool {
        self.0.is_none_or(|s| {
            label == s
                || label
                    .strip_prefix(s)
                    .is_some_and(|rest| rest.starts_with('/'))
        })
    }
}

impl Catalog {
    /// Finds every store. `docker_root` names the Docker data root and
    /// limits the search to it. Finding nothing at all is an error.
    pub fn discover(ev: &Evidence, docker_root: Option<&str>) -> Result<Catalog, StoreError> {
        let mut cat = Catalog {
            stores: Vec::new(),
            problems: Vec::new(),
        };
        match DataRoot::discover(ev, docker_root) {
            Ok(roots) => cat
                .stores
                .extend(roots.into_iter().map(|r| Box::new(r) as Box<dyn Store>)),
            Err(StoreError::NoDataRoot { .. }) => {}
            // Other stores may still be readable: say it, go on.
            Err(e @ StoreError::Fs(FsError::PermissionDenied { .. })) => {
                cat.problems.push(format!("docker: {e}"))
            }
            Err(e) => return Err(e),
        }
        // A named data root with the containerd image store has its
        // images and layers in containerd: read that too.
        let containerd_images = cat
            .stores
            .iter()
            .any(|s| s.place().what == CONTAINERD_IMAGES);
        if docker_root.is_none() || containerd_images {
            match ContainerdRoot::discover(ev, None) {
                Ok(roots) => {
                    for r in roots {
                        match r.open() {
                            Ok(s) => {
                                if r.databases_only() {
                                    cat.problems.push(format!(
                                        "containerd root {}: only the databases were acquired ({}): no content blobs and no snapshot directories; images and containers are listed as the databases record them",
                                        r.describe(),
                                        r.meta_path()
                                    ));
                                }
                                cat.stores.push(Box::new(s))
                            }
                            Err(e) => cat
                                .problems
                                .push(format!("containerd root {}: {e}", r.describe())),
                        }
                    }
                }
                Err(e) => cat.problems.push(format!("containerd: {e}")),
            }
        }
        if docker_root.is_none() {
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
                                cat.stores.push(Box::new(s));
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
        if cat.stores.is_empty() {
            if let Some(p) = cat.problems.first() {
                return Err(StoreError::Unreadable {
                    place: ev.source.clone(),
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

    /// Every store found.
    pub fn stores(&self) -> impl Iterator<Item = &dyn Store> {
        self.stores.iter().map(|s| &**s)
    }

    /// The labels of every store found (`docker`, `containerd/k8s.io`,
    /// `podman`, ...), for validating a `--store` filter.
    pub fn labels(&self) -> std::collections::BTreeSet<String> {
        let mut labels = std::collections::BTreeSet::new();
        for s in self.stores() {
            labels.extend(s.labels());
        }
        labels
    }

    /// Each store's place and why it was taken, for the examiner.
    pub fn describe(&self) -> Vec<String> {
        self.stores()
            .map(|s| {
                let what = match s.kind() {
                    "docker" => "docker data root",
                    "containerd" => "containerd root",
                    _ => "containers/storage root",
                };
                let place = s.place();
                format!("{what}: {} — {}", place.describe(), place.reason)
            })
            .collect()
    }

    /// Every image of every store `filter` accepts.
    pub fn images(&self, filter: StoreFilter<'_>) -> Result<Vec<ImageRow>, StoreError> {
        let mut rows = Vec::new();
        for s in self.stores() {
            rows.extend(s.images()?.into_iter().filter(|r| filter.accepts(&r.store)));
        }
        Ok(rows)
    }

    /// Every image of every store `filter` accepts, each loaded with its
    /// layers located; one that cannot be is an error naming it.
    pub fn all_images(&self, filter: StoreFilter<'_>) -> Result<Vec<Loaded<'_>>, StoreError> {
        let mut all = Vec::new();
        for s in self.stores() {
            for (label, id) in s.image_ids()? {
                if !filter.accepts(&label) {
                    continue;
                }
                all.push(match s.image(&label, &id) {
                    Ok(image) => Ok(Found { store: s, image }),
                    Err(e) => Err((format!("{id} in {label}"), e)),
                });
            }
        }
        Ok(all)
    }

    /// Resolves a name, id or id prefix across every store `filter`
    /// accepts. A name found in several stores is ambiguous.
    pub fn resolve(&self, name: &str, filter: StoreFilter<'_>) -> Result<Found<'_>, StoreError> {
        let wanted = |label: &str| filter.accepts(label);
        let mut hits: Vec<Found<'_>> = Vec::new();
        let mut invalid = None;
        for s in self.stores() {
            match s.resolve(name, &wanted) {
                Ok(images) => {
                    hits.extend(images.into_iter().map(|image| Found { store: s, image }))
                }
                Err(e @ StoreError::InvalidReference { .. }) => {
                    invalid.get_or_insert(e);
                }
                Err(e) => return Err(e),
            }
        }
        match hits.len() {
            1 => Ok(hits.remove(0)),
            0 => Err(invalid.unwrap_or_else(|| {
                let mut candidates: Vec<String> = self.stores().flat_map(|s| s.names()).collect();
                candidates.truncate(20);
                StoreError::UnknownImage {
                    reference: name.to_string(),
                    candidates,
                }
            })),
            _ => Err(StoreError::AmbiguousImage {
                reference: name.to_string(),
                candidates: hits
                    .iter()
                    .map(|h| format!("{} in {}", h.image.short_id(), h.image.store))
                    .collect(),
            }),
        }
    }

    /// Every container of every store `filter` accepts. A container
    /// whose layers are another store's snapshot (Docker with the
    /// containerd image store) gets them from that store
    /// on the same volume; the containerd record of such a
    /// container is then the same container and is not listed twice.
    pub fn containers(
        &self,
        filter: StoreFilter<'_>,
    ) -> Vec<(&dyn Store, Result<Container, StoreError>)> {
        let mut all: Vec<(usize, Result<Container, StoreError>)> = Vec::new();
        for (i, s) in self.stores.iter().enumerate() {
            all.extend(s.containers().into_iter().map(|c| (i, c)));
        }
        // (store index, namespace label, id) of containerd records that
        // are a linked container's own.
        let mut linked: Vec<(usize, String, String)> = Vec::new();
        for (i, c) in &mut all {
            if let Ok(c) = c
                && let Some(at) = self.link_snapshot(*i, c)
            {
                linked.push(at);
            }
        }
        let mut out = Vec::new();
        let mut twins: Vec<(usize, String, String, String)> = Vec::new();
        for (i, c) in all {
            if let Ok(c) = &c
                && linked
                    .iter()
                    .any(|(j, label, id)| *j == i && *label == c.store && *id == c.id)
            {
                twins.push((i, c.store.clone(), c.id.clone(), c.state.clone()));
                continue;
            }
            out.push((i, c));
        }
        for (_, c) in &mut out {
            if let Ok(c) = c
                && let Some(snap) = &c.layers.snapshot
                && let Some((_, _, _, state)) = twins.iter().find(|(_, label, id, _)| {
                    *id == snap.key && *label == format!("containerd/{}", snap.namespace)
                })
                && state == "running"
                && c.state != "running"
            {
                c.problems.push(format!(
                    "its engine recorded it {}, but containerd still had a task for it: running at seizure",
                    c.state
                ));
                c.state = "running".into();
            }
        }
        out.into_iter()
            .filter(|(_, c)| !c.as_ref().is_ok_and(|c| !filter.accepts(&c.store)))
            .map(|(i, c)| (&*self.stores[i], c))
            .collect()
    }

    /// Fills the layers of container `c` of store `owner` from the store
    /// that holds the snapshot it names, on the same volume: the
    /// containerd root Docker manages inside its data root
    /// (`<data-root>/containerd/daemon`) first, then the others (the
    /// system one). Returns the linked store, namespace label and snapshot
    /// key; when no store has it, says why in `unresolved` and `problems`.
    fn link_snapshot(&self, owner: usize, c: &mut Container) -> Option<(usize, String, String)> {
        let snap = c.layers.snapshot.clone()?;
        if c.layers.upper.is_some() {
            return None;
        }
        let home = self.stores[owner].place();
        let managed = home.path.join("containerd/daemon");
        let mut order: Vec<usize> = (0..self.stores.len())
            .filter(|&j| j != owner)
            .filter(|&j| self.stores[j].place().volume.label == home.volume.label)
            .collect();
        order.sort_by_key(|&j| Some(self.stores[j].place().path) != managed);
        let mut first_err = None;
        for j in order {
            match self.stores[j].snapshot_layers(&snap) {
                Some(Ok(l)) => {
                    if !self.stores[j].fs().exists(&l.upper) {
                        c.problems.push(format!(
                            "snapshot {} ({}, namespace {}): its directory {} is missing",
                            snap.key, snap.snapshotter, snap.namespace, l.upper
                        ));
                    }
                    c.layers.upper = Some(l.upper);
                    c.layers.lowers = l.lowers;
                    c.layers.unresolved = None;
                    return Some((j, format!("containerd/{}", snap.namespace), snap.key));
                }
                Some(Err(e)) => {
                    first_err.get_or_insert(e.to_string());
                }
                None => {}
            }
        }
        let why = first_err.unwrap_or_else(|| {
            format!(
                "its driver {} names no store here: no containerd root on {} keeps snapshots of snapshotter {} in namespace {}",
                snap.snapshotter, home.volume.label, snap.snapshotter, snap.namespace
            )
        });
        c.layers.unresolved = Some(why.clone());
        c.problems.push(why);
        None
    }

    /// Finds a container by full id, name (with or without the leading
    /// `/`), or unique id prefix, as `docker` does, in every store
    /// `filter` accepts.
    pub fn find_container(
        &self,
        input: &str,
        filter: StoreFilter<'_>,
    ) -> Result<FoundContainer<'_>, StoreError> {
        let all: Vec<(&dyn Store, Container)> = self
            .containers(filter)
            .into_iter()
            .filter_map(|(s, c)| c.ok().map(|c| (s, c)))
            .collect();
        let name = input.trim_start_matches('/');
        let exact: Vec<_> = all.iter().filter(|(_, c)| c.id == input).collect();
        if let Some(r) = pick(input, exact) {
            return r;
        }
        let named: Vec<_> = all.iter().filter(|(_, c)| c.name == name).collect();
        if let Some(r) = pick(input, named) {
            return r;
        }
        let prefixed: Vec<_> = all
            .iter()
            .filter(|(_, c)| !input.is_empty() && c.id.starts_with(input))
            .collect();
        if let Some(r) = pick(input, prefixed) {
            return r;
        }
        Err(StoreError::UnknownContainer {
            reference: input.to_string(),
            candidates: all.iter().map(|(_, c)| c.name.clone()).take(20).collect(),
        })
    }
}

/// One container, several, or none among `hits`.
fn pick<'a>(
    input: &str,
    hits: Vec<&(&'a dyn Store, Container)>,
) -> Option<Result<FoundContainer<'a>, StoreError>> {
    match hits.as_slice() {
        [] => None,
        [(store, container)] => Some(Ok(FoundContainer {
            store: *store,
            container: container.clone(),
        })),
        _ => Some(Err(StoreError::AmbiguousContainer {
            reference: input.to_string(),
            candidates: hits
                .iter()
                .map(|(_, c)| format!("{} in {}", c.id, c.store))
                .collect(),
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::Volume;
    use crate::evidence::fs::{EvPath, FileSystem, MemFs, MemNode};
    use crate::store::StorePlace;
    use crate::store::model::{ContainerLayers, SnapshotLayers, SnapshotRef};
    use std::sync::Arc;

    /// A store of fixed containers; `snapshots` says whether it keeps
    /// snapshots (and has the one asked for).
    struct Fake {
        kind: &'static str,
        path: &'static str,
        containers: Vec<Container>,
        snapshots: Option<bool>,
        volume: Volume,
    }

    impl Store for Fake {
        fn kind(&self) -> &'static str {
            self.kind
        }
        fn place(&self) -> StorePlace {
            StorePlace {
                volume: self.volume.clone(),
                path: EvPath::parse(self.path).unwrap_or_default(),
                what: self.kind.into(),
                reason: "test".into(),
            }
        }
        fn fs(&self) -> &dyn FileSystem {
            &*self.volume.fs
        }
        fn images(&self) -> Result<Vec<ImageRow>, StoreError> {
            Ok(Vec::new())
        }
        fn image_ids(&self) -> Result<Vec<(String, String)>, StoreError> {
            Ok(Vec::new())
        }
        fn image(&self, _: &str, id: &str) -> Result<Image, StoreError> {
            Err(StoreError::UnknownImage {
                reference: id.into(),
                candidates: Vec::new(),
            })
        }
        fn resolve(&self, _: &str, _: &dyn Fn(&str) -> bool) -> Result<Vec<Image>, StoreError> {
            Ok(Vec::new())
        }
        fn names(&self) -> Vec<String> {
            Vec::new()
        }
        fn containers(&self) -> Vec<Result<Container, StoreError>> {
            self.containers.iter().cloned().map(Ok).collect()
        }
        fn snapshot_layers(
            &self,
            snap: &SnapshotRef,
        ) -> Option<Result<SnapshotLayers, StoreError>> {
            match self.snapshots? {
                true => Some(Ok(SnapshotLayers {
                    upper: EvPath::parse(format!("snap/{}", snap.key)).unwrap_or_default(),
                    lowers: vec![EvPath::parse("snap/init").unwrap_or_default()],
                })),
                false => Some(Err(StoreError::Snapshot {
                    key: snap.key.clone(),
                    snapshotter: snap.snapshotter.clone(),
                    namespace: snap.namespace.clone(),
                    detail: "not here".into(),
                })),
            }
        }
    }

    fn docker_container(id: &str, state: &str) -> Container {
        Container {
            id: id.into(),
            name: format!("c-{id}"),
            store: "docker".into(),
            state: state.into(),
            layers: ContainerLayers {
                snapshot: Some(SnapshotRef {
                    snapshotter: "overlayfs".into(),
                    namespace: "moby".into(),
                    key: id.into(),
                }),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn catalog(containerd: Option<bool>, twin_state: &str) -> Catalog {
        let mut fs = MemFs::new();
        fs.add("snap/a", MemNode::dir())
            .add("snap/init", MemNode::dir());
        let volume = Volume {
            label: "directory".into(),
            spec: Default::default(),
            fs: Arc::new(fs),
        };
        let mut stores: Vec<Box<dyn Store>> = vec![Box::new(Fake {
            kind: "docker",
            path: "var/lib/docker",
            containers: vec![
                docker_container("a", "exited"),
                docker_container("b", "exited"),
            ],
            snapshots: None,
            volume: volume.clone(),
        })];
        if let Some(has) = containerd {
            stores.push(Box::new(Fake {
                kind: "containerd",
                path: "var/lib/containerd",
                containers: vec![Container {
                    id: "a".into(),
                    name: "a".into(),
                    store: "containerd/moby".into(),
                    state: twin_state.into(),
                    ..Default::default()
                }],
                snapshots: Some(has),
                volume,
            }));
        }
        Catalog {
            stores,
            problems: Vec::new(),
        }
    }

    #[test]
    fn links_snapshots_and_lists_a_twin_once() {
        let cat = catalog(Some(true), "running");
        let all: Vec<Container> = cat
            .containers(StoreFilter::default())
            .into_iter()
            .filter_map(|(_, c)| c.ok())
            .collect();
        assert_eq!(all.len(), 2, "{all:?}");
        let a = all.iter().find(|c| c.id == "a").unwrap();
        assert_eq!(a.store, "docker");
        assert_eq!(a.layers.upper, EvPath::parse("snap/a"));
        assert_eq!(a.layers.lowers.len(), 1);
        // containerd still had its task: running at seizure.
        assert_eq!(a.state, "running");
        assert_eq!(a.problems.len(), 1, "{:?}", a.problems);
        // Its snapshot is recorded, its directory is gone.
        let b = all.iter().find(|c| c.id == "b").unwrap();
        assert_eq!(b.state, "exited");
        assert_eq!(b.layers.upper, EvPath::parse("snap/b"));
        assert_eq!(b.problems.len(), 1, "{:?}", b.problems);
        assert!(b.problems[0].contains("snap/b"), "{:?}", b.problems);
    }

    #[test]
    fn a_snapshot_nobody_has_is_one_problem() {
        for containerd in [None, Some(false)] {
            let cat = catalog(containerd, "created");
            for (_, c) in cat.containers(StoreFilter(Some("docker"))) {
                let c = c.unwrap();
                assert!(c.layers.upper.is_none());
                assert_eq!(c.problems.len(), 1, "{:?}", c.problems);
                assert_eq!(c.layers.unresolved.as_ref(), c.problems.first());
            }
        }
    }
}
