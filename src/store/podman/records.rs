//! The JSON record files of containers/storage, as written by its image,
//! layer and container stores (containers/storage `images.go`,
//! `layers.go`, `containers.go`; field names are the `json:` tags there):
//! - `<driver>-images/images.json`: `[Image]`;
//! - `<driver>-layers/layers.json`: `[Layer]` (plus, with newer versions,
//!   `volatile-layers.json` beside it in the run root, which is not on
//!   disk after a reboot);
//! - `<driver>-containers/containers.json`: `[Container]`.
//!
//! Unknown fields are ignored; every field but `id` may be missing.

use serde::Deserialize;
use std::collections::BTreeMap;

/// One entry of `images.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct ImageRecord {
    pub id: String,
    /// Digest of the manifest it was pulled or committed with.
    #[serde(default)]
    pub digest: Option<String>,
    /// Every manifest digest known for it.
    #[serde(default)]
    pub digests: Vec<String>,
    #[serde(default)]
    pub names: Vec<String>,
    #[serde(default, rename = "names-history")]
    pub names_history: Vec<String>,
    /// The top layer's id.
    #[serde(default)]
    pub layer: Option<String>,
    /// Free-form metadata string (JSON for Podman).
    #[serde(default)]
    pub metadata: Option<String>,
    #[serde(default, rename = "big-data-names")]
    pub big_data_names: Vec<String>,
    #[serde(default, rename = "big-data-sizes")]
    pub big_data_sizes: BTreeMap<String, i64>,
    #[serde(default, rename = "big-data-digests")]
    pub big_data_digests: BTreeMap<String, String>,
    #[serde(default)]
    pub created: Option<String>,
}

/// One entry of `layers.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct LayerRecord {
    pub id: String,
    #[serde(default)]
    pub names: Vec<String>,
    #[serde(default)]
    pub parent: Option<String>,
    #[serde(default)]
    pub metadata: Option<String>,
    #[serde(default)]
    pub created: Option<String>,
    /// Digest of the layer as it was supplied (compressed or not).
    #[serde(default, rename = "compressed-diff-digest")]
    pub compressed_diff_digest: Option<String>,
    #[serde(default, rename = "compressed-size")]
    pub compressed_size: Option<i64>,
    /// Digest of the uncompressed tar (the diff_id).
    #[serde(default, rename = "diff-digest")]
    pub diff_digest: Option<String>,
    /// Size of the uncompressed tar.
    #[serde(default, rename = "diff-size")]
    pub diff_size: Option<i64>,
    /// Compression the layer was supplied with (0 none, 2 gzip, ...).
    #[serde(default)]
    pub compression: Option<i64>,
}

/// One entry of `containers.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct ContainerRecord {
    pub id: String,
    #[serde(default)]
    pub names: Vec<String>,
    /// The image id (no `sha256:`).
    #[serde(default)]
    pub image: Option<String>,
    /// The container's own (writable) layer.
    #[serde(default)]
    pub layer: Option<String>,
    /// Free-form metadata string (JSON: `image-name`, `name`, `created-at`,
    /// and, from CRI-O, `pod-name`, `pod-id`, `metadata-name`, ...).
    #[serde(default)]
    pub metadata: Option<String>,
    #[serde(default, rename = "big-data-names")]
    pub big_data_names: Vec<String>,
    #[serde(default)]
    pub created: Option<String>,
}

/// The file name containers/storage gives a big-data item: the key itself
/// when it is only `[0-9a-z.]`, else `=` and the key in standard base64
/// (containers/storage `images.go` `makeBigDataBaseName`).
pub fn big_data_file_name(key: &str) -> String {
    use base64::Engine;
    let plain = !key.is_empty()
        && key
            .bytes()
            .all(|b| b == b'.' || b.is_ascii_digit() || b.is_ascii_lowercase());
    if plain {
        key.to_string()
    } else {
        format!(
            "={}",
            base64::engine::general_purpose::STANDARD.encode(key.as_bytes())
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn big_data_names_as_on_disk() {
        assert_eq!(big_data_file_name("manifest"), "manifest");
        // Seen on the podman-basic fixture.
        assert_eq!(
            big_data_file_name(
                "sha256:7adb71f11768e7ce1dbcde88374db5e4f5e333a3a3fa40ae12dcf4d438766ec0"
            ),
            "=c2hhMjU2OjdhZGI3MWYxMTc2OGU3Y2UxZGJjZGU4ODM3NGRiNWU0ZjVlMzMzYTNhM2ZhNDBhZTEyZGNmNGQ0Mzg3NjZlYzA="
        );
    }
}
