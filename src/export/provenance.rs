//! Build provenance from BuildKit attestations: the in-toto statement
//! (in-toto Statement v0.1 / v1) an attestation manifest carries as a
//! layer of media type `application/vnd.in-toto+json`, with a SLSA
//! provenance predicate, v0.2 (`https://slsa.dev/provenance/v0.2`) or v1
//! (`https://slsa.dev/provenance/v1`).
//!
//! Where BuildKit puts each fact (BuildKit `docs/attestations/
//! slsa-definitions.md`, Docker docs "SLSA definitions"; storage in
//! `docs/attestations/attestation-storage.md`):
//!
//! | fact | v0.2 | v1 |
//! |---|---|---|
//! | builder id | `predicate.builder.id` | `predicate.runDetails.builder.id` |
//! | frontend, build args | `predicate.invocation.parameters.{frontend,args}` | `predicate.buildDefinition.externalParameters.request.{frontend,args}` |
//! | config source (vcs, Dockerfile path) | `predicate.invocation.configSource` | `predicate.buildDefinition.externalParameters.configSource` |
//! | base images and other inputs | `predicate.materials` | `predicate.buildDefinition.resolvedDependencies` |
//! | BuildKit metadata (`vcs`, `source.infos[]`: the Dockerfile, `mode=max` only) | `predicate.metadata["https://mobyproject.org/buildkit@v1#metadata"]` | `predicate.runDetails.metadata.buildkit_metadata` |
//!
//! The statements are evidence: each is bounded in size (the store refuses
//! blobs over 16 MiB) and in JSON nesting before it is parsed, and every
//! field is optional.

use crate::store::model::{Attestation, AttestationStatement};
use base64::Engine;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// JSON nested deeper than this is not parsed.
const MAX_DEPTH: usize = 64;
/// A recorded Dockerfile larger than this is not kept.
const DOCKERFILE_LIMIT: usize = 4 << 20;
/// The BuildKit metadata key of SLSA v0.2 provenance.
const BUILDKIT_METADATA_V02: &str = "https://mobyproject.org/buildkit@v1#metadata";

/// What an image's provenance attestation says about its build.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Provenance {
    /// Digest of the attestation manifest.
    pub attestation_manifest: String,
    /// The platform manifest it is about (`vnd.docker.reference.digest`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refers_to: Option<String>,
    /// Digest of the in-toto statement read.
    pub statement: String,
    /// The statement's `predicateType` (SLSA provenance v0.2 or v1).
    pub predicate_type: String,
    /// Every predicate type the attestation manifest names.
    pub predicate_types: Vec<String>,
    /// The statement's subjects: image references with their digests.
    pub subjects: Vec<Material>,
    /// Who built it (`builder.id`; BuildKit leaves it empty unless set).
    pub builder_id: Option<String>,
    /// `buildType`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build_type: Option<String>,
    /// The frontend (`dockerfile.v0`, `gateway.v0`).
    pub frontend: Option<String>,
    /// Build arguments and frontend options as recorded (`build-arg:X`,
    /// `target`, ...).
    pub build_args: BTreeMap<String, String>,
    /// Base images and other inputs, with their digests.
    pub materials: Vec<Material>,
    /// Where the build definition came from (a git or HTTP context, the
    /// Dockerfile path), and version control facts.
    pub source: Source,
    /// The platform the build ran for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// When the build started and finished, as BuildKit recorded it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build_started_on: Option<String>,
    /// See `build_started_on`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build_finished_on: Option<String>,
    /// BuildKit's invocation id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invocation_id: Option<String>,
    /// The Dockerfile BuildKit recorded (`mode=max`): its name, size and
    /// sha256; its bytes are written as `Dockerfile.recorded`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dockerfile: Option<RecordedDockerfile>,
    /// What could not be read.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

/// An input or subject: a URI (`pkg:docker/fxbase@1?platform=…`) and
/// its digests by algorithm.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Material {
    /// The URI or name.
    pub uri: String,
    /// Digests by algorithm (`sha256` → hex).
    pub digest: BTreeMap<String, String>,
}

/// Where a build's definition came from.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Source {
    /// The context URI (`https://github.com/…git#ref`), for remote
    /// contexts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// Its immutable digest (`sha1` of a git commit, ...).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub digest: BTreeMap<String, String>,
    /// The Dockerfile's path (`entryPoint` / `path`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// BuildKit's `vcs` facts (`source`, `revision`, `localdir:…`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub vcs: BTreeMap<String, String>,
}

/// The Dockerfile recorded in the provenance.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RecordedDockerfile {
    /// Its file name as recorded (`Dockerfile`).
    pub filename: String,
    /// Length in bytes.
    pub size: u64,
    /// sha256 of its bytes (hex; JSON says `sha256:<hex>`).
    #[serde(serialize_with = "crate::schema::sha256")]
    pub sha256: String,
    /// The bytes (written to `Dockerfile.recorded`, not to the report).
    #[serde(skip)]
    pub data: Vec<u8>,
}

/// The provenance of the first attestation that carries a readable SLSA
/// provenance statement; `None` when there is none.
pub fn provenance(attestations: &[Attestation]) -> Option<Provenance> {
    attestations.iter().find_map(|a| {
        let predicate_types: Vec<String> = a
            .statements
            .iter()
            .filter_map(|s| s.predicate_type.clone())
            .collect();
        let mut problems = Vec::new();
        for s in &a.statements {
            match from_statement(a, s) {
                Ok(Some(mut p)) => {
                    p.predicate_types = predicate_types;
                    p.problems.extend(problems);
                    return Some(p);
                }
                Ok(None) => {}
                Err(e) => problems.push(format!("statement {}: {e}", s.digest)),
            }
        }
        (!problems.is_empty()).then(|| Provenance {
            attestation_manifest: a.manifest_digest.clone(),
            refers_to: a.refers_to.clone(),
            predicate_types,
            problems,
            ..Default::default()
        })
    })
}

/// Parses one statement; `Ok(None)` when it is not SLSA provenance.
fn from_statement(a: &Attestation, s: &AttestationStatement) -> Result<Option<Provenance>, String> {
    if s.predicate_type
        .as_deref()
        .is_some_and(|t| !is_slsa_provenance(t))
    {
        return Ok(None);
    }
    let Some(bytes) = &s.bytes else {
        return Err("not in the content store, or over the size bound".into());
    };
    let depth = json_depth(bytes);
    if depth > MAX_DEPTH {
        return Err(format!(
            "JSON nested {depth} deep, over the bound of {MAX_DEPTH}"
        ));
    }
    let v: Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    let predicate_type = text(&v, &["predicateType"]).unwrap_or_default();
    if !is_slsa_provenance(&predicate_type) {
        return Ok(None);
    }
    let pred = v.get("predicate").cloned().unwrap_or(Value::Null);
    let mut p = Provenance {
        attestation_manifest: a.manifest_digest.clone(),
        refers_to: a.refers_to.clone(),
        statement: s.digest.clone(),
        subjects: materials(v.get("subject"), "name"),
        predicate_type: predicate_type.clone(),
        ..Default::default()
    };
    let (params, config_source, buildkit) = if predicate_type.ends_with("/v0.2") {
        p.builder_id = text(&pred, &["builder", "id"]);
        p.build_type = text(&pred, &["buildType"]);
        p.materials = materials(pred.get("materials"), "uri");
        p.platform = text(&pred, &["invocation", "environment", "platform"]);
        p.build_started_on = text(&pred, &["metadata", "buildStartedOn"]);
        p.build_finished_on = text(&pred, &["metadata", "buildFinishedOn"]);
        p.invocation_id = text(&pred, &["metadata", "buildInvocationID"]);
        (
            at(&pred, &["invocation", "parameters"]),
            at(&pred, &["invocation", "configSource"]),
            at(&pred, &["metadata", BUILDKIT_METADATA_V02]),
        )
    } else {
        p.builder_id = text(&pred, &["runDetails", "builder", "id"]);
        p.build_type = text(&pred, &["buildDefinition", "buildType"]);
        p.materials = materials(
            at(&pred, &["buildDefinition", "resolvedDependencies"]),
            "uri",
        );
        p.platform = text(
            &pred,
            &["buildDefinition", "internalParameters", "builderPlatform"],
        );
        p.build_started_on = text(&pred, &["runDetails", "metadata", "startedOn"]);
        p.build_finished_on = text(&pred, &["runDetails", "metadata", "finishedOn"]);
        p.invocation_id = text(&pred, &["runDetails", "metadata", "invocationID"]);
        (
            at(&pred, &["buildDefinition", "externalParameters", "request"]),
            at(
                &pred,
                &["buildDefinition", "externalParameters", "configSource"],
            ),
            at(&pred, &["runDetails", "metadata", "buildkit_metadata"]),
        )
    };
    if let Some(params) = params {
        p.frontend = text(params, &["frontend"]);
        if let Some(args) = params.get("args").and_then(Value::as_object) {
            p.build_args = args
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str().map_or_else(|| v.to_string(), String::from),
                    )
                })
                .collect();
        }
    }
    if let Some(cs) = config_source {
        p.source.uri = text(cs, &["uri"]);
        p.source.digest = digests(cs.get("digest"));
        p.source.path = text(cs, &["entryPoint"]).or_else(|| text(cs, &["path"]));
    }
    if let Some(bk) = buildkit {
        if let Some(vcs) = bk.get("vcs").and_then(Value::as_object) {
            p.source.vcs = vcs
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect();
        }
        match dockerfile(bk, p.source.path.as_deref()) {
            Ok(d) => p.dockerfile = d,
            Err(e) => p.problems.push(e),
        }
    }
    Ok(Some(p))
}

/// True for SLSA provenance predicate types (v0.1, v0.2, v1).
fn is_slsa_provenance(t: &str) -> bool {
    t.starts_with("https://slsa.dev/provenance/")
}

/// The Dockerfile among BuildKit's `source.infos` (`mode=max`): the entry
/// named like the config source's path, else the one in language
/// `Dockerfile`.
fn dockerfile(bk: &Value, path: Option<&str>) -> Result<Option<RecordedDockerfile>, String> {
    let Some(infos) = at(bk, &["source", "infos"]).and_then(Value::as_array) else {
        return Ok(None);
    };
    let named = |i: &&Value| path.is_some_and(|p| text(i, &["filename"]).as_deref() == Some(p));
    let is_dockerfile = |i: &&Value| text(i, &["language"]).as_deref() == Some("Dockerfile");
    let Some(info) = infos
        .iter()
        .find(named)
        .or_else(|| infos.iter().find(is_dockerfile))
    else {
        return Ok(None);
    };
    let Some(data) = info.get("data").and_then(Value::as_str) else {
        return Ok(None);
    };
    if data.len() > DOCKERFILE_LIMIT * 4 / 3 + 4 {
        return Err(format!(
            "the recorded Dockerfile is over {DOCKERFILE_LIMIT} bytes: not kept"
        ));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data)
        .map_err(|e| format!("the recorded Dockerfile is not base64: {e}"))?;
    Ok(Some(RecordedDockerfile {
        filename: text(info, &["filename"]).unwrap_or_else(|| "Dockerfile".into()),
        size: bytes.len() as u64,
        sha256: crate::digest::sha256_hex(&bytes),
        data: bytes,
    }))
}

fn at<'v>(v: &'v Value, path: &[&str]) -> Option<&'v Value> {
    path.iter().try_fold(v, |v, k| v.get(k))
}

fn text(v: &Value, path: &[&str]) -> Option<String> {
    at(v, path)?
        .as_str()
        .filter(|s| !s.is_empty())
        .map(String::from)
}

fn digests(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .map(|o| {
            o.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// `[{<key>: "...", "digest": {...}}]` → materials.
fn materials(v: Option<&Value>, key: &str) -> Vec<Material> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|m| Material {
                    uri: text(m, &[key]).unwrap_or_default(),
                    digest: digests(m.get("digest")),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The deepest nesting of arrays and objects in a JSON text (strings
/// skipped), without parsing it.
fn json_depth(bytes: &[u8]) -> usize {
    let (mut depth, mut max, mut in_str, mut escaped) = (0usize, 0usize, false, false);
    for &b in bytes {
        if in_str {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_str = true,
            b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attestation(statement: &str) -> Attestation {
        Attestation {
            manifest_digest: "sha256:aa".into(),
            refers_to: Some("sha256:bb".into()),
            statements: vec![AttestationStatement {
                digest: "sha256:cc".into(),
                media_type: "application/vnd.in-toto+json".into(),
                predicate_type: None,
                bytes: Some(statement.as_bytes().to_vec()),
            }],
        }
    }

    #[test]
    fn slsa_v1_mode_max_with_dockerfile_and_vcs() {
        let df = base64::engine::general_purpose::STANDARD.encode("FROM alpine\nRUN true\n");
        let st = format!(
            r#"{{"_type":"https://in-toto.io/Statement/v1","predicateType":"https://slsa.dev/provenance/v1",
            "subject":[{{"name":"pkg:docker/app@1","digest":{{"sha256":"11"}}}}],
            "predicate":{{"buildDefinition":{{"buildType":"bt",
              "externalParameters":{{"configSource":{{"uri":"https://example.com/r.git#main","digest":{{"sha1":"ab"}},"path":"Dockerfile"}},
                "request":{{"frontend":"dockerfile.v0","args":{{"build-arg:V":"1"}}}}}},
              "resolvedDependencies":[{{"uri":"pkg:docker/alpine@3","digest":{{"sha256":"22"}}}}]}},
            "runDetails":{{"builder":{{"id":"https://ci.example/run/1"}},
              "metadata":{{"invocationID":"x","buildkit_metadata":{{"vcs":{{"revision":"ab","source":"https://example.com/r.git"}},
                "source":{{"infos":[{{"filename":"Dockerfile","language":"Dockerfile","data":"{df}"}}]}}}}}}}}}}}}"#
        );
        let p = provenance(&[attestation(&st)]).unwrap();
        assert_eq!(p.builder_id.as_deref(), Some("https://ci.example/run/1"));
        assert_eq!(p.frontend.as_deref(), Some("dockerfile.v0"));
        assert_eq!(p.build_args["build-arg:V"], "1");
        assert_eq!(p.materials[0].digest["sha256"], "22");
        assert_eq!(p.source.vcs["revision"], "ab");
        assert_eq!(p.source.digest["sha1"], "ab");
        let d = p.dockerfile.unwrap();
        assert_eq!(d.data, b"FROM alpine\nRUN true\n");
        assert_eq!(d.filename, "Dockerfile");
    }

    #[test]
    fn hostile_statements_are_refused_not_fatal() {
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let p = provenance(&[attestation(&deep)]).unwrap();
        assert!(p.problems[0].contains("nested"), "{:?}", p.problems);
        let p = provenance(&[attestation("{not json")]).unwrap();
        assert_eq!(p.problems.len(), 1);
        // Not provenance at all: nothing to say.
        let spdx = r#"{"predicateType":"https://spdx.dev/Document","predicate":{}}"#;
        assert!(provenance(&[attestation(spdx)]).is_none());
        assert_eq!(json_depth(br#"{"a":"[[[[","b":[1,{"c":2}]}"#), 3);
    }
}
