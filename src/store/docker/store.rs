//! Docker's data root as a [`Store`]. A data root with the containerd
//! image store lists no images of its own: they are containerd's, in
//! namespace `moby`.

use super::DataRoot;
use super::images::known_names;
use crate::evidence::fs::FileSystem;
use crate::store::model::{Container, Image, ImageRow};
use crate::store::{Store, StoreError, StorePlace};

const LABEL: &str = "docker";

impl Store for DataRoot {
    fn kind(&self) -> &'static str {
        LABEL
    }

    fn place(&self) -> StorePlace {
        DataRoot::place(self)
    }

    fn fs(&self) -> &dyn FileSystem {
        DataRoot::fs(self)
    }

    fn images(&self) -> Result<Vec<ImageRow>, StoreError> {
        if self.images_in_containerd() {
            return Ok(Vec::new());
        }
        let place = DataRoot::place(self).data_root();
        let source = DataRoot::place(self).location();
        Ok(self
            .list_images()?
            .into_iter()
            .map(|i| ImageRow {
                store: LABEL.into(),
                data_root: place.clone(),
                source: source.clone(),
                config_digest: i.id.clone(),
                id: i.id,
                tags: i.tags,
                digests: i.digests,
                created: i.created,
                layers: i.layers,
                layers_known: i.error.is_none(),
                target_digest: None,
                target_media_type: None,
                size: i.size,
                kind: Some(i.kind),
                manifest_digest: None,
                unpacked: None,
                config_verified: i.config_verified,
                error: i.error,
            })
            .collect())
    }

    fn image_ids(&self) -> Result<Vec<(String, String)>, StoreError> {
        if self.images_in_containerd() {
            return Ok(Vec::new());
        }
        Ok(DataRoot::image_ids(self)?
            .into_iter()
            .map(|id| (LABEL.to_string(), id))
            .collect())
    }

    fn image(&self, _label: &str, id: &str) -> Result<Image, StoreError> {
        self.load_located(id, &*self.references()?)
    }

    fn resolve(&self, name: &str, wanted: &dyn Fn(&str) -> bool) -> Result<Vec<Image>, StoreError> {
        if !wanted(LABEL) || self.images_in_containerd() {
            return Ok(Vec::new());
        }
        match DataRoot::resolve(self, name) {
            Ok(image) => Ok(vec![image]),
            Err(StoreError::UnknownImage { .. }) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    fn names(&self) -> Vec<String> {
        if self.images_in_containerd() {
            return Vec::new();
        }
        match (self.references(), DataRoot::image_ids(self)) {
            (Ok(refs), Ok(ids)) => known_names(&refs, &ids),
            _ => Vec::new(),
        }
    }

    /// The containers this driver's part of the data root reads: those
    /// whose `Driver` is this driver; a container naming no driver in
    /// use here (and one that cannot be read) goes to the first, so that
    /// each is listed once.
    fn containers(&self) -> Vec<Result<Container, StoreError>> {
        let first = self.peers.first().is_none_or(|p| *p == self.driver);
        let mine = |c: &Container| match c.driver.as_deref().filter(|d| !d.is_empty()) {
            Some(d) if self.peers.iter().any(|p| p == d) => d == self.driver,
            _ => first,
        };
        match self.container_ids() {
            Ok(ids) => ids
                .iter()
                .map(|id| {
                    self.load_container(id)
                        .map_err(|e| StoreError::BadContainer {
                            container: id.clone(),
                            detail: e.to_string(),
                        })
                })
                .filter(|c| match c {
                    Ok(c) => mine(c),
                    Err(_) => first,
                })
                .collect(),
            Err(e) if first => vec![Err(e)],
            Err(_) => Vec::new(),
        }
    }
}
