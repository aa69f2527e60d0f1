"""docker_forensics: the docker-forensics library for Python.

Open seized evidence (a directory, or a raw or E01 disk image) read-only,
list its images and containers, verify and export them byte for byte.
Every result is made of plain dicts and lists with the same members as
the command line's ``--json`` output and ``report.json``::

    import docker_forensics as df

    ev = df.open_evidence("host.E01")
    for image in ev.images():
        print(image["image_id"], image["tags"])
    report = ev.export_image("nginx:latest", "out/")
    print(report["verified"])

Errors are ``DockerForensicsError`` (``UsageError``, ``EvidenceError``,
``OutputError``) with the command line's one-line message.
"""

from ._native import (
    DockerForensicsError,
    DockerForensicsWarning,
    Evidence,
    EvidenceError,
    OutputError,
    UsageError,
    __version__,
    open_evidence,
)

__all__ = [
    "DockerForensicsError",
    "DockerForensicsWarning",
    "Evidence",
    "EvidenceError",
    "OutputError",
    "UsageError",
    "__version__",
    "extract_image_layers",
    "open_evidence",
]


def extract_image_layers(
    image_id,
    mount_path,
    output_dir,
    *,
    docker_root=None,
    partition=None,
    force=False,
    progress=None,
):
    """Exports one image from the evidence at ``mount_path`` into
    ``output_dir`` in one call: ``open_evidence(mount_path, docker_root,
    partition).export_image(image_id, output_dir, force=force,
    progress=progress)``. Returns the report (``report.json``'s members).
    """
    evidence = open_evidence(mount_path, docker_root=docker_root, partition=partition)
    return evidence.export_image(image_id, output_dir, force=force, progress=progress)
