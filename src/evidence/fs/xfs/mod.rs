//! XFS (stub).
use super::{DirEntry, EvPath, FileReader, FileSystem, FsError, Metadata};
use crate::evidence::image::ReadAt;
use std::sync::Arc;
pub struct XfsFs;
impl XfsFs {
    pub fn open(_dev: Arc<dyn ReadAt>, label: &str) -> Result<Self, FsError> {
        Err(FsError::Corrupt { path: label.into(), detail: "todo".into() })
    }
}
impl FileSystem for XfsFs {
    fn metadata(&self, _p: &EvPath) -> Result<Metadata, FsError> { todo!() }
    fn read_dir(&self, _p: &EvPath) -> Result<Vec<DirEntry>, FsError> { todo!() }
    fn open(&self, _p: &EvPath) -> Result<Box<dyn FileReader>, FsError> { todo!() }
    fn read_link(&self, _p: &EvPath) -> Result<Vec<u8>, FsError> { todo!() }
    fn xattrs(&self, _p: &EvPath) -> Result<Vec<(Vec<u8>, Vec<u8>)>, FsError> { todo!() }
    fn describe(&self) -> String { String::new() }
}
