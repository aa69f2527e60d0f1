"""Types of the Rust extension (see docker_forensics/__init__.py)."""

import os
from typing import Any, Callable, Dict, List, Optional, Union

Progress = Callable[[str, int, Optional[int], bool], object]
PathLike = Union[str, "os.PathLike[str]"]

__version__: str

class DockerForensicsError(Exception): ...
class UsageError(DockerForensicsError): ...
class EvidenceError(DockerForensicsError): ...
class OutputError(DockerForensicsError): ...
class DockerForensicsWarning(UserWarning): ...

class Evidence:
    @property
    def path(self) -> str: ...
    @property
    def stores(self) -> List[str]: ...
    @property
    def notes(self) -> List[str]: ...
    @property
    def acquisition(self) -> Optional[Dict[str, Any]]: ...
    def images(self, store: Optional[str] = None) -> List[Dict[str, Any]]: ...
    def containers(self, store: Optional[str] = None) -> List[Dict[str, Any]]: ...
    def verify(
        self, store: Optional[str] = None, rebuild: bool = False, progress: Optional[Progress] = None
    ) -> List[Dict[str, Any]]: ...
    def diff(self, container: str, store: Optional[str] = None) -> List[Dict[str, Any]]: ...
    def timeline(
        self,
        format: str = "jsonl",
        image: Optional[str] = None,
        container: Optional[str] = None,
        store: Optional[str] = None,
        path: Optional[PathLike] = None,
    ) -> Union[List[Dict[str, Any]], str, Dict[str, Any]]: ...
    def export_image(
        self,
        image: str,
        output_dir: PathLike,
        force: bool = False,
        store: Optional[str] = None,
        rebuild: bool = False,
        progress: Optional[Progress] = None,
        archive_only: bool = False,
    ) -> Dict[str, Any]: ...
    def export_container(
        self,
        container: str,
        output_dir: PathLike,
        force: bool = False,
        store: Optional[str] = None,
        progress: Optional[Progress] = None,
    ) -> Dict[str, Any]: ...

def open_evidence(
    path: PathLike, docker_root: Optional[str] = None, partition: Union[int, str, None] = None
) -> Evidence: ...
