//! `mount`: an image's or container's filesystem, read-only, through
//! FUSE, until unmounted (Ctrl-C, SIGTERM, `fusermount3 -u`, `umount`).

use super::Outcome;
use super::UsageError;
use super::args::{Global, MountArgs};
use super::context::{Opened, hint, open};
use anyhow::{Context, Result};
use docker_forensics::store::StoreError;
use docker_forensics::view::fuse::{ViewFs, mount_config};
use docker_forensics::view::{Tree, ViewLayer, container_stack, image_stack};
use docker_forensics::{FoundContainer, Store};
use serde_json::{Value, json};
use std::path::Path;

/// The name of the provenance file `--with-provenance` adds at the root.
const PROVENANCE_FILE: &[u8] = b".docker-forensics-provenance.json";

/// What the command line named.
enum Target<'a> {
    Image(Box<docker_forensics::Found<'a>>),
    Container(Box<FoundContainer<'a>>),
}

pub fn run(g: &Global, a: &MountArgs) -> Result<Outcome> {
    check_mountpoint(&a.evidence, &a.mountpoint)?;
    // The filesystem served must outlive every borrow FUSE may hold: the
    // opened evidence lives as long as the process (it ends at unmount).
    let ctx: &'static Opened = Box::leak(Box::new(open(g, &a.evidence)?));
    let target = resolve(ctx, a)?;
    let (store, layers, what, described) = match &target {
        Target::Image(f) => {
            let layers = image_stack(&f.image, a.layer)?;
            let what = match a.layer {
                Some(n) => format!("image {} up to layer {n}", f.image.short_id()),
                None => format!("image {}", f.image.short_id()),
            };
            (f.store, layers, what, describe_image(f))
        }
        Target::Container(f) => {
            if a.layer.is_some() {
                return Err(UsageError(
                    "--layer applies to images: mount the container's image with --layer, or the container whole".into(),
                )
                .into());
            }
            let layers = container_stack(f.store.fs(), &f.container)?;
            let c = &f.container;
            for p in &c.problems {
                tell!("note: container {}: {p}", c.id);
            }
            let what = format!("container {} ({})", c.name, c.id.get(..12).unwrap_or(&c.id));
            (f.store, layers, what, describe_container(f))
        }
    };
    let count = layers.len();
    let provenance = a
        .with_provenance
        .then(|| provenance(ctx, store, &layers, a, described));
    let mut tree = if a.layers {
        Tree::side_by_side(store.fs(), layers)?
    } else {
        Tree::merged(store.fs(), layers)?
    };
    if let Some(p) = provenance {
        tree.add_root_file(PROVENANCE_FILE, serde_json::to_vec_pretty(&p?)?)?;
    }
    for p in &tree.problems {
        tell!("note: {p}");
    }
    if tree.problems_omitted() > 0 {
        tell!(
            "note: {} more entries could not be read",
            tree.problems_omitted()
        );
    }
    let entries = tree.len();
    let mut session = fuser::Session::new(ViewFs::new(tree), &a.mountpoint, &mount_config())
        .with_context(|| {
            format!(
                "{}: cannot mount (FUSE needs /dev/fuse, and root or fusermount3)",
                a.mountpoint.display()
            )
        })?;
    unmount_on_signal(session.unmount_callable(), &a.mountpoint);
    exit_when_unmounted(&a.mountpoint, g.quiet);
    ctx.summary(format_args!(
        "{what} mounted read-only at {}: {entries} entries from {count} layer(s){}; unmount with Ctrl-C, `fusermount3 -u {}` or `umount {}`",
        a.mountpoint.display(),
        if a.layers { ", side by side" } else { "" },
        a.mountpoint.display(),
        a.mountpoint.display()
    ));
    session
        .run()
        .with_context(|| format!("{}: serving the mount failed", a.mountpoint.display()))?;
    if !g.quiet {
        tell!("unmounted {}", a.mountpoint.display());
    }
    Ok(ctx.outcome(Outcome::Verified))
}

/// The image or container `a.target` names; a name that is both is a
/// usage error unless `--image` or `--container` says which.
fn resolve<'a>(ctx: &'a Opened, a: &MountArgs) -> Result<Target<'a>> {
    let image = (!a.container).then(|| ctx.catalog.resolve(&a.target, ctx.filter()));
    let container = (!a.image).then(|| ctx.catalog.find_container(&a.target, ctx.filter()));
    let unknown = |e: &StoreError| {
        matches!(
            e,
            StoreError::UnknownImage { .. }
                | StoreError::UnknownContainer { .. }
                | StoreError::InvalidReference { .. }
        )
    };
    match (image, container) {
        (Some(Ok(_)), Some(Ok(_))) => Err(UsageError(format!(
            "{}: names both an image and a container; say which with --image or --container",
            a.target
        ))
        .into()),
        (Some(Ok(i)), None) => Ok(Target::Image(Box::new(i))),
        (Some(Ok(i)), Some(Err(ce))) if unknown(&ce) => Ok(Target::Image(Box::new(i))),
        (None, Some(Ok(c))) => Ok(Target::Container(Box::new(c))),
        (Some(Err(ie)), Some(Ok(c))) if unknown(&ie) => Ok(Target::Container(Box::new(c))),
        // One side found, the other ambiguous: the name is ambiguous.
        (Some(Ok(_)), Some(Err(e))) | (Some(Err(e)), Some(Ok(_))) => Err(UsageError(format!(
            "{e}; it also names {}: say which with --image or --container",
            if matches!(e, StoreError::AmbiguousContainer { .. }) {
                "an image"
            } else {
                "a container"
            }
        ))
        .into()),
        (Some(Err(ie)), Some(Err(ce))) => {
            if unknown(&ie) && unknown(&ce) {
                anyhow::bail!(
                    "{}: no image and no container of that name or id here ({ie}; {ce})",
                    a.target
                )
            }
            Err(hint(if unknown(&ie) { ce } else { ie }))
        }
        (Some(Err(e)), None) | (None, Some(Err(e))) => Err(hint(e)),
        (None, None) => Err(UsageError("--image and --container conflict".into()).into()),
    }
}

/// Refuses a mount point that is not an existing directory, or that is
/// inside the evidence tree (a mount there would hide part of it).
fn check_mountpoint(evidence: &Path, mp: &Path) -> Result<()> {
    let m = mp
        .canonicalize()
        .map_err(|e| UsageError(format!("{}: mount point: {e}", mp.display())))?;
    if !m.is_dir() {
        return Err(UsageError(format!("{}: mount point is not a directory", mp.display())).into());
    }
    if let Ok(ev) = evidence.canonicalize()
        && ev.is_dir()
        && m.starts_with(&ev)
    {
        return Err(UsageError(format!(
            "{}: the mount point is inside the evidence {}; choose one outside it",
            mp.display(),
            evidence.display()
        ))
        .into());
    }
    Ok(())
}

/// On SIGINT or SIGTERM: unmount, so that the session ends and the
/// process exits cleanly; when the mount is busy, detach it lazily (it
/// goes once the last user leaves). A second signal exits at once (130).
fn unmount_on_signal(mut unmounter: fuser::SessionUnmounter, mp: &Path) {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) else {
        return;
    };
    let mp = mp.to_path_buf();
    std::thread::spawn(move || {
        for (n, _) in signals.forever().enumerate() {
            if n > 0 {
                // Asked again while a lazy unmount waits for its last
                // user: give up waiting.
                tell!("{}: interrupted again; exiting", mp.display());
                std::process::exit(130);
            }
            let done = unmounter.unmount();
            if done.is_ok() {
                // The session ends when the kernel drops the connection;
                // a copy of the mount in another mount namespace (made
                // by a container runtime after we mounted) keeps it
                // alive. Ours is gone: end the process all the same,
                // which closes /dev/fuse and ends that copy too.
                std::thread::sleep(std::time::Duration::from_secs(2));
                tell!("unmounted {}", mp.display());
                std::process::exit(0);
            }
            if let Err(e) = done {
                tell!(
                    "{}: unmount failed ({e}); detaching it lazily",
                    mp.display()
                );
                if let Err(e) = rustix::mount::unmount(&mp, rustix::mount::UnmountFlags::DETACH) {
                    tell!(
                        "{}: cannot unmount: {e}; try `fusermount3 -u` or `umount -l`",
                        mp.display()
                    );
                }
            }
        }
    });
}

/// Ends the process once the mount is gone from this mount namespace
/// (`umount`, `fusermount3 -u`), even when a copy of it lives on in
/// another namespace (made by a container runtime after we mounted) and
/// keeps the FUSE connection, and so the session, open: exiting closes
/// `/dev/fuse`, which ends that copy too.
fn exit_when_unmounted(mp: &Path, quiet: bool) {
    let Ok(canonical) = mp.canonicalize() else {
        return;
    };
    let mp = mp.to_path_buf();
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(std::time::Duration::from_secs(1));
            if !ours_mounted_at(&canonical) {
                // Let the session end by itself first, where it can.
                std::thread::sleep(std::time::Duration::from_secs(2));
                if !quiet {
                    tell!("unmounted {}", mp.display());
                }
                std::process::exit(0);
            }
        }
    });
}

/// True while `/proc/self/mounts` lists a `docker-forensics` FUSE mount
/// at `mp` (true as well when it cannot be read: never exit on doubt).
fn ours_mounted_at(mp: &Path) -> bool {
    let Ok(mounts) = std::fs::read_to_string("/proc/self/mounts") else {
        return true;
    };
    let want = mp.to_string_lossy();
    mounts.lines().any(|l| {
        let mut f = l.split(' ');
        let (Some(src), Some(at)) = (f.next(), f.next()) else {
            return false;
        };
        src == "docker-forensics" && unescape_mount_field(at) == want
    })
}

/// `/proc/mounts` writes space, tab, newline and backslash as `\ooo`.
fn unescape_mount_field(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let oct = b
            .get(i + 1..i + 4)
            .filter(|d| b[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        let value = oct.and_then(|d| {
            let v = d.iter().fold(0u32, |v, c| v * 8 + u32::from(c - b'0'));
            u8::try_from(v).ok()
        });
        match value {
            Some(v) => {
                out.push(v);
                i += 4;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn describe_image(f: &docker_forensics::Found<'_>) -> Value {
    let i = &f.image;
    json!({
        "kind": "image",
        "image_id": i.id,
        "store": i.store,
        "names": i.names,
        "config_digest": i.config_digest,
        "layers": i.layers.len(),
    })
}

fn describe_container(f: &FoundContainer<'_>) -> Value {
    let c = &f.container;
    json!({
        "kind": "container",
        "container_id": c.id,
        "name": c.name,
        "store": c.store,
        "image_id": c.image_id,
        "image_ref": c.image_ref,
        "state": c.state,
    })
}

/// The provenance file's document: what is shown, from which layer
/// directories of which evidence, by which run.
fn provenance(
    ctx: &Opened,
    store: &dyn Store,
    layers: &[ViewLayer],
    a: &MountArgs,
    target: Value,
) -> Result<Value> {
    let place = store.place();
    let layers: Vec<Value> = layers
        .iter()
        .map(|l| {
            json!({
                "label": l.label,
                "location": place.volume.spec.at(&l.dir),
                "whiteouts": if l.aufs { "aufs" } else { "overlay" },
            })
        })
        .collect();
    Ok(json!({
        "schema": docker_forensics::schema::Schema,
        "command": "mount",
        "tool": format!("docker-forensics {}", env!("CARGO_PKG_VERSION")),
        "evidence": ctx.evidence.source,
        "acquisition": ctx.evidence.acquisition,
        "run": ctx.run_record(),
        "data_root": place.data_root(),
        "target": target,
        "view": if a.layers { "layers side by side" } else { "merged" },
        "up_to_layer": a.layer,
        "layers_topmost_first": layers,
    }))
}

#[cfg(test)]
mod tests {
    use super::unescape_mount_field;

    #[test]
    fn mount_fields_are_unescaped() {
        assert_eq!(unescape_mount_field("/tmp/a\\040b"), "/tmp/a b");
        assert_eq!(unescape_mount_field("/x\\134y"), "/x\\y");
        assert_eq!(unescape_mount_field("/x\\777"), "/x\\777");
        assert_eq!(unescape_mount_field("/x\\04"), "/x\\04");
    }
}
