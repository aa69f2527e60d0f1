//! The reconstructed Dockerfile of images a real dockerd 20.10 built:
//! `FROM scratch` plus a busybox rootfs, through the classic builder and,
//! where the daemon and a client can, BuildKit, with a `SHELL` change,
//! build args, `HEALTHCHECK`, `ONBUILD`, `STOPSIGNAL`, `USER`, `EXPOSE`.
//! Each instruction comes out as itself, in build order, never as a
//! `RUN … #(nop)` line. Skipped loudly where no dockerd can start.

mod common;

use common::daemon::Daemon;
use common::*;
use std::path::Path;

const DOCKERFILE: &str = r#"FROM scratch
COPY rootfs/ /
ARG A=1
ARG B
ENV GREETING="hello world" PATH=/bin
RUN echo "$A $B" > /tmp/args
SHELL ["/bin/sh", "-e", "-c"]
VOLUME /data
RUN echo shell-changed > /tmp/s
LABEL org.example.k="v w" other=x
EXPOSE 8080 53/udp
WORKDIR /srv
USER 1000:1000
HEALTHCHECK --interval=30s --timeout=3s --retries=2 CMD echo ok || exit 1
ONBUILD RUN echo child
STOPSIGNAL SIGUSR1
ENTRYPOINT ["/bin/sh", "-c"]
CMD echo hi
"#;

/// A build context: the Dockerfile and a tiny busybox userland.
fn context(dir: &Path, dockerfile: &str) {
    let rootfs = dir.join("rootfs");
    for d in ["bin", "etc", "tmp"] {
        std::fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
    for a in ["sh", "echo", "cat", "true"] {
        std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(a)).unwrap();
    }
    std::fs::write(rootfs.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(rootfs.join("tmp"), std::fs::Permissions::from_mode(0o1777)).unwrap();
    std::fs::write(dir.join("Dockerfile"), dockerfile).unwrap();
}

/// The Dockerfile the tool wrote for image `id` of `d`'s data root.
fn reconstructed(d: &Daemon, id: &str) -> String {
    let out = tempfile::tempdir().unwrap();
    let r = extract_all(&d.data_root(), out.path());
    assert!(r.code == 0 || r.code == 3, "{}", r.stderr);
    std::fs::read_to_string(image_dir(out.path(), id).join("Dockerfile")).unwrap()
}

/// `want` are the instruction lines, in this order, each at the start of
/// a line; no `RUN` line holds `#(nop)`.
fn assert_in_order(df: &str, want: &[&str]) {
    let lines: Vec<&str> = df.lines().collect();
    let mut at = 0;
    for w in want {
        let found = lines[at..].iter().position(|l| l == w);
        let found = found.unwrap_or_else(|| panic!("{w:?} after line {at} in\n{df}"));
        at += found + 1;
    }
    for l in &lines {
        assert!(
            !(l.starts_with("RUN") && l.contains("#(nop)")),
            "{l:?} in\n{df}"
        );
    }
}

const CLASSIC: &[&str] = &[
    "FROM scratch",
    "ARG A=1",
    "ARG B",
    "ENV GREETING=\"hello world\" PATH=/bin",
    "# build args: A=1 B=2",
    "RUN echo \"$A $B\" > /tmp/args",
    "SHELL [\"/bin/sh\",\"-e\",\"-c\"]",
    "VOLUME [\"/data\"]",
    "# build args: A=1 B=2",
    "RUN echo shell-changed > /tmp/s",
    "LABEL org.example.k=\"v w\" other=x",
    "EXPOSE 53/udp 8080",
    "WORKDIR /srv",
    "USER 1000:1000",
    "HEALTHCHECK --interval=30s --timeout=3s --retries=2 CMD echo ok || exit 1",
    "ONBUILD RUN echo child",
    "STOPSIGNAL SIGUSR1",
    "ENTRYPOINT [\"/bin/sh\",\"-c\"]",
    "CMD [\"/bin/sh\",\"-e\",\"-c\",\"echo hi\"]",
];

#[test]
fn classic_builder_history_becomes_its_instructions() {
    let Some(d) = Daemon::start() else { return };
    let ctx = tempfile::tempdir().unwrap();
    context(ctx.path(), DOCKERFILE);
    let (ok, said) = d.docker_with(
        "docker",
        &[("DOCKER_BUILDKIT", "0")],
        &[
            "build",
            "--network=none",
            "--build-arg",
            "B=2",
            "-t",
            "fx/classic:1",
            ctx.path().to_str().unwrap(),
        ],
    );
    assert!(ok, "{said}");
    let id = d.image_id("fx/classic:1");
    let df = reconstructed(&d, &id);
    assert_in_order(&df, CLASSIC);
    assert!(df.contains("COPY dir:"), "{df}");
    // Everything the config holds was shown by the history.
    assert!(!df.contains("not shown by its history"), "{df}");
}

#[test]
fn buildkit_history_becomes_its_instructions() {
    let Some(d) = Daemon::start() else { return };
    let ctx = tempfile::tempdir().unwrap();
    // BuildKit alone knows RUN --mount (and records no flag of it).
    let dockerfile = DOCKERFILE.replace(
        "STOPSIGNAL",
        "RUN --mount=type=tmpfs,target=/m echo mounted > /tmp/m\nSTOPSIGNAL",
    );
    context(ctx.path(), &dockerfile);
    let args = [
        "build",
        "--network=none",
        "--build-arg",
        "B=2",
        "-t",
        "fx/bk:1",
        ctx.path().to_str().unwrap(),
    ];
    // A newer CLI needs the buildx plugin for BuildKit; Debian's 20.10
    // CLI talks to the daemon's BuildKit itself.
    let mut said = String::new();
    let built = ["docker", "/usr/bin/docker"].iter().any(|client| {
        let (ok, out) = d.docker_with(client, &[("DOCKER_BUILDKIT", "1")], &args);
        said.push_str(&out);
        ok
    });
    if !built {
        skip(&format!("no client could build with BuildKit here: {said}"));
        return;
    }
    let id = d.image_id("fx/bk:1");
    let df = reconstructed(&d, &id);
    assert_in_order(
        &df,
        &[
            "FROM scratch",
            "COPY rootfs/ /",
            "ARG A=1",
            "ARG B",
            "ENV GREETING=\"hello world\" PATH=/bin",
            "# build args: A=1 B=2",
            "RUN echo \"$A $B\" > /tmp/args",
            "SHELL [\"/bin/sh\",\"-e\",\"-c\"]",
            "VOLUME [\"/data\"]",
            "# build args: A=1 B=2",
            "RUN echo shell-changed > /tmp/s",
            "LABEL org.example.k=\"v w\" other=x",
            "EXPOSE 53/udp 8080/tcp",
            "WORKDIR /srv",
            "USER 1000:1000",
            "HEALTHCHECK --interval=30s --timeout=3s --retries=2 CMD echo ok || exit 1",
            "# build args: A=1 B=2",
            "RUN echo mounted > /tmp/m",
            "STOPSIGNAL SIGUSR1",
            "ENTRYPOINT [\"/bin/sh\",\"-c\"]",
            "CMD [\"/bin/sh\",\"-e\",\"-c\",\"echo hi\"]",
            // BuildKit writes no history step for ONBUILD: from the config.
            "# Set in the image config but not shown by its history:",
            "ONBUILD RUN echo child",
        ],
    );
}
