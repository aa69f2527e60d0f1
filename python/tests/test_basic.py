"""The Python API against the real basic disk image: the same outcomes the
Rust tests check (ids, tags, layer sha256s, verification, diffs), every
answer read from basic.expected.json (what the engine itself reported)."""

import hashlib
import json
import tarfile
import threading
from pathlib import Path

import pytest

import docker_forensics as df


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def expected_image(expected, tag):
    found = [i for i in expected["images"] if tag in i["tags"]]
    assert len(found) == 1, f"{tag} once in expected.json"
    return found[0]


def expected_container(expected, name):
    found = [c for c in expected["containers"] if c["name"] == name]
    assert len(found) == 1, f"{name} once in expected.json"
    return found[0]


def only_image_dir(out):
    dirs = sorted(Path(out).glob("image_*"))
    assert len(dirs) == 1, dirs
    return dirs[0]


def check_layers(image_dir, report, want):
    """Every layer file hashes to what `docker save` wrote and the report
    names the engine's diff_ids."""
    assert [l["diff_id"] for l in report["layers"]] == want["diff_ids"]
    for i, saved in enumerate(want["saved_layer_sha256"]):
        assert sha256_file(image_dir / f"layer_{i}" / "layer.tar") == saved, f"layer {i}"
    assert report["verified"] is True
    assert all(l["verified"] for l in report["layers"])


def test_images_ids_and_tags_equal_the_engines(evidence, expected):
    rows = evidence.images()
    got = {r["image_id"]: sorted(r["tags"]) for r in rows}
    want = {i["id"]: sorted(i["tags"]) for i in expected["images"]}
    assert got == want
    assert len(rows) == len(got), "each image listed once"
    assert all(isinstance(r, dict) for r in rows)


def test_store_filter(evidence, expected):
    assert len(evidence.images(store="docker")) == len(expected["images"])
    with pytest.raises(df.UsageError, match="store=podman: no such store"):
        evidence.images(store="podman")


def test_containers_ids_and_names(evidence, expected):
    got = {c["container_id"]: c["name"] for c in evidence.containers()}
    want = {c["id"]: c["name"] for c in expected["containers"]}
    assert got == want


def test_export_image_layers_are_the_engines(evidence, expected, tmp_path):
    want = expected_image(expected, "fixture/web:1.0")
    calls = []
    lock = threading.Lock()

    def progress(layer, done, total, finished):
        with lock:
            calls.append((layer, done, total, finished))

    report = evidence.export_image("fixture/web:1.0", tmp_path, progress=progress)
    assert report["image_id"] == want["id"]
    assert sorted(report["tags"]) == sorted(want["tags"])
    image_dir = only_image_dir(tmp_path)
    check_layers(image_dir, report, want)
    # The dict is report.json, member for member.
    with open(image_dir / "report.json") as f:
        assert json.load(f) == report
    # Each layer said it started and finished.
    started = {c[0] for c in calls if c[1] == 0 and not c[3]}
    finished = {c[0] for c in calls if c[3]}
    assert len(finished) == len(want["diff_ids"])
    assert started == finished
    # Again into the same directory: kept (its SHA256SUMS checks), same report.
    again = evidence.export_image("fixture/web:1.0", tmp_path)
    assert again == report


def test_export_image_archive_only(evidence, expected, tmp_path):
    want = expected_image(expected, "fixture/web:1.0")
    report = evidence.export_image("fixture/web:1.0", tmp_path, archive_only=True)
    assert report["archive_only"] is True
    assert report["verified"] is True
    image_dir = only_image_dir(tmp_path)
    assert not list(image_dir.glob("layer_*")), "layers only inside image.tar"
    # The layers image.tar's manifest names are the engine's saved layers.
    with tarfile.open(image_dir / "image.tar") as tf:
        layers = json.load(tf.extractfile("manifest.json"))[0]["Layers"]
        got = ["sha256:" + hashlib.sha256(tf.extractfile(n).read()).hexdigest() for n in layers]
    assert got == [s if s.startswith("sha256:") else "sha256:" + s for s in want["saved_layer_sha256"]]
    assert report["totals"]["bytes_written"] == (image_dir / "image.tar").stat().st_size


def test_export_into_unfinished_directory_needs_force(evidence, expected, tmp_path):
    want = expected_image(expected, "fxbase:1")
    evidence.export_image("fxbase:1", tmp_path)
    image_dir = only_image_dir(tmp_path)
    (image_dir / "SHA256SUMS").write_text("tampered\n")
    with pytest.raises(df.OutputError, match="already exists; pass force=True"):
        evidence.export_image("fxbase:1", tmp_path)
    report = evidence.export_image("fxbase:1", tmp_path, force=True)
    check_layers(image_dir, report, want)


def test_verify_every_image_verified(evidence, expected):
    results = evidence.verify()
    assert {v["image_id"] for v in results} == {i["id"] for i in expected["images"]}
    assert all(v["verified"] for v in results), [v for v in results if not v["verified"]]


def test_diff_equals_the_engines(evidence, expected):
    want = expected_container(expected, "evil-web")
    changes = evidence.diff("evil-web")
    assert sorted(f"{c['kind']} {c['path']}" for c in changes) == sorted(want["diff"])
    # By id too.
    assert evidence.diff(want["id"]) == changes


def test_export_container_report(evidence, expected, tmp_path):
    want = expected_container(expected, "evil-web")
    report = evidence.export_container("evil-web", tmp_path)
    assert sorted(f"{c['kind']} {c['path']}" for c in report["diff"]) == sorted(want["diff"])
    dirs = list(tmp_path.glob("container_*"))
    assert len(dirs) == 1
    with open(dirs[0] / "report.json") as f:
        assert json.load(f) == report


def test_timeline(evidence, expected):
    want = expected_container(expected, "evil-web")
    added = [d[2:] for d in want["diff"] if d.startswith("A ")]
    assert added, "the fixture's container added files"
    events = evidence.timeline(container="evil-web")
    assert events and all(isinstance(e, dict) for e in events)
    paths = {e.get("path") for e in events}
    for p in added:
        assert p in paths, p
    csv = evidence.timeline(format="csv", container="evil-web")
    assert isinstance(csv, str) and all(p in csv for p in added)
    with pytest.raises(df.UsageError, match="not a timeline format"):
        evidence.timeline(format="xml")


def test_timeline_to_file(evidence, tmp_path):
    out = tmp_path / "t.jsonl"
    counts = evidence.timeline(path=out)
    lines = out.read_text().splitlines()
    assert counts["files"] > 0 and counts["problems"] == []
    assert [json.loads(l) for l in lines] == evidence.timeline()


def test_extract_image_layers_one_call(disk, expected, tmp_path):
    want = expected_image(expected, "fixture/tool:2")
    report = df.extract_image_layers(want["id"], str(disk), str(tmp_path))
    assert report["image_id"] == want["id"]
    check_layers(only_image_dir(tmp_path), report, want)


def test_bad_path_names_the_path(tmp_path):
    missing = tmp_path / "no-such-host.E01"
    with pytest.raises(df.DockerForensicsError) as e:
        df.open_evidence(missing)
    assert isinstance(e.value, df.EvidenceError)
    assert str(missing) in str(e.value)


def test_unknown_image_raises_and_writes_nothing(evidence, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(df.UsageError, match="no-such/image:0: no such image"):
        evidence.export_image("no-such/image:0", out)
    assert not out.exists()
    with pytest.raises(df.DockerForensicsError, match="no such container"):
        evidence.diff("no-such-container")


def test_bad_partition_is_a_usage_error(disk):
    with pytest.raises(df.UsageError, match="partition=x1"):
        df.open_evidence(disk, partition="x1")
    # The fixture's one partition, named as fdisk does.
    assert len(df.open_evidence(disk, partition=1).images()) > 0


@pytest.fixture(scope="module")
def host_dir(fixtures, tmp_path_factory):
    """The same host as a directory tree (basic.host.tar.gz, unpacked as
    tests/common/mod.rs does: root, for whiteout devices and xattrs)."""
    import os
    import subprocess

    archive = fixtures / "basic.host.tar.gz"
    if not archive.is_file() or os.geteuid() != 0:
        why = f"{archive} absent or not root"
        if os.environ.get("CI") == "true":
            pytest.fail(why)
        pytest.skip(why)
    dest = tmp_path_factory.mktemp("host")
    subprocess.run(
        ["tar", "--xattrs", "--xattrs-include=*", "--numeric-owner", "-xpzf", archive, "-C", dest],
        check=True,
    )
    return dest


def test_directory_evidence_and_output_inside_it_refused(host_dir, expected):
    ev = df.open_evidence(host_dir)
    assert {r["image_id"] for r in ev.images()} == {i["id"] for i in expected["images"]}
    inside = host_dir / "tmp" / "out"
    with pytest.raises(df.OutputError, match="inside the evidence"):
        ev.export_image("fixture/web:1.0", inside)
    assert not inside.exists()
    with pytest.raises(df.OutputError, match="inside the evidence"):
        ev.timeline(path=host_dir / "t.jsonl")
    assert not (host_dir / "t.jsonl").exists()


def test_threads_share_one_evidence(evidence, expected, tmp_path):
    """Exports with progress callbacks from two threads on one Evidence
    (the lock is released during the work, the callbacks take it back):
    both finish, with the engine's layers."""
    want = expected_image(expected, "fixture/web:1.0")
    results, errors = {}, []

    def work(n):
        try:
            out = tmp_path / str(n)
            results[n] = (out, evidence.export_image("fixture/web:1.0", out, progress=lambda *a: None))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "deadlock"
    assert errors == []
    for out, report in results.values():
        check_layers(only_image_dir(out), report, want)


def _cli():
    import os

    target = Path(os.environ.get("CARGO_TARGET_DIR", Path(__file__).resolve().parents[2] / "target"))
    exe = target / "debug" / "docker-forensics"
    if not exe.is_file():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{exe} not built (cargo test builds it)")
        pytest.skip(f"{exe} not built")
    return exe


@pytest.mark.parametrize(
    "cli_args, call",
    [
        (["extract", "no-such/image:0", "{disk}", "{out}"], lambda ev, out: ev.export_image("no-such/image:0", out)),
        (["diff", "no-such-container", "{disk}"], lambda ev, out: ev.diff("no-such-container")),
        (["timeline", "--image", "no-such/image:0", "{disk}"], lambda ev, out: ev.timeline(image="no-such/image:0")),
    ],
)
def test_messages_are_the_command_lines(disk, evidence, tmp_path, cli_args, call):
    import subprocess

    args = [a.format(disk=disk, out=tmp_path / "out") for a in cli_args]
    r = subprocess.run([_cli(), "--quiet", *args], capture_output=True, text=True)
    assert r.returncode != 0
    with pytest.raises(df.DockerForensicsError) as e:
        call(evidence, tmp_path / "out")
    assert r.stderr.strip().splitlines()[-1] == f"docker-forensics: error: {e.value}"


def test_missing_evidence_message_is_the_command_lines(tmp_path):
    import subprocess

    missing = tmp_path / "gone.E01"
    r = subprocess.run([_cli(), "images", missing], capture_output=True, text=True)
    with pytest.raises(df.EvidenceError) as e:
        df.open_evidence(missing)
    assert r.stderr.strip().splitlines()[-1] == f"docker-forensics: error: {e.value}"


@pytest.mark.parametrize(
    "cli_args, member, call",
    [
        (["images", "--json", "{disk}"], "images", lambda ev: ev.images()),
        (["containers", "--json", "{disk}"], "containers", lambda ev: ev.containers()),
        (["verify", "--json", "{disk}"], "images", lambda ev: ev.verify()),
        (["diff", "--json", "evil-web", "{disk}"], "changes", lambda ev: ev.diff("evil-web")),
    ],
)
def test_results_are_the_command_lines_json(disk, evidence, cli_args, member, call):
    """The same documents as `--json`, member for member."""
    import subprocess

    r = subprocess.run(
        [_cli(), "--quiet", *[a.format(disk=disk) for a in cli_args]], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)[member] == call(evidence)


def test_timeline_is_the_command_lines(disk, evidence):
    import subprocess

    for fmt in ("jsonl", "csv", "bodyfile"):
        r = subprocess.run(
            [_cli(), "--quiet", "timeline", "--format", fmt, disk], capture_output=True, text=True
        )
        assert r.returncode == 0, r.stderr
        got = evidence.timeline(format=fmt)
        if fmt == "jsonl":
            assert [json.loads(l) for l in r.stdout.splitlines()] == got
        else:
            assert r.stdout == got


def test_a_failing_progress_callback_does_not_stop_the_export(evidence, expected, tmp_path, monkeypatch):
    import sys

    want = expected_image(expected, "fxbase:1")
    seen = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: seen.append(u.exc_value))

    def progress(*args):
        raise RuntimeError("callback broke")

    report = evidence.export_image("fxbase:1", tmp_path, progress=progress)
    check_layers(only_image_dir(tmp_path), report, want)
    assert seen and all(isinstance(e, RuntimeError) for e in seen)
