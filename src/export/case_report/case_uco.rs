//! `case.jsonld`: the run's provenance as CASE/UCO (the Cyber-investigation
//! Analysis Standard Expression, <https://caseontology.org>; the
//! Unified Cyber Ontology, <https://unifiedcyberontology.org>), in the
//! ontology's 1.x namespaces (unchanged from CASE 1.0 through 1.5, which
//! `case_validate` of PyPI's `case-utils` checks against).
//!
//! The graph holds: the tool (`tool:Tool`); the investigative action
//! (`investigation:InvestigativeAction`: command line, start and end, the
//! tool as instrument, the evidence as object, the files written as
//! results); the evidence file(s) (`observable:File` with a `FileFacet`)
//! and the medium they hold (a `ContentDataFacet` with the stored and
//! computed hashes) and, for an EWF image, its acquisition as a second
//! action; every image (its config's SHA-256, which is its id) and layer
//! (the uncompressed tar's SHA-256, its diff_id), and every container, as
//! `observable:ObservableObject`s; `core:Relationship`s between them
//! (`Contained_Within`, `Child_Of`). Every node has an IRI ending in a
//! UUID made from a hash of what it names, so a second run names the same
//! things alike.

use super::model::CaseReport;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// A file the run wrote: its name in the output directory, size and
/// SHA-256 (hex).
#[derive(Debug, Clone)]
pub struct Output {
    /// Its name, relative to the output directory.
    pub name: String,
    /// Its path as written.
    pub path: String,
    /// Its length.
    pub size: u64,
    /// SHA-256, hex.
    pub sha256: String,
}

/// A node's IRI: `kb:<kind>-<uuid>`, the UUID taken from a hash of `seed`.
fn iri(kind: &str, seed: &str) -> String {
    let h = Sha256::digest(format!("{kind}\0{seed}").as_bytes());
    let mut b: [u8; 16] = [0; 16];
    b.copy_from_slice(&h[..16]);
    // Version 4 / RFC 4122 variant bits, so that the text is a UUID.
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let x = hex::encode(b);
    format!(
        "kb:{kind}-{}-{}-{}-{}-{}",
        &x[..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..]
    )
}

fn int(n: u64) -> Value {
    json!({"@type": "xsd:integer", "@value": n.to_string()})
}

fn time(t: &str) -> Value {
    json!({"@type": "xsd:dateTime", "@value": t})
}

fn hash(owner: &str, method: &str, hex: &str) -> Value {
    json!({
        "@id": iri("hash", &format!("{owner}\0{method}")),
        "@type": "types:Hash",
        "types:hashMethod": method,
        "types:hashValue": {"@type": "xsd:hexBinary", "@value": hex.to_ascii_uppercase()},
    })
}

/// A hex digest as found in the evidence, if it is one (`sha256:` and
/// case set aside).
fn hex_digest(s: &str, len: usize) -> Option<String> {
    let h = crate::digest::hex_part(s);
    (h.len() == len && h.bytes().all(|b| b.is_ascii_hexdigit())).then(|| h.to_ascii_lowercase())
}

fn relationship(source: &str, target: &str, kind: &str) -> Value {
    json!({
        "@id": iri("relationship", &format!("{source}\0{target}\0{kind}")),
        "@type": "core:Relationship",
        "core:source": {"@id": source},
        "core:target": {"@id": target},
        "core:kindOfRelationship": kind,
        "core:isDirectional": true,
    })
}

/// The JSON-LD document for the report and the files it wrote.
pub fn document(r: &CaseReport, outputs: &[Output]) -> Value {
    let mut graph: Vec<Value> = Vec::new();
    let run_seed = format!("{}\0{}", r.run.started, r.run.command_line.join("\0"));

    let tool = iri("tool", &format!("{}\0{}", r.tool_name, r.tool_version));
    graph.push(json!({
        "@id": tool,
        "@type": "tool:Tool",
        "core:name": r.tool_name,
        "tool:version": r.tool_version,
        "tool:toolType": "forensic analysis",
    }));

    // The evidence: each file, then the medium they hold.
    let mut evidence_ids = Vec::new();
    for (path, size) in &r.evidence.files {
        let id = iri("file", path);
        let name = std::path::Path::new(path)
            .file_name()
            .map_or_else(|| path.clone(), |n| n.to_string_lossy().into_owned());
        let mut facet = json!({
            "@id": iri("file-facet", path),
            "@type": "observable:FileFacet",
            "observable:fileName": name,
            "observable:filePath": path,
        });
        if let Some(s) = size {
            facet["observable:sizeInBytes"] = int(*s);
        }
        graph.push(json!({
            "@id": id,
            "@type": "observable:File",
            "core:description": "evidence as given to the tool",
            "core:hasFacet": [facet],
        }));
        evidence_ids.push(id);
    }
    let e = &r.evidence;
    if e.format.is_some() {
        let medium = iri("medium", &e.source);
        let mut hashes = Vec::new();
        let a = e.acquisition.as_ref();
        let m = e.media.as_ref();
        let md5 = m
            .map(|m| m.md5.clone())
            .or_else(|| a.and_then(|a| a.md5.clone()));
        let sha1 = m
            .map(|m| m.sha1.clone())
            .or_else(|| a.and_then(|a| a.sha1.clone()));
        if let Some(h) = md5.as_deref().and_then(|h| hex_digest(h, 32)) {
            hashes.push(hash(&medium, "MD5", &h));
        }
        if let Some(h) = sha1.as_deref().and_then(|h| hex_digest(h, 40)) {
            hashes.push(hash(&medium, "SHA1", &h));
        }
        if let Some(h) = m.and_then(|m| hex_digest(&m.sha256, 64)) {
            hashes.push(hash(&medium, "SHA256", &h));
        }
        let mut facet = json!({
            "@id": iri("content-facet", &medium),
            "@type": "observable:ContentDataFacet",
        });
        if let Some(size) = m.map(|m| m.size).or(a.map(|a| a.media_size)) {
            facet["observable:sizeInBytes"] = int(size);
        }
        if !hashes.is_empty() {
            facet["observable:hash"] = Value::Array(hashes);
        }
        graph.push(json!({
            "@id": medium,
            "@type": "observable:ObservableObject",
            "core:name": format!("the disk image's medium ({})", e.format.as_deref().unwrap_or("")),
            "core:description": match m {
                Some(m) => format!("hashes computed by --verify-image: {:?}", m.verdict),
                None => "hashes as stored by the acquisition tool, not recomputed".to_string(),
            },
            "core:hasFacet": [facet],
        }));
        for f in &evidence_ids {
            graph.push(relationship(&medium, f, "Contained_Within"));
        }
        if let Some(a) = a {
            let id = iri("acquisition", &e.source);
            let mut act = json!({
                "@id": id,
                "@type": "investigation:InvestigativeAction",
                "core:name": "acquisition",
                "core:description": format!(
                    "case {}, evidence {}, examiner {}, software {}, description {}",
                    a.case_number.as_deref().unwrap_or("-"),
                    a.evidence_number.as_deref().unwrap_or("-"),
                    a.examiner.as_deref().unwrap_or("-"),
                    a.acquisition_software.as_deref().unwrap_or("-"),
                    a.description.as_deref().unwrap_or("-"),
                ),
                "action:result": evidence_ids.iter().map(|i| json!({"@id": i})).collect::<Vec<_>>(),
            });
            if let Some(t) = a
                .acquisition_date_utc
                .as_deref()
                .and_then(crate::time::parse)
            {
                act["action:endTime"] = time(&t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
            }
            graph.push(act);
        }
    }
    let within = evidence_ids.first().cloned();

    // Images and their layers.
    let mut image_ids = std::collections::BTreeMap::new();
    for img in &r.images {
        let id = iri("image", &format!("{}\0{}", img.store, img.id));
        image_ids.insert(img.id.clone(), id.clone());
        let mut facet = json!({
            "@id": iri("content-facet", &id),
            "@type": "observable:ContentDataFacet",
        });
        if let Some(h) = hex_digest(&img.id, 64) {
            facet["observable:hash"] = json!([hash(&id, "SHA256", &h)]);
        }
        graph.push(json!({
            "@id": id,
            "@type": "observable:ObservableObject",
            "core:name": if img.tags.is_empty() { img.id.clone() } else { img.tags.join(", ") },
            "core:description": format!(
                "container image {} in store {}; its config hashes to its id: {}; every layer verified: {}",
                img.id, img.store, img.config_verified, img.verified
            ),
            "core:hasFacet": [facet],
        }));
        if let Some(w) = &within {
            graph.push(relationship(&id, w, "Contained_Within"));
        }
    }
    for l in &r.layers {
        let id = iri("layer", &l.key);
        let mut facet = json!({
            "@id": iri("content-facet", &id),
            "@type": "observable:ContentDataFacet",
            "observable:sizeInBytes": int(l.size),
        });
        if let Some(h) = hex_digest(&l.key, 64) {
            facet["observable:hash"] = json!([hash(&id, "SHA256", &h)]);
        }
        graph.push(json!({
            "@id": id,
            "@type": "observable:ObservableObject",
            "core:name": format!("layer {}", l.key),
            "core:description": format!(
                "uncompressed layer tar (its SHA-256 is the diff_id); reproduced byte for byte: {}",
                l.verified
            ),
            "core:hasFacet": [facet],
        }));
        for &i in &l.images {
            if let Some(img) = r.images.get(i).and_then(|im| image_ids.get(&im.id)) {
                graph.push(relationship(&id, img, "Contained_Within"));
            }
        }
    }
    for c in &r.containers {
        let c = &c.container;
        let id = iri("container", &format!("{}\0{}", c.store, c.id));
        graph.push(json!({
            "@id": id,
            "@type": "observable:ObservableObject",
            "core:name": c.name,
            "core:description": format!(
                "container {} in store {}, state {}, created {}",
                c.id,
                c.store,
                c.state,
                c.created.as_deref().unwrap_or("-")
            ),
        }));
        if let Some(img) = image_ids.get(&c.image_id) {
            graph.push(relationship(&id, img, "Child_Of"));
        }
        if let Some(w) = &within {
            graph.push(relationship(&id, w, "Contained_Within"));
        }
    }

    // What the run wrote.
    let mut result_ids = Vec::new();
    for o in outputs {
        let id = iri("output", &format!("{run_seed}\0{}", o.name));
        graph.push(json!({
            "@id": id,
            "@type": "observable:File",
            "core:hasFacet": [
                {
                    "@id": iri("file-facet", &id),
                    "@type": "observable:FileFacet",
                    "observable:fileName": o.name,
                    "observable:filePath": o.path,
                    "observable:sizeInBytes": int(o.size),
                },
                {
                    "@id": iri("content-facet", &id),
                    "@type": "observable:ContentDataFacet",
                    "observable:sizeInBytes": int(o.size),
                    "observable:hash": [hash(&id, "SHA256", &o.sha256)],
                }
            ],
        }));
        result_ids.push(id);
    }

    let mut action = json!({
        "@id": iri("action", &run_seed),
        "@type": "investigation:InvestigativeAction",
        "core:name": "docker-forensics report",
        "core:description": format!("command line: {}", r.run.command_line.join(" ")),
        "action:startTime": time(&r.run.started),
        "action:endTime": time(&r.finished),
        "action:instrument": {"@id": tool},
        "action:object": evidence_ids.iter().map(|i| json!({"@id": i})).collect::<Vec<_>>(),
        "action:result": result_ids
            .iter()
            .chain(image_ids.values())
            .map(|i| json!({"@id": i}))
            .collect::<Vec<_>>(),
    });
    if evidence_ids.is_empty() {
        action.as_object_mut().map(|o| o.remove("action:object"));
    }
    graph.push(action);

    json!({
        "@context": {
            "kb": "http://example.org/kb/",
            "core": "https://ontology.unifiedcyberontology.org/uco/core/",
            "observable": "https://ontology.unifiedcyberontology.org/uco/observable/",
            "action": "https://ontology.unifiedcyberontology.org/uco/action/",
            "tool": "https://ontology.unifiedcyberontology.org/uco/tool/",
            "types": "https://ontology.unifiedcyberontology.org/uco/types/",
            "vocabulary": "https://ontology.unifiedcyberontology.org/uco/vocabulary/",
            "investigation": "https://ontology.caseontology.org/case/investigation/",
            "xsd": "http://www.w3.org/2001/XMLSchema#",
        },
        "@graph": graph,
    })
}
