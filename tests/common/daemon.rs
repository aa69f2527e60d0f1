//! A real, fresh dockerd of the tests' own (empty data root, private
//! containerd namespaces), for `docker load` and `docker run` of what the
//! tool wrote. `Daemon::start` skips loudly where no dockerd can start.

use super::is_root;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A dockerd of our own on an empty data root, stopped on drop.
pub struct Daemon {
    child: Child,
    dir: tempfile::TempDir,
    host: String,
    root: std::path::PathBuf,
}

impl Daemon {
    pub fn start() -> Option<Daemon> {
        Self::start_with(&["--storage-driver", "overlay2"], "root")
    }

    /// A dockerd with these extra arguments, its data root at `root`
    /// (relative to its own temporary directory).
    pub fn start_with(extra: &[&str], root: &str) -> Option<Daemon> {
        if !is_root() || Command::new("dockerd").arg("--version").output().is_err() {
            eprintln!(
                "\n*** SKIPPED: no dockerd here (or not root): the docker load test did not run ***\n"
            );
            return None;
        }
        let dir = tempfile::tempdir().ok()?;
        let d = dir.path();
        let ns = format!("dfx{}", std::process::id());
        let host = format!("unix://{}/docker.sock", d.display());
        let log = std::fs::File::create(d.join("dockerd.log")).ok()?;
        let data_root = d.join(root);
        let child = Command::new("dockerd")
            .arg("--data-root")
            .arg(&data_root)
            .arg("--exec-root")
            .arg(d.join("exec"))
            .arg("--pidfile")
            .arg(d.join("pid"))
            .args([
                "-H",
                &host,
                "--iptables=false",
                "--ip6tables=false",
                "--bridge=none",
            ])
            .args(extra)
            .args([
                "--containerd-namespace",
                &ns,
                "--containerd-plugins-namespace",
                &format!("{ns}p"),
            ])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .ok()?;
        let mut daemon = Daemon {
            child,
            dir,
            host,
            root: data_root,
        };
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(60) {
            if daemon.docker(&["info"]).0 {
                return Some(daemon);
            }
            if let Ok(Some(_)) = daemon.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(300));
        }
        let log =
            std::fs::read_to_string(daemon.dir.path().join("dockerd.log")).unwrap_or_default();
        eprintln!(
            "\n*** SKIPPED: dockerd did not start; the docker load test did not run. Its log:\n{log}\n***\n"
        );
        None
    }

    /// Runs the docker client against this daemon: (success, stdout+stderr).
    pub fn docker(&self, args: &[&str]) -> (bool, String) {
        self.docker_with("docker", &[], args)
    }

    /// The data root this daemon writes (evidence for the tool).
    pub fn data_root(&self) -> std::path::PathBuf {
        self.root.clone()
    }

    /// The daemon's own temporary directory (its data root is below it).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// dockerd's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dockerd.log")).unwrap_or_default()
    }

    /// Stops dockerd (SIGTERM, then SIGKILL after 30 s), leaving its
    /// data root in place.
    pub fn stop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(30) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Runs `client` (a docker CLI) against this daemon with `env` set:
    /// (success, stdout+stderr).
    pub fn docker_with(&self, client: &str, env: &[(&str, &str)], args: &[&str]) -> (bool, String) {
        match Command::new(client)
            .env("DOCKER_HOST", &self.host)
            .envs(env.iter().copied())
            .args(args)
            .output()
        {
            Ok(o) => (
                o.status.success(),
                format!(
                    "{}{}",
                    String::from_utf8_lossy(&o.stdout),
                    String::from_utf8_lossy(&o.stderr)
                ),
            ),
            Err(e) => (false, e.to_string()),
        }
    }

    pub fn load(&self, archive: &Path) -> String {
        let (ok, out) = self.docker(&["load", "-i", archive.to_str().unwrap()]);
        assert!(ok, "docker load {}: {out}", archive.display());
        out
    }

    pub fn image_id(&self, name: &str) -> String {
        let (ok, out) = self.docker(&["image", "inspect", "--format", "{{.Id}}", name]);
        assert!(ok, "inspect {name}: {out}");
        out.trim().to_string()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        self.stop();
    }
}
