//! `report.html`: the [`CaseReport`] as one self-contained page that
//! opens offline (inline CSS, inline SVG, one small inline script that
//! only filters and expands; the page reads the same without it) and
//! prints. A Content-Security-Policy allows nothing but the page's own
//! style and its one script (by hash): no request can leave the page.
//!
//! Every string from the evidence goes through [`text`]: control
//! characters shown as escapes (as on the terminal), then `&<>"'` as
//! entities, so a name can neither close an element nor open one. The
//! escaping is five replacements, written here rather than taken from a
//! templating crate, so that there is no template whose auto-escaping
//! could be switched off by mistake.

use super::model::{CaseReport, ContainerEntry, Event, ImageEntry, secret_looking};
use crate::layer::diff::Change;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The page's one script: filter the events table, expand or collapse
/// every tree, open everything before printing.
const SCRIPT: &str = r#"
document.querySelectorAll('[data-js]').forEach(function(e){e.hidden=false;});
var q=document.getElementById('event-filter'),k=document.getElementById('event-kind');
function filt(){var t=q.value.toLowerCase(),kk=k.value;
document.querySelectorAll('#events tbody tr').forEach(function(r){
var ok=(!t||r.textContent.toLowerCase().indexOf(t)>=0)&&(!kk||r.dataset.kind===kk);r.hidden=!ok;});}
q.addEventListener('input',filt);k.addEventListener('change',filt);
function all(o){document.querySelectorAll('details').forEach(function(d){d.open=o;});}
document.getElementById('expand-all').addEventListener('click',function(){all(true);});
document.getElementById('collapse-all').addEventListener('click',function(){all(false);});
window.addEventListener('beforeprint',function(){all(true);});
"#;

const STYLE: &str = r#"
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:1200px;padding:0 1.5em 3em;color:#1b1f24}
h1{font-size:1.6em;margin:.8em 0 .2em}h2{border-bottom:2px solid #d0d7de;padding-bottom:.2em;margin-top:2em}
h3{margin:1.4em 0 .4em}code,pre,.mono{font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:12.5px}
pre{background:#f6f8fa;padding:.7em;overflow-x:auto;white-space:pre-wrap;word-break:break-all}
table{border-collapse:collapse;margin:.4em 0;width:100%}th,td{border:1px solid #d0d7de;padding:3px 6px;text-align:left;vertical-align:top;word-break:break-word}
th{background:#f6f8fa}nav a{margin-right:1em}
.bad{color:#a40e26;font-weight:600}.ok{color:#116329}.warn{color:#9a6700;font-weight:600}
.attention{border:2px solid #a40e26;border-radius:6px;padding:.3em 1em;background:#fff5f5}
.heed{border:2px solid #9a6700;border-radius:6px;padding:.3em 1em;background:#fff8e5}
.calm{border:2px solid #116329;border-radius:6px;padding:.3em 1em;background:#f3fff5}
.k-A{color:#116329}.k-C{color:#9a6700}.k-D{color:#a40e26;text-decoration:line-through}
ul.tree{list-style:none;padding-left:1.2em;margin:0;font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:12.5px}ul.tree li{margin:0}
ul.tree b{display:inline-block;width:1.4em}
details>summary{cursor:pointer}article{content-visibility:auto;contain-intrinsic-size:auto 600px;border-top:1px solid #d0d7de;margin-top:1em}
dl.kv{display:grid;grid-template-columns:max-content auto;gap:2px 1em}dl.kv dt{font-weight:600}dl.kv dd{margin:0;word-break:break-all}
svg text{font:11px system-ui,sans-serif}svg .lane{stroke:#d0d7de}
.secret{background:#ffebe9}td.mono{white-space:nowrap}
@media print{nav,[data-js]{display:none!important}body{max-width:none}article{content-visibility:visible}details{display:block}
details>summary{list-style:none}article,tr{break-inside:avoid}h2{break-before:auto}}
"#;

/// Renders the page.
pub fn render(r: &CaseReport) -> String {
    let mut o = String::with_capacity(64 * 1024);
    let script_hash = {
        use base64::Engine as _;
        use sha2::Digest as _;
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(SCRIPT.as_bytes()))
    };
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n\
<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-{script_hash}'; img-src data:\">\n\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
<title>Case report: {}</title>\n<style>{STYLE}</style></head><body>\n",
        text(&r.evidence.source)
    );
    let _ = write!(
        o,
        "<header><h1>Docker forensics case report</h1><p>Evidence <code>{}</code>, examined with {} {} on {}; started {}, finished {}.</p>\n\
<nav><a href=\"#summary\">Summary</a><a href=\"#evidence\">Evidence</a><a href=\"#images\">Images</a><a href=\"#layers\">Layers</a><a href=\"#containers\">Containers</a><a href=\"#timeline\">Timeline</a>\
<span data-js hidden><button type=\"button\" id=\"expand-all\">Expand all</button> <button type=\"button\" id=\"collapse-all\">Collapse all</button></span></nav></header>\n",
        text(&r.evidence.source),
        text(&r.tool_name),
        text(&r.tool_version),
        text(r.run.host.as_deref().unwrap_or("an unnamed machine")),
        text(&r.run.started),
        text(&r.finished),
    );
    summary(&mut o, r);
    evidence(&mut o, r);
    images(&mut o, r);
    layer_graph(&mut o, r);
    containers(&mut o, r);
    timeline(&mut o, r);
    let _ = writeln!(
        o,
        "<footer><p>Written by {} {}. Command line: <code>{}</code></p></footer>\n<script>{SCRIPT}</script>\n</body></html>",
        text(&r.tool_name),
        text(&r.tool_version),
        text(&r.run.command_line.join(" "))
    );
    o
}

/// Evidence text as HTML: controls made visible, then entities.
pub fn text(s: &str) -> String {
    let s = crate::escape::controls(s);
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A relative link to a file this run wrote: its name percent-encoded
/// where it is no plain path character, then escaped as [`text`].
fn href(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"/._-".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    text(&out)
}

/// Multi-line evidence text (a Dockerfile): each line as [`text`].
fn lines(s: &str) -> String {
    s.lines().map(text).collect::<Vec<_>>().join("\n")
}

fn short(id: &str) -> String {
    crate::digest::short_id(crate::digest::hex_part(id)).to_string()
}

fn human(n: u64) -> String {
    crate::export::decimal_size(n, " ")
}

fn summary(o: &mut String, r: &CaseReport) {
    o.push_str("<section id=\"summary\"><h2>Summary: what needs attention</h2>\n");
    let verified = r.images.iter().filter(|i| i.verified).count();
    let _ = writeln!(
        o,
        "<div class=\"{}\"><p><strong>{} integrity finding(s)</strong>; {} container concern(s); {} of {} image(s) verified; {} container(s); {} event(s).</p></div>",
        if r.attention() > 0 {
            "attention"
        } else {
            "calm"
        },
        r.integrity.len(),
        r.concerns.len(),
        verified,
        r.images.len(),
        r.containers.len(),
        r.events.len()
    );
    if let Some(m) = &r.evidence.media
        && !m.verified()
    {
        let _ = write!(
            o,
            "<p class=\"bad\">The disk image's hashes: {}.</p>",
            text(&format!("{:?}", m.verdict))
        );
    }
    o.push_str("<h3 id=\"integrity\">Integrity findings</h3>\n");
    if r.integrity.is_empty() {
        o.push_str("<p class=\"ok\">None: every layer read hashes to its diff_id.</p>\n");
    } else {
        o.push_str("<table id=\"integrity-findings\"><thead><tr><th>Image</th><th>Layer</th><th>Kind</th><th>Path</th><th>Expected vs found</th></tr></thead><tbody>\n");
        for f in &r.integrity {
            let _ = writeln!(
                o,
                "<tr class=\"finding\"><td>{}<br><code>{}</code></td><td>{}</td><td class=\"bad\">{}</td><td><code>{}</code></td><td>{}</td></tr>",
                text(&f.image),
                text(&short(&f.image_id)),
                f.layer.map_or_else(
                    || "image".to_string(),
                    |l| format!(
                        "{l}<br><code>{}</code>",
                        text(&short(f.diff_id.as_deref().unwrap_or("")))
                    )
                ),
                text(&f.kind),
                match &f.saved {
                    Some(saved) => format!(
                        "<a href=\"{}\">{}</a> (as found)",
                        href(saved),
                        text(f.path.as_deref().unwrap_or(""))
                    ),
                    None => text(f.path.as_deref().unwrap_or("")),
                },
                text(&f.detail)
            );
        }
        o.push_str("</tbody></table>\n");
    }
    o.push_str("<h3 id=\"concerns\">Containers</h3>\n");
    if r.concerns.is_empty() {
        o.push_str("<p class=\"ok\">No container ran privileged, as root, with added capabilities, host mounts or secret-looking variables.</p>\n");
    } else {
        o.push_str("<table id=\"container-concerns\"><thead><tr><th>Container</th><th>Concern</th><th>Detail</th></tr></thead><tbody>\n");
        for c in &r.concerns {
            let _ = writeln!(
                o,
                "<tr class=\"concern\"><td><a href=\"#c-{}\">{}</a></td><td class=\"warn\">{}</td><td>{}</td></tr>",
                text(&short(&c.container_id)),
                text(&c.container),
                text(c.what),
                text(&c.detail)
            );
        }
        o.push_str("</tbody></table>\n");
    }
    if !r.problems.is_empty() {
        o.push_str("<h3>Not read</h3><ul>");
        for p in &r.problems {
            let _ = write!(o, "<li>{}</li>", text(p));
        }
        o.push_str("</ul>\n");
    }
    o.push_str("</section>\n");
}

fn evidence(o: &mut String, r: &CaseReport) {
    let e = &r.evidence;
    o.push_str("<section id=\"evidence\"><h2>Evidence chain</h2><dl class=\"kv\">\n");
    let mut kv = |k: &str, v: String| {
        let _ = writeln!(o, "<dt>{k}</dt><dd>{v}</dd>");
    };
    kv("Evidence", format!("<code>{}</code>", text(&e.source)));
    kv(
        "Format",
        text(e.format.as_deref().unwrap_or("directory tree")),
    );
    for (f, size) in &e.files {
        kv(
            "File",
            format!(
                "<code>{}</code>{}",
                text(f),
                size.map_or_else(String::new, |s| format!(" ({s} bytes)"))
            ),
        );
    }
    if let Some(a) = &e.acquisition {
        let opt = |v: &Option<String>| text(v.as_deref().unwrap_or("-"));
        kv("Case number", opt(&a.case_number));
        kv("Evidence number", opt(&a.evidence_number));
        kv("Examiner", opt(&a.examiner));
        kv("Description", opt(&a.description));
        kv(
            "Acquired",
            text(
                a.acquisition_date_utc
                    .as_deref()
                    .or(a.acquisition_date.as_deref())
                    .unwrap_or("-"),
            ),
        );
        kv("Acquisition software", opt(&a.acquisition_software));
        kv("Media size", format!("{} bytes", a.media_size));
        kv("Stored MD5", format!("<code>{}</code>", opt(&a.md5)));
        kv("Stored SHA-1", format!("<code>{}</code>", opt(&a.sha1)));
    }
    match &e.media {
        Some(m) => {
            let verdict = |x: Option<bool>| match x {
                Some(true) => "<span class=\"ok\">matches the stored hash</span>",
                Some(false) => "<span class=\"bad\">DOES NOT match the stored hash</span>",
                None => "no stored hash",
            };
            kv(
                "Computed MD5",
                format!("<code>{}</code> {}", text(&m.md5), verdict(m.md5_matches)),
            );
            kv(
                "Computed SHA-1",
                format!("<code>{}</code> {}", text(&m.sha1), verdict(m.sha1_matches)),
            );
            kv(
                "Computed SHA-256",
                format!("<code>{}</code>", text(&m.sha256)),
            );
        }
        None if e.format.is_some() => kv(
            "Computed hashes",
            "not computed (run with <code>--verify-image</code>)".into(),
        ),
        None => {}
    }
    for l in &e.image_info {
        kv("Image", text(l));
    }
    for (label, spec) in &e.volumes {
        kv(
            "Volume",
            format!("{}: <code>{}</code>", text(label), text(spec)),
        );
    }
    for d in &e.data_roots {
        kv(
            "Data root",
            format!(
                "<code>{}</code> on {} ({}) — {}",
                text(&d.path),
                text(&d.volume),
                text(&d.driver),
                text(&d.reason)
            ),
        );
    }
    for n in &e.notes {
        kv("Note", text(n));
    }
    kv(
        "Tool",
        format!("{} {}", text(&r.tool_name), text(&r.tool_version)),
    );
    kv(
        "Command line",
        format!("<code>{}</code>", text(&r.run.command_line.join(" "))),
    );
    kv("Started", text(&r.run.started));
    kv("Finished", text(&r.finished));
    o.push_str("</dl></section>\n");
}

fn images(o: &mut String, r: &CaseReport) {
    let _ = writeln!(
        o,
        "<section id=\"images\"><h2>Images ({})</h2>",
        r.images.len()
    );
    for img in &r.images {
        image(o, img);
    }
    o.push_str("</section>\n");
}

fn image(o: &mut String, img: &ImageEntry) {
    let tags = if img.tags.is_empty() {
        "&lt;untagged&gt;".to_string()
    } else {
        img.tags
            .iter()
            .map(|t| text(t))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let _ = writeln!(
        o,
        "<article class=\"image\" id=\"i-{}\"><h3>{tags} <span class=\"{}\">{}</span></h3>\n<dl class=\"kv\"><dt>Id</dt><dd><code class=\"image-id\">{}</code></dd><dt>Store</dt><dd>{}</dd><dt>Created</dt><dd>{}</dd><dt>Size</dt><dd>{} ({} bytes of layer tars)</dd><dt>Config</dt><dd>{}</dd></dl>",
        text(&short(&img.id)),
        if img.verified { "ok" } else { "bad" },
        if img.verified {
            "verified"
        } else {
            "NOT verified"
        },
        text(&img.id),
        text(&img.store),
        text(img.created.as_deref().unwrap_or("-")),
        human(img.size),
        img.size,
        if img.config_verified {
            "<span class=\"ok\">hashes to the id</span>"
        } else {
            "<span class=\"bad\">does not hash to the id</span>"
        }
    );
    if let Some(e) = &img.error {
        let _ = writeln!(o, "<p class=\"bad\">{}</p>", text(e));
    }
    if let Some(d) = &img.dir {
        let links: Vec<String> = [
            ("/", "directory"),
            ("/image.tar", "image.tar"),
            ("/Dockerfile", "Dockerfile"),
            ("/report.json", "report.json"),
            ("/SHA256SUMS", "SHA256SUMS"),
        ]
        .iter()
        .map(|(f, label)| format!("<a href=\"{}{f}\">{label}</a>", href(d)))
        .collect();
        let _ = writeln!(
            o,
            "<p class=\"written\">Written to <code>{}/</code>: {}</p>",
            text(d),
            links.join(" · ")
        );
    }
    if !img.layers.is_empty() {
        o.push_str("<table class=\"layers\"><thead><tr><th>#</th><th>diff_id</th><th>Size</th><th>How</th><th>Verified</th></tr></thead><tbody>\n");
        for l in &img.layers {
            let _ = writeln!(
                o,
                "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td class=\"{}\">{}</td></tr>",
                l.index,
                text(&l.diff_id),
                human(l.size),
                l.method,
                if l.verified { "ok" } else { "bad" },
                if l.verified {
                    "yes".to_string()
                } else {
                    format!(
                        "NO ({} finding(s); produced sha256:{})",
                        l.findings,
                        text(&l.sha256)
                    )
                }
            );
        }
        o.push_str("</tbody></table>\n");
    }
    if let Some(d) = &img.dockerfile {
        let _ = writeln!(
            o,
            "<details class=\"dockerfile\"><summary>Reconstructed Dockerfile</summary><pre>{}</pre></details>",
            lines(d)
        );
    }
    o.push_str("</article>\n");
}

/// Images on the left, distinct layers on the right, a line for each
/// image that sits on a layer.
fn layer_graph(o: &mut String, r: &CaseReport) {
    let _ = writeln!(
        o,
        "<section id=\"layers\"><h2>Layer sharing ({} distinct layer(s))</h2>",
        r.layers.len()
    );
    let row = 22usize;
    let h = (r.images.len().max(r.layers.len()) * row + 30).max(60);
    let (w, left, right) = (1000usize, 300usize, 620usize);
    let _ = writeln!(
        o,
        "<svg id=\"layer-graph\" role=\"img\" aria-label=\"images and the layers they use\" viewBox=\"0 0 {w} {h}\" width=\"100%\" style=\"max-height:{}px\"><text x=\"10\" y=\"14\" font-weight=\"bold\">Images</text><text x=\"{right}\" y=\"14\" font-weight=\"bold\">Layers (diff_id, size)</text>",
        h.max(100)
    );
    let y = |i: usize| 30 + i * row;
    for (li, l) in r.layers.iter().enumerate() {
        for &ii in &l.images {
            let _ = writeln!(
                o,
                "<line x1=\"{left}\" y1=\"{}\" x2=\"{right}\" y2=\"{}\" stroke=\"{}\" stroke-opacity=\"0.5\"/>",
                y(ii),
                y(li),
                if l.verified { "#8c959f" } else { "#a40e26" }
            );
        }
    }
    for (i, img) in r.images.iter().enumerate() {
        let name = img.tags.first().cloned().unwrap_or_else(|| short(&img.id));
        let _ = writeln!(
            o,
            "<a href=\"#i-{}\"><circle cx=\"{left}\" cy=\"{}\" r=\"4\" fill=\"#0969da\"/><text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}<title>{}</title></text></a>",
            text(&short(&img.id)),
            y(i),
            left - 8,
            y(i) + 4,
            text(&clip(&name, 40)),
            text(&img.id)
        );
    }
    for (i, l) in r.layers.iter().enumerate() {
        let _ = writeln!(
            o,
            "<circle cx=\"{right}\" cy=\"{}\" r=\"4\" fill=\"{}\"/><text x=\"{}\" y=\"{}\" class=\"mono\">{} {}{}<title>{}</title></text>",
            y(i),
            if l.verified { "#116329" } else { "#a40e26" },
            right + 8,
            y(i) + 4,
            text(&short(&l.key)),
            human(l.size),
            if l.images.len() > 1 {
                format!(", {} images", l.images.len())
            } else {
                String::new()
            },
            text(&l.key)
        );
    }
    o.push_str("</svg></section>\n");
}

fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    }
}

fn containers(o: &mut String, r: &CaseReport) {
    let _ = writeln!(
        o,
        "<section id=\"containers\"><h2>Containers ({})</h2>",
        r.containers.len()
    );
    for c in &r.containers {
        container(o, c);
    }
    o.push_str("</section>\n");
}

fn container(o: &mut String, e: &ContainerEntry) {
    let c = &e.container;
    let _ = write!(
        o,
        "<article class=\"container\" id=\"c-{}\"><h3 class=\"container-name\">{}</h3>\n<dl class=\"kv\">",
        text(&short(&c.id)),
        text(&c.name)
    );
    let mut kv = |k: &str, v: String| {
        let _ = write!(o, "<dt>{k}</dt><dd>{v}</dd>");
    };
    kv("Id", format!("<code>{}</code>", text(&c.id)));
    kv(
        "Image",
        format!(
            "{} <code>{}</code>",
            text(c.image_ref.as_deref().unwrap_or("")),
            text(&c.image_id)
        ),
    );
    kv("Store", text(&c.store));
    kv(
        "State",
        format!(
            "{}{}",
            text(&c.state),
            c.exit_code
                .map_or_else(String::new, |x| format!(" (exit code {x})"))
        ),
    );
    let t = |v: &Option<String>| text(v.as_deref().unwrap_or("-"));
    kv("Created", t(&c.created));
    kv("Started", t(&c.started));
    kv("Finished", t(&c.finished));
    let cmd = c.command_line();
    kv("Command", format!("<code>{}</code>", text(&cmd.join(" "))));
    kv(
        "User",
        text(
            c.user
                .as_deref()
                .filter(|u| !u.is_empty())
                .unwrap_or("(root)"),
        ),
    );
    if let Some(w) = &c.working_dir {
        kv("Working dir", format!("<code>{}</code>", text(w)));
    }
    if let Some(h) = &c.hostname {
        kv("Hostname", text(h));
    }
    if let Some(p) = c.privileged {
        kv(
            "Privileged",
            if p {
                "<span class=\"bad\">yes</span>".into()
            } else {
                "no".into()
            },
        );
    }
    if !c.cap_add.is_empty() {
        kv(
            "Capabilities added",
            format!(
                "<span class=\"warn\">{}</span>",
                text(&c.cap_add.join(", "))
            ),
        );
    }
    if !c.cap_drop.is_empty() {
        kv("Capabilities dropped", text(&c.cap_drop.join(", ")));
    }
    if let Some(n) = &c.network_mode {
        kv("Network", text(n));
    }
    let env: Vec<String> = c
        .env
        .iter()
        .map(|v| {
            let name = v.split('=').next().unwrap_or(v);
            if secret_looking(name) {
                format!("<li class=\"secret\"><code>{}</code> <span class=\"bad\">secret-looking</span></li>", text(v))
            } else {
                format!("<li><code>{}</code></li>", text(v))
            }
        })
        .collect();
    kv("Environment", list_or_none("env", &env));
    let mounts: Vec<String> = c
        .mounts
        .iter()
        .map(|m| {
            format!(
                "<li>{} <code>{}</code> → <code>{}</code> ({})</li>",
                text(&m.kind),
                text(m.source.as_deref().or(m.name.as_deref()).unwrap_or("-")),
                text(&m.destination),
                if m.read_write { "rw" } else { "ro" }
            )
        })
        .collect();
    kv("Mounts", list_or_none("mounts", &mounts));
    let ports: Vec<String> = c
        .ports
        .iter()
        .map(|p| {
            format!(
                "<li>{} ← {}:{}</li>",
                text(&p.container_port),
                text(if p.host_ip.is_empty() {
                    "*"
                } else {
                    &p.host_ip
                }),
                text(&p.host_port)
            )
        })
        .collect();
    kv("Ports", list_or_none("ports", &ports));
    for p in &c.problems {
        kv("Note", text(p));
    }
    o.push_str("</dl>\n");
    match &e.diff {
        Ok(list) => {
            let count = |k: char| list.iter().filter(|c| c.kind == k).count();
            // A long list starts closed: the page stays quick to open.
            let open = list.len() <= OPEN_UP_TO;
            let _ = writeln!(
                o,
                "<details class=\"diff\"{}><summary>Changes: {} ({} added, {} changed, {} deleted)</summary>",
                if open { " open" } else { "" },
                list.len(),
                count('A'),
                count('C'),
                count('D')
            );
            diff_tree(o, list, open);
            o.push_str("</details>\n");
        }
        Err(why) => {
            let _ = writeln!(o, "<p class=\"warn\">Changes not listed: {}</p>", text(why));
        }
    }
    o.push_str("</article>\n");
}

/// A `<ul>` of `items`, or "none".
fn list_or_none(class: &str, items: &[String]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        format!("<ul class=\"{class}\">{}</ul>", items.concat())
    }
}

/// One node of a diff tree.
#[derive(Default)]
struct Node {
    change: Option<(char, String)>,
    children: BTreeMap<String, Node>,
}

/// Deeper paths are shown with their remaining components as one name
/// (the page's nesting, and the renderer's recursion, stay bounded).
const MAX_TREE_DEPTH: usize = 64;

/// Diffs of up to this many changes are shown expanded.
const OPEN_UP_TO: usize = 200;

fn diff_tree(o: &mut String, list: &[Change], open: bool) {
    let mut root = Node::default();
    for ch in list {
        let parts: Vec<&str> = ch.path.split('/').filter(|p| !p.is_empty()).collect();
        let mut node = &mut root;
        let (head, tail) = parts.split_at(parts.len().min(MAX_TREE_DEPTH - 1));
        let mut names: Vec<String> = head.iter().map(|s| s.to_string()).collect();
        if !tail.is_empty() {
            names.push(tail.join("/"));
        }
        for n in names {
            node = node.children.entry(n).or_default();
        }
        node.change = Some((ch.kind, ch.path.clone()));
    }
    o.push_str("<ul class=\"tree\">");
    for (name, n) in &root.children {
        render_node(o, name, n, open);
    }
    o.push_str("</ul>\n");
}

/// A node, with a chain of unchanged directories that each hold one
/// entry shown as one (`var/lib/app`), as code browsers do.
fn render_node(o: &mut String, name: &str, n: &Node, open: bool) {
    let mut name = text(name);
    let mut n = n;
    while n.change.is_none()
        && n.children.len() == 1
        && let Some((child_name, child)) = n.children.iter().next()
        && !child.children.is_empty()
    {
        name = format!("{name}/{}", text(child_name));
        n = child;
    }
    match &n.change {
        Some((k, p)) => {
            let _ = write!(o, "<li class=\"k-{k}\" data-path=\"{}\">", text(p));
        }
        None => o.push_str("<li>"),
    }
    let letter = n.change.as_ref().map_or(' ', |(k, _)| *k);
    let label = format!("<b>{}</b>{name}", text(&letter.to_string()));
    if n.children.is_empty() {
        o.push_str(&label);
    } else {
        let _ = write!(
            o,
            "<details{}><summary>{label}</summary><ul class=\"tree\">",
            if open { " open" } else { "" }
        );
        for (cname, c) in &n.children {
            render_node(o, cname, c, open);
        }
        o.push_str("</ul></details>");
    }
    o.push_str("</li>");
}

/// The kinds of events, one lane each on the chart.
const LANES: &[(&str, &str, &str)] = &[
    ("image_created", "image created", "#0969da"),
    ("build_step", "build step", "#54aeff"),
    ("container_created", "container created", "#8250df"),
    ("container_started", "container started", "#116329"),
    ("container_finished", "container finished", "#a40e26"),
    ("file_changed", "file changed", "#bc4c00"),
    ("first_log_line", "first log line", "#6e7781"),
    ("last_log_line", "last log line", "#24292f"),
];

fn timeline(o: &mut String, r: &CaseReport) {
    let _ = writeln!(
        o,
        "<section id=\"timeline\"><h2>Timeline ({} event(s))</h2>",
        r.events.len()
    );
    chart(o, &r.events);
    o.push_str("<p data-js hidden><label>Filter <input id=\"event-filter\" type=\"search\" placeholder=\"text in any column\"></label> <label>Kind <select id=\"event-kind\"><option value=\"\">all</option>");
    for (k, label, _) in LANES {
        let _ = write!(o, "<option value=\"{k}\">{label}</option>");
    }
    o.push_str("</select></label></p>\n<table id=\"events\"><thead><tr><th>Time (UTC)</th><th>Event</th><th>Image / container</th><th>What</th></tr></thead><tbody>\n");
    for e in &r.events {
        let _ = writeln!(
            o,
            "<tr data-kind=\"{}\"><td class=\"mono\">{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
            e.kind,
            text(&e.when),
            e.kind.replace('_', " "),
            text(&e.subject),
            text(&clip(if e.what.is_empty() { "-" } else { &e.what }, 300))
        );
    }
    o.push_str("</tbody></table></section>\n");
}

/// Events over time: one lane per kind, a dot per event (its tooltip
/// says what), the first and last times at the ends of the axis.
fn chart(o: &mut String, events: &[Event]) {
    let (w, lane_h, left, pad) = (1000i64, 28i64, 140i64, 20i64);
    let h = LANES.len() as i64 * lane_h + 40;
    let _ = writeln!(
        o,
        "<svg id=\"timeline-chart\" role=\"img\" aria-label=\"events over time\" viewBox=\"0 0 {w} {h}\" width=\"100%\">"
    );
    for (i, (_, label, color)) in LANES.iter().enumerate() {
        let y = 20 + i as i64 * lane_h;
        let _ = writeln!(
            o,
            "<line class=\"lane\" x1=\"{left}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\"/><text x=\"4\" y=\"{}\" fill=\"{color}\">{label}</text>",
            w - pad,
            y + 4
        );
    }
    let (Some(first), Some(last)) = (events.first(), events.last()) else {
        o.push_str("<text x=\"400\" y=\"80\">no dated events</text></svg>\n");
        return;
    };
    let span = (last.epoch - first.epoch).max(1);
    let x = |t: i64| left + (t - first.epoch) * (w - pad - left) / span;
    for e in events {
        let Some(lane) = LANES.iter().position(|(k, _, _)| *k == e.kind) else {
            continue;
        };
        let _ = writeln!(
            o,
            "<circle cx=\"{}\" cy=\"{}\" r=\"4\" fill=\"{}\" fill-opacity=\"0.7\"><title>{} {}: {}</title></circle>",
            x(e.epoch),
            20 + lane as i64 * lane_h,
            LANES[lane].2,
            text(&e.when),
            text(&e.subject),
            text(&clip(&e.what, 200))
        );
    }
    let axis = 20 + LANES.len() as i64 * lane_h;
    let _ = writeln!(
        o,
        "<text x=\"{left}\" y=\"{axis}\">{}</text><text x=\"{}\" y=\"{axis}\" text-anchor=\"end\">{}</text></svg>",
        text(&first.when),
        w - pad,
        text(&last.when)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evidence_text_cannot_open_or_close_an_element() {
        assert_eq!(
            text("</style><script>alert('x')</script>&\"\u{1b}[31m"),
            "&lt;/style&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;\\x1b[31m"
        );
        assert_eq!(
            href("image_ab/findings/layer_3/a%20b\"<"),
            "image_ab/findings/layer_3/a%2520b%22%3C"
        );
    }

    #[test]
    fn a_deep_path_stays_a_bounded_tree() {
        let deep = "/d".repeat(20_000);
        let list = vec![Change {
            path: format!("{deep}/f"),
            kind: 'A',
            is_dir: false,
        }];
        let mut o = String::new();
        diff_tree(&mut o, &list, true);
        assert!(
            o.matches("<details").count() < MAX_TREE_DEPTH,
            "nesting bounded"
        );
        assert!(o.contains(&format!("data-path=\"{deep}/f\"")));
    }
}
