//! A containers/storage graph root as a [`Store`] (label `podman`).

use super::{PodmanError, PodmanStore};
use crate::evidence::fs::FileSystem;
use crate::store::model::{Container, Image, ImageRow, PODMAN_RUNTIME_PATHS};
use crate::store::{Store, StoreError, StorePlace};

const LABEL: &str = "podman";

impl Store for PodmanStore {
    fn kind(&self) -> &'static str {
        LABEL
    }

    fn place(&self) -> StorePlace {
        self.root().place()
    }

    fn fs(&self) -> &dyn FileSystem {
        self.root().fs()
    }

    fn images(&self) -> Result<Vec<ImageRow>, StoreError> {
        let place = self.root().place();
        Ok(PodmanStore::images(self)
            .into_iter()
            .map(|r| r.into_row(place.data_root(), place.location()))
            .collect())
    }

    fn image_ids(&self) -> Result<Vec<(String, String)>, StoreError> {
        Ok(PodmanStore::images(self)
            .into_iter()
            .map(|r| (r.store, r.id))
            .collect())
    }

    fn image(&self, _label: &str, id: &str) -> Result<Image, StoreError> {
        PodmanStore::image(self, id).map_err(|e| self.err(e))
    }

    fn resolve(&self, name: &str, wanted: &dyn Fn(&str) -> bool) -> Result<Vec<Image>, StoreError> {
        if !wanted(LABEL) {
            return Ok(Vec::new());
        }
        match PodmanStore::image(self, name) {
            Ok(image) => Ok(vec![image]),
            Err(PodmanError::UnknownImage { .. }) => Ok(Vec::new()),
            Err(PodmanError::AmbiguousImage {
                reference,
                candidates,
            }) => Err(StoreError::AmbiguousImage {
                reference,
                candidates,
            }),
            Err(e) => Err(self.err(e)),
        }
    }

    fn names(&self) -> Vec<String> {
        PodmanStore::images(self)
            .into_iter()
            .flat_map(|r| r.names)
            .collect()
    }

    fn containers(&self) -> Vec<Result<Container, StoreError>> {
        PodmanStore::containers(self)
            .into_iter()
            .map(|c| {
                let mut c = c.into_container();
                c.layers.runtime_paths = PODMAN_RUNTIME_PATHS;
                Ok(c)
            })
            .collect()
    }
}

impl PodmanStore {
    fn err(&self, e: PodmanError) -> StoreError {
        StoreError::Unreadable {
            place: self.root().describe(),
            detail: e.to_string(),
        }
    }
}
