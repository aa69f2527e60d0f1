//! `report`: the case report of the basic fixture (host tree and E01 disk)
//! says what the engine's own answers (basic.expected.json) say, leads
//! with a tampered layer, escapes hostile names, renders offline in a
//! real browser, and its CASE/UCO record passes `case_validate`.

mod common;

use common::*;
use scraper::{Html, Selector};
use std::path::{Path, PathBuf};
use std::process::Command;

fn sel(s: &str) -> Selector {
    Selector::parse(s).unwrap_or_else(|e| panic!("selector {s}: {e:?}"))
}

/// `report EVIDENCE OUT -q` plus `extra`; the run and the parsed page.
fn report(evidence: &Path, out: &Path, extra: &[&str]) -> (Run, Html) {
    let mut args: Vec<&std::ffi::OsStr> = vec!["report".as_ref(), evidence.as_ref(), out.as_ref()];
    args.push("-q".as_ref());
    args.extend(extra.iter().map(|a| std::ffi::OsStr::new(*a)));
    let r = run(args);
    let page = std::fs::read_to_string(out.join("report.html"))
        .unwrap_or_else(|e| panic!("report.html ({e}): {r:?}"));
    (r, Html::parse_document(&page))
}

fn texts(doc: &Html, s: &str) -> Vec<String> {
    doc.select(&sel(s))
        .map(|e| e.text().collect::<String>())
        .collect()
}

/// The `<li>` of path `p` in container `name`'s diff tree: its class.
fn diff_class(doc: &Html, container_id: &str, p: &str) -> Option<String> {
    let s = format!("article#c-{} li[data-path=\"{p}\"]", &container_id[..12]);
    doc.select(&sel(&s))
        .next()
        .and_then(|e| e.value().attr("class").map(String::from))
}

/// Nothing on the page loads from anywhere: no `src`, no `<link>`, no
/// `href` but in-page anchors, no `url(` in styles; one script (ours),
/// one style.
fn assert_self_contained(doc: &Html, page: &str) {
    assert_eq!(doc.select(&sel("[src]")).count(), 0, "an element with src");
    assert_eq!(
        doc.select(&sel("link, iframe, object, embed, img")).count(),
        0
    );
    for a in doc.select(&sel("[href]")) {
        let h = a.value().attr("href").unwrap_or_default();
        assert!(h.starts_with('#'), "href {h:?} leaves the page");
    }
    assert_eq!(doc.select(&sel("script")).count(), 1, "our script only");
    assert_eq!(doc.select(&sel("style")).count(), 1, "our style only");
    assert!(!page.contains("url("), "a CSS url()");
    let csp = doc
        .select(&sel("meta[http-equiv=\"Content-Security-Policy\"]"))
        .next()
        .and_then(|m| m.value().attr("content").map(String::from))
        .expect("a Content-Security-Policy");
    assert!(csp.starts_with("default-src 'none'"), "{csp}");
}

#[test]
fn basic_host_report_says_what_the_engine_says() {
    let Some(host) = host("basic") else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let (r, doc) = report(&host, out.path(), &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let page = std::fs::read_to_string(out.path().join("report.html")).unwrap();
    assert_self_contained(&doc, &page);

    // Every image, by id and tag, as the engine listed them.
    let ids = texts(&doc, "#images code.image-id");
    let headings = texts(&doc, "#images article.image h3").join("\n");
    let expected = expected("basic");
    for img in expected["images"].as_array().unwrap() {
        let id = img["id"].as_str().unwrap();
        assert!(ids.iter().any(|i| i == id), "image {id} not on the page");
        for t in img["tags"].as_array().unwrap() {
            let t = t.as_str().unwrap();
            assert!(headings.contains(t), "tag {t} not on the page");
        }
    }
    assert_eq!(ids.len(), expected["images"].as_array().unwrap().len());
    // Every container by name; evil-web's secret, its dropper and the
    // file it deleted.
    let names = texts(&doc, "#containers h3.container-name");
    for c in expected["containers"].as_array().unwrap() {
        assert!(names.iter().any(|n| n == c["name"].as_str().unwrap()));
    }
    let concerns = texts(&doc, "#container-concerns tr.concern");
    assert!(
        concerns.iter().any(|c| c.contains("evil-web")
            && c.contains("secret env")
            && c.contains("SECRET_TOKEN")),
        "{concerns:?}"
    );
    assert!(
        !concerns
            .iter()
            .any(|c| c.contains("PATH") || c.contains("APP_HOME")),
        "{concerns:?}"
    );
    let evil = container_id("basic", "evil-web");
    for line in expected["containers"][0]["diff"].as_array().unwrap() {
        let (k, p) = line.as_str().unwrap().split_once(' ').unwrap();
        assert_eq!(
            diff_class(&doc, &evil, p).as_deref(),
            Some(format!("k-{k}").as_str()),
            "{k} {p}"
        );
    }
    assert_eq!(
        diff_class(&doc, &evil, "/tmp/dropper.sh").as_deref(),
        Some("k-A")
    );
    assert_eq!(
        diff_class(&doc, &evil, "/srv/app/hello.txt").as_deref(),
        Some("k-D")
    );
    // No integrity finding on an untouched host.
    assert_eq!(
        doc.select(&sel("#integrity-findings tr.finding")).count(),
        0
    );
    // The timeline dates evil-web's start as its engine recorded it.
    let events = texts(&doc, "#events tbody tr[data-kind=\"container_started\"]");
    assert!(events.iter().any(|e| e.contains("evil-web")), "{events:?}");
    // The dropper's time, from the writable layer: during evil-web's run
    // as its engine recorded it (same second as its start).
    let cfg: serde_json::Value = serde_json::from_slice(
        &std::fs::read(docker_root(&host).join(format!("containers/{evil}/config.v2.json")))
            .unwrap(),
    )
    .unwrap();
    let started = &cfg["State"]["StartedAt"].as_str().unwrap()[..19];
    let dropped = texts(&doc, "#events tbody tr[data-kind=\"file_changed\"]");
    assert!(
        dropped.iter().any(|e| e.contains("A /tmp/dropper.sh")
            && e.contains("evil-web")
            && e.starts_with(started)),
        "{started}: {dropped:?}"
    );
    assert!(doc.select(&sel("svg#timeline-chart circle")).count() > 0);
    assert!(doc.select(&sel("svg#layer-graph line")).count() > 0);
    // SHA256SUMS covers both files.
    assert!(sums_check(out.path()));
}

#[test]
fn a_tampered_layer_leads_the_summary() {
    let Some(copy) = host_copy("basic") else {
        return;
    };
    let host = copy.path();
    let (diff_ids, _) = tamper_hello(host);

    let out = tempfile::tempdir().unwrap();
    let (r, doc) = report(host, out.path(), &[]);
    assert_eq!(r.code, 3, "integrity findings exit 3: {}", r.stderr);
    let rows = texts(&doc, "#summary #integrity-findings tr.finding");
    let row = rows
        .iter()
        .find(|t| t.contains("srv/app/hello.txt"))
        .unwrap_or_else(|| panic!("no finding for hello.txt: {rows:?}"));
    assert!(row.contains("content_changed"), "{row}");
    // It names every image on that layer, fixture/web:1.0 among them.
    assert!(row.contains("fixture/web:1.0"), "{row}");
    assert!(row.contains(&diff_ids[3]["sha256:".len()..][..12]), "{row}");
    // The same layer under several images is one finding.
    assert_eq!(
        rows.iter()
            .filter(|t| t.contains("srv/app/hello.txt"))
            .count(),
        1,
        "{rows:?}"
    );
    // The summary box says so first.
    let first = texts(&doc, "#summary div.attention").join("");
    assert!(
        first.contains(&format!("{} integrity finding", rows.len())),
        "{first}"
    );
    // The layer no longer hashes to its diff_id: said too.
    assert!(
        rows.iter().any(|t| t.contains("diff_id_mismatch")),
        "{rows:?}"
    );
}

#[test]
fn hostile_names_stay_text() {
    let Some(copy) = host_copy("basic") else {
        return;
    };
    let host = copy.path();
    let evil = container_id("basic", "evil-web");
    let cfg = docker_root(host).join(format!("containers/{evil}/config.v2.json"));
    let mut c: serde_json::Value = serde_json::from_slice(&std::fs::read(&cfg).unwrap()).unwrap();
    let hostile_name = "<script>alert(1)</script><img src=x onerror=alert(2)>&amp;";
    c["Name"] = format!("/{hostile_name}").into();
    std::fs::write(&cfg, serde_json::to_vec(&c).unwrap()).unwrap();
    let (icfg, _) = image_config_path(host, "basic", "fixture/web:1.0");
    let mut i: serde_json::Value = serde_json::from_slice(&std::fs::read(&icfg).unwrap()).unwrap();
    let hostile_step = "/bin/sh -c echo </style><script>alert(3)</script></pre></details>";
    i["history"][1]["created_by"] = hostile_step.into();
    std::fs::write(&icfg, serde_json::to_vec(&i).unwrap()).unwrap();

    let out = tempfile::tempdir().unwrap();
    let (r, doc) = report(host, out.path(), &[]);
    // The edited config no longer hashes to its id: a finding.
    assert_eq!(r.code, 3, "{}", r.stderr);
    let page = std::fs::read_to_string(out.path().join("report.html")).unwrap();
    assert_self_contained(&doc, &page);
    let names = texts(&doc, "#containers h3.container-name");
    assert!(names.iter().any(|n| n == hostile_name), "{names:?}");
    let concerns = texts(&doc, "#container-concerns a");
    assert!(concerns.iter().any(|n| n == hostile_name), "{concerns:?}");
    let dockerfiles = texts(&doc, "details.dockerfile pre").join("\n");
    assert!(
        dockerfiles.contains("</style><script>alert(3)</script>"),
        "{dockerfiles}"
    );
    let events = texts(&doc, "#events td code").join("\n");
    assert!(events.contains("</style><script>alert(3)</script>"));
    // Every section survived the names.
    for id in [
        "summary",
        "evidence",
        "images",
        "layers",
        "containers",
        "timeline",
    ] {
        assert_eq!(
            doc.select(&sel(&format!("section#{id}"))).count(),
            1,
            "{id}"
        );
    }
}

/// `chromium`, where installed (Debian's package).
fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|b| {
            Command::new("which")
                .arg(b)
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        })
}

/// Runs headless chromium on `page` with DNS answering nothing, logging
/// every network request to a net log; returns stdout and the URLs the
/// net log names, except those of the browser's own services (component
/// updates, time, accounts), which it asks for whatever the page.
fn headless(chrome: &Path, dir: &Path, page: &Path, what: &[&str]) -> (String, Vec<String>) {
    // One browser at a time: the timed run is not slowed by the others.
    static ONE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = ONE.lock().unwrap_or_else(|e| e.into_inner());
    let netlog = dir.join(format!(
        "net-{}.json",
        what.join("").replace(['-', '='], "")
    ));
    let out = Command::new(chrome)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--host-resolver-rules=MAP * ~NOTFOUND",
        ])
        .arg(format!("--log-net-log={}", netlog.display()))
        .arg(format!("--user-data-dir={}", dir.join("profile").display()))
        .args(what)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("run chromium");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = std::fs::read_to_string(&netlog).unwrap_or_default();
    let own = ["google.com/", "googleapis.com/", "gvt1.com/"];
    let mut urls: Vec<String> = log
        .split("\"url\":\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .filter(|u| !u.starts_with("file:") && !own.iter().any(|o| u.contains(o)))
        .map(String::from)
        .collect();
    urls.sort();
    urls.dedup();
    (String::from_utf8_lossy(&out.stdout).into_owned(), urls)
}

#[test]
fn the_page_renders_offline_in_a_browser() {
    let Some(chrome) = chromium() else {
        skip("chromium is not installed (apt-get install chromium)");
        return;
    };
    let Some(host) = host("basic") else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let (r, _) = report(&host, out.path(), &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let page = out.path().join("report.html");
    let work = tempfile::tempdir().unwrap();

    // The net log sees a page's request: one with an image from the
    // network (and no CSP to stop it) is caught.
    let text = std::fs::read_to_string(&page).unwrap();
    let csp_end = text.find("<meta name=\"viewport\"").unwrap();
    let csp_start = text.find("<meta http-equiv").unwrap();
    let canary = format!(
        "{}{}",
        &text[..csp_start],
        &text[csp_end..].replacen(
            "<body>",
            "<body><img src=\"http://canary.invalid/x.png\">",
            1
        )
    );
    let canary_page = work.path().join("canary.html");
    std::fs::write(&canary_page, canary).unwrap();
    let (_, urls) = headless(&chrome, work.path(), &canary_page, &["--dump-dom"]);
    assert!(
        urls.iter().any(|u| u.contains("canary.invalid")),
        "{urls:?}"
    );

    // The report asks for nothing, and its script ran.
    let (dom, urls) = headless(&chrome, work.path(), &page, &["--dump-dom"]);
    assert!(urls.is_empty(), "the page made requests: {urls:?}");
    let doc = Html::parse_document(&dom);
    for id in [
        "summary",
        "evidence",
        "images",
        "layers",
        "containers",
        "timeline",
    ] {
        assert_eq!(
            doc.select(&sel(&format!("section#{id}"))).count(),
            1,
            "{id}"
        );
    }
    let expected = expected("basic");
    let ids = texts(&doc, "#images code.image-id");
    for img in expected["images"].as_array().unwrap() {
        assert!(ids.iter().any(|i| i == img["id"].as_str().unwrap()));
    }
    let names = texts(&doc, "#containers h3.container-name");
    for c in expected["containers"].as_array().unwrap() {
        assert!(names.iter().any(|n| n == c["name"].as_str().unwrap()));
    }
    assert!(
        texts(&doc, "#container-concerns")
            .join("")
            .contains("SECRET_TOKEN")
    );
    // The script unhid the filter (hidden without script).
    let filter = doc
        .select(&sel("#timeline p[data-js]"))
        .next()
        .expect("the filter");
    assert!(
        filter.value().attr("hidden").is_none(),
        "the script did not run"
    );

    // A screenshot and a PDF come out.
    let shot = work.path().join("report.png");
    let pdf = work.path().join("report.pdf");
    let (_, urls) = headless(
        &chrome,
        work.path(),
        &page,
        &[
            "--window-size=1280,2400",
            &format!("--screenshot={}", shot.display()),
        ],
    );
    assert!(urls.is_empty(), "{urls:?}");
    let png = std::fs::read(&shot).unwrap();
    assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000);
    headless(
        &chrome,
        work.path(),
        &page,
        &[
            &format!("--print-to-pdf={}", pdf.display()),
            "--no-pdf-header-footer",
        ],
    );
    let pdf = std::fs::read(&pdf).unwrap();
    assert!(pdf.starts_with(b"%PDF") && pdf.len() > 10_000);
}

/// A virtualenv with PyPI's case-utils (made once per build directory).
fn case_validate() -> Option<PathBuf> {
    // Two tests may ask at once: one makes it, the other waits.
    static MAKING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _making = MAKING.lock().unwrap_or_else(|e| e.into_inner());
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("case-utils-venv");
    let bin = venv.join("bin/case_validate");
    if bin.exists() {
        return Some(bin);
    }
    let ok = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .is_ok_and(|s| s.success())
        && Command::new(venv.join("bin/pip"))
            .args(["install", "-q", "case-utils"])
            .status()
            .is_ok_and(|s| s.success());
    if !ok || !bin.exists() {
        let _ = std::fs::remove_dir_all(&venv);
        skip(
            "cannot install case-utils from PyPI into a virtualenv (python3 -m venv; pip install case-utils)",
        );
        return None;
    }
    Some(bin)
}

#[test]
fn case_record_of_the_disk_image_validates() {
    let disk = fixtures_dir().join("basic.disk.E01");
    if !disk.exists() {
        skip("basic.disk.E01 not found");
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let (r, doc) = report(&disk, out.path(), &["--verify-image"]);
    assert_eq!(r.code, 0, "{}", r.stderr);

    // The page: the chain from the E01 to the data root, and the hashes.
    let chain = texts(&doc, "#evidence dd").join("\n");
    let raw_sha256 = std::fs::read_to_string(fixtures_dir().join("basic.disk.raw.sha256")).unwrap();
    let raw_sha256 = raw_sha256.split_whitespace().next().unwrap();
    assert!(chain.contains(raw_sha256), "computed SHA-256: {chain}");
    assert!(chain.contains("matches the stored hash"), "{chain}");
    assert!(
        chain.contains("GPT partition 1") && chain.contains("ext4"),
        "{chain}"
    );
    assert!(chain.contains("/var/lib/docker"), "{chain}");

    // The record: the output named with the sha256 SHA256SUMS gives it,
    // the medium's SHA-256, every layer's diff_id.
    let case = std::fs::read_to_string(out.path().join("case.jsonld")).unwrap();
    let sums = std::fs::read_to_string(out.path().join("SHA256SUMS")).unwrap();
    let html_sha = sums
        .lines()
        .find_map(|l| l.strip_suffix("  report.html"))
        .unwrap();
    assert_eq!(html_sha, sha256_file(&out.path().join("report.html")));
    assert!(case.contains(&html_sha.to_ascii_uppercase()));
    assert!(case.contains(&raw_sha256.to_ascii_uppercase()));
    for img in expected("basic")["images"].as_array().unwrap() {
        for d in img["diff_ids"].as_array().unwrap() {
            let hex = d.as_str().unwrap().trim_start_matches("sha256:");
            assert!(case.contains(&hex.to_ascii_uppercase()), "layer {hex}");
        }
    }
    let v: serde_json::Value = serde_json::from_str(&case).unwrap();
    let action = v["@graph"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| {
            n["@type"] == "investigation:InvestigativeAction"
                && n["core:name"] == "docker-forensics report"
        })
        .expect("the run's action");
    assert!(action["action:instrument"]["@id"].is_string());
    assert!(!action["action:object"].as_array().unwrap().is_empty());

    let Some(validate) = case_validate() else {
        return;
    };
    let check = |extra: &[&str]| {
        let o = Command::new(&validate)
            .args(extra)
            .arg(out.path().join("case.jsonld"))
            .output()
            .expect("run case_validate");
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        assert!(
            o.status.success() && text.contains("Conforms: True"),
            "case_validate {extra:?}: {text}{}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    // The newest CASE that case-utils ships, with nothing at all to say;
    // CASE 1.3.0 (its hash-name shape is an Info only there).
    check(&[]);
    check(&["--built-version", "case-1.3.0", "--allow-info"]);
}

/// A report the size of the performance issue's host (200 images of 10
/// layers, 2,000 containers with 40 changes each), built in memory.
fn big_report() -> docker_forensics::export::case_report::CaseReport {
    use docker_forensics::export::case_report::model::*;
    use docker_forensics::layer::diff::Change;
    let hex = |s: String| {
        use sha2::Digest;
        format!("sha256:{}", hex::encode(sha2::Sha256::digest(s.as_bytes())))
    };
    let t0 = 1_780_000_000i64;
    let when = |t: i64| {
        chrono::DateTime::from_timestamp(t, 0)
            .unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    };
    let mut images = Vec::new();
    let mut events = Vec::new();
    for i in 0..200 {
        let layers = (0..10)
            .map(|l| {
                let d = if l < 5 {
                    hex(format!("base{l}"))
                } else {
                    hex(format!("{i}/{l}"))
                };
                ImageLayer {
                    index: l,
                    diff_id: d.clone(),
                    chain_id: d.clone(),
                    sha256: d.trim_start_matches("sha256:").to_string(),
                    size: 1_000_000,
                    method: "tar-split",
                    verified: true,
                    findings: 0,
                }
            })
            .collect();
        images.push(ImageEntry {
            id: hex(format!("image{i}")),
            tags: vec![format!("registry.example/team/app-{i}:1.{i}")],
            store: "docker".into(),
            created: Some(when(t0 + i * 600)),
            size: 10_000_000,
            config_verified: true,
            verified: true,
            layers,
            dockerfile: Some("FROM scratch\nRUN make\n".repeat(10)),
            error: None,
            dir: None,
        });
        for step in 0..10 {
            events.push(Event {
                when: when(t0 + i * 600 + step),
                epoch: t0 + i * 600 + step,
                kind: "build_step",
                subject: format!("registry.example/team/app-{i}:1.{i}"),
                what: format!("/bin/sh -c make step {step}"),
            });
        }
    }
    let mut containers = Vec::new();
    for c in 0..2000 {
        let container = docker_forensics::store::model::Container {
            id: hex(format!("container{c}"))
                .trim_start_matches("sha256:")
                .to_string(),
            name: format!("worker-{c}"),
            store: "docker".into(),
            image_id: hex(format!("image{}", c % 200)),
            state: "exited".into(),
            created: Some(when(t0 + 200 * 600 + c * 30)),
            started: Some(when(t0 + 200 * 600 + c * 30 + 1)),
            finished: Some(when(t0 + 200 * 600 + c * 30 + 20)),
            env: vec!["PATH=/bin".into(), format!("API_TOKEN=t{c}")],
            ..Default::default()
        };
        for (k, t) in [
            ("container_created", 0),
            ("container_started", 1),
            ("container_finished", 20),
        ] {
            events.push(Event {
                when: when(t0 + 200 * 600 + c * 30 + t),
                epoch: t0 + 200 * 600 + c * 30 + t,
                kind: k,
                subject: container.name.clone(),
                what: k.replace('_', " "),
            });
        }
        let diff = (0..40)
            .map(|f| Change {
                path: format!("/var/lib/app/data/{}/file-{f}.bin", f % 4),
                kind: ['A', 'C', 'D'][f % 3],
                is_dir: false,
            })
            .collect();
        containers.push(ContainerEntry {
            container,
            diff: Ok(diff),
        });
    }
    let mut layers: Vec<LayerEntry> = Vec::new();
    for (i, img) in images.iter().enumerate() {
        for l in &img.layers {
            match layers.iter_mut().find(|e| e.key == l.diff_id) {
                Some(e) => e.images.push(i),
                None => layers.push(LayerEntry {
                    key: l.diff_id.clone(),
                    size: l.size,
                    verified: true,
                    images: vec![i],
                }),
            }
        }
    }
    CaseReport {
        tool_name: "docker-forensics".into(),
        tool_version: "test".into(),
        run: docker_forensics::export::RunRecord {
            command_line: vec!["docker-forensics".into(), "report".into()],
            host: None,
            started: when(t0),
            media_verification: None,
        },
        finished: when(t0 + 1),
        evidence: EvidenceChain {
            source: "/evidence/big".into(),
            format: None,
            files: vec![],
            acquisition: None,
            media: None,
            image_info: vec![],
            volumes: vec![],
            data_roots: vec![],
            notes: vec![],
        },
        integrity: vec![],
        concerns: vec![],
        images,
        layers,
        containers,
        events,
        problems: vec![],
    }
}

#[test]
fn a_big_host_page_stays_small_and_renders() {
    let r = big_report();
    let page = docker_forensics::export::case_report::html::render(&r);
    assert!(page.len() < 20_000_000, "{} bytes", page.len());
    let Some(chrome) = chromium() else {
        skip("chromium is not installed (apt-get install chromium)");
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let path = work.path().join("report.html");
    std::fs::write(&path, &page).unwrap();
    assert!(page.contains("worker-1999"));
    // It renders (laid out and painted, offline); how fast is for the
    // benchmark, not a test (timings here depend on the machine's load).
    let shot = work.path().join("big.png");
    let started = std::time::Instant::now();
    let (_, urls) = headless(
        &chrome,
        work.path(),
        &path,
        &[
            "--window-size=1280,2000",
            &format!("--screenshot={}", shot.display()),
        ],
    );
    assert!(urls.is_empty(), "{urls:?}");
    assert!(shot.exists());
    eprintln!(
        "big page: {} bytes, rendered in {:?}",
        page.len(),
        started.elapsed()
    );
}

#[test]
fn extract_all_report_links_what_it_wrote() {
    let Some(copy) = host_copy("basic") else {
        return;
    };
    let host = copy.path();
    tamper_hello(host);
    let out = tempfile::tempdir().unwrap();
    let r = run([
        Path::new("extract"),
        Path::new("--all"),
        Path::new("--report"),
        host,
        out.path(),
        Path::new("-q"),
    ]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    let page = std::fs::read_to_string(out.path().join("report.html")).unwrap();
    let doc = Html::parse_document(&page);
    // Every link is in the page or to a file this run wrote.
    let mut files = 0;
    for a in doc.select(&sel("[href]")) {
        let h = a.value().attr("href").unwrap();
        if h.starts_with('#') {
            continue;
        }
        assert!(!h.contains(':') && !h.starts_with('/'), "{h}");
        assert!(out.path().join(h).exists(), "{h} links to nothing");
        files += 1;
    }
    let expected = expected("basic");
    assert!(files >= 5 * expected["images"].as_array().unwrap().len());
    // The changed file, as found, linked from the finding.
    let finding = doc
        .select(&sel("#integrity-findings tr.finding a"))
        .map(|a| a.value().attr("href").unwrap().to_string())
        .find(|h| h.ends_with("findings/layer_3/srv/app/hello.txt"))
        .expect("a link to the saved file");
    assert!(out.path().join(&finding).is_file());
    // case.jsonld names every file of every image directory with the
    // sha256 its SHA256SUMS gives.
    let case = std::fs::read_to_string(out.path().join("case.jsonld")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&case).unwrap();
    let named: std::collections::BTreeMap<String, String> = v["@graph"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["@type"] == "observable:File")
        .filter_map(|n| {
            let facets = n["core:hasFacet"].as_array()?;
            let name = facets
                .iter()
                .find_map(|f| f["observable:fileName"].as_str())?;
            let sha = facets
                .iter()
                .find_map(|f| f["observable:hash"][0]["types:hashValue"]["@value"].as_str())?;
            Some((name.to_string(), sha.to_ascii_lowercase()))
        })
        .collect();
    let mut listed = 0;
    for dir in std::fs::read_dir(out.path()).unwrap() {
        let dir = dir.unwrap().path();
        let Ok(sums) = std::fs::read_to_string(dir.join("SHA256SUMS")) else {
            continue;
        };
        let base = dir.file_name().unwrap().to_string_lossy().into_owned();
        for line in sums.lines() {
            let (sha, name) = line.split_once("  ").unwrap();
            assert_eq!(
                named.get(&format!("{base}/{name}")).map(String::as_str),
                Some(sha),
                "{base}/{name}"
            );
            listed += 1;
        }
    }
    assert!(listed > 100, "{listed}");
    assert_eq!(
        named.get("report.html").map(String::as_str),
        Some(sha256_file(&out.path().join("report.html")).as_str())
    );
    let Some(validate) = case_validate() else {
        return;
    };
    let o = Command::new(&validate)
        .arg(out.path().join("case.jsonld"))
        .output()
        .expect("run case_validate");
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success() && text.contains("Conforms: True"),
        "{text}"
    );
}
