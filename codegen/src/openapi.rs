//! The OpenAPI 3.1 emitter: `openapi.json`, the description of the API that
//! Convene serves at `/openapi.json`.
//!
//! Shapes become `components.schemas`: strings with their length bounds, enum
//! and pattern (anchored: the server matches whole values), integers with
//! their bounds, lists, and structures with their body members (members bound
//! to the URI, the query string or a header become parameters instead).
//!
//! Operations that share a method and a path and differ only by the value of
//! the `operation` query parameter (CreateMeeting and CreateMeetingWithAttendees,
//! for example) are one OpenAPI operation: an `operation` parameter whose enum
//! lists the values, a request body that is `oneOf` the operations' bodies,
//! and responses that are `anyOf` their outputs. `x-amzn-operations` maps each
//! `operation` value to the model's operation name.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::model::{Location, Member, Model, Operation, Shape};

/// The error body every Convene error has (the shape AWS's REST-JSON services use).
const ERROR_SCHEMA: &str = "ConveneError";

fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

/// Shapes an operation's output can contain (outputs, and what they reach).
fn output_shapes(model: &Model) -> std::collections::BTreeSet<String> {
    let mut seen = std::collections::BTreeSet::new();
    let mut todo: Vec<String> = model
        .operations
        .iter()
        .filter_map(|o| o.output.clone())
        .collect();
    while let Some(name) = todo.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        if let Some(s) = model.shapes.get(&name) {
            todo.extend(s.members.iter().map(|m| m.shape.clone()));
            todo.extend(s.list_member.clone());
        }
    }
    seen
}

fn shape_schema(model: &Model, s: &Shape, in_output: bool) -> Value {
    let mut o = Map::new();
    match s.kind.as_str() {
        "string" => {
            o.insert("type".into(), json!("string"));
            if let Some(n) = s.min {
                o.insert("minLength".into(), json!(n));
            }
            if let Some(n) = s.max {
                o.insert("maxLength".into(), json!(n));
            }
            if !s.enum_values.is_empty() {
                o.insert("enum".into(), json!(s.enum_values));
            }
            if let Some(p) = &s.pattern {
                o.insert("pattern".into(), json!(format!("^(?:{p})$")));
            }
        }
        "integer" | "long" => {
            o.insert("type".into(), json!("integer"));
            if let Some(n) = s.min {
                o.insert("minimum".into(), json!(n));
            }
            if let Some(n) = s.max {
                o.insert("maximum".into(), json!(n));
            }
        }
        "boolean" => {
            o.insert("type".into(), json!("boolean"));
        }
        "list" => {
            o.insert("type".into(), json!("array"));
            if let Some(m) = &s.list_member {
                o.insert("items".into(), schema_ref(m));
            }
            match s.min {
                // The service answers an empty list where a request must give at
                // least one (TenantIds: []), so a list found in outputs keeps its
                // request-side minimum as a note only.
                Some(n) if in_output && n > 0 => {
                    o.insert("x-amzn-request-min-items".into(), json!(n));
                }
                Some(n) => {
                    o.insert("minItems".into(), json!(n));
                }
                None => {}
            }
            if let Some(n) = s.max {
                o.insert("maxItems".into(), json!(n));
            }
        }
        "structure" => {
            o.insert("type".into(), json!("object"));
            let body: Vec<&Member> = s
                .members
                .iter()
                .filter(|m| m.location == Location::Body)
                .collect();
            let props: Map<String, Value> = body
                .iter()
                .map(|m| (m.location_name.clone(), schema_ref(&m.shape)))
                .collect();
            o.insert("properties".into(), Value::Object(props));
            let required: Vec<&str> = body
                .iter()
                .filter(|m| m.required)
                .map(|m| m.location_name.as_str())
                .collect();
            if !required.is_empty() {
                o.insert("required".into(), json!(required));
            }
            if is_input(model, &s.name) {
                // Request bodies: only the model's members, so that the
                // alternatives of a oneOf cannot both match.
                o.insert("additionalProperties".into(), json!(false));
            }
        }
        other => {
            o.insert(
                "description".into(),
                json!(format!("model type {other} (not described)")),
            );
        }
    }
    if s.sensitive {
        o.insert("x-amzn-sensitive".into(), json!(true));
    }
    Value::Object(o)
}

fn is_input(model: &Model, shape: &str) -> bool {
    model
        .operations
        .iter()
        .any(|o| o.input.as_deref() == Some(shape))
}

/// The input shape has members that travel in the body.
fn has_body(model: &Model, op: &Operation) -> bool {
    model
        .input_members(op)
        .iter()
        .any(|m| m.location == Location::Body)
}

fn has_output_body(model: &Model, op: &Operation) -> bool {
    op.output
        .as_ref()
        .and_then(|o| model.shapes.get(o))
        .is_some_and(|s| !s.members.is_empty())
}

fn parameter(m: &Member) -> Value {
    let place = match m.location {
        Location::Uri => "path",
        Location::QueryString => "query",
        Location::Header => "header",
        Location::Body => unreachable!("body members are not parameters"),
    };
    json!({
        "name": m.location_name,
        "in": place,
        "required": m.required || m.location == Location::Uri,
        "schema": schema_ref(&m.shape),
    })
}

fn error_response(model: &Model, names: &[&String]) -> Value {
    let mut schemas: Vec<Value> = names.iter().map(|n| schema_ref(n)).collect();
    schemas.dedup();
    let schema = if schemas.len() == 1 {
        schemas.remove(0)
    } else {
        json!({ "anyOf": schemas })
    };
    let shapes: Vec<&str> = names
        .iter()
        .filter(|n| model.shapes.contains_key(n.as_str()))
        .map(|n| n.as_str())
        .collect();
    json!({
        "description": format!("Error: {}", shapes.join(", ")),
        "headers": {
            "x-amzn-ErrorType": {
                "description": "The exception's shape name",
                "schema": { "type": "string" },
            },
            "x-amzn-RequestId": { "schema": { "type": "string" } },
        },
        "content": { "application/json": { "schema": schema } },
    })
}

/// The URI labels of an operation's path (`MeetingId`, `AttendeeId`).
fn labels(op: &Operation) -> Vec<&str> {
    op.path()
        .split('/')
        .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
        .map(|s| s.trim_end_matches('+'))
        .collect()
}

/// OpenAPI links from a successful answer to the operations that take an id it
/// returns: an output member `X` whose structure has a member named like a URI
/// label (`Meeting.MeetingId`) feeds that label; the target's other labels come
/// from this request's path. Stateful testers follow them. In a path item
/// shared by several operations, a link that holds for only some of their
/// answers says which, in its `description`.
fn links(model: &Model, group: &[&Operation], groups: &[Vec<&Operation>]) -> Map<String, Value> {
    let own: Vec<&str> = labels(group[0]);
    let mut out = Map::new();
    for op in group {
        let Some(output) = op.output.as_ref().and_then(|o| model.shapes.get(o)) else {
            continue;
        };
        for x in &output.members {
            let note = partial_link_note(model, op, group, &x.name, &x.location_name);
            let Some(inner) = model.shapes.get(&x.shape).filter(|s| s.kind == "structure") else {
                continue;
            };
            for y in &inner.members {
                for target in groups {
                    let wanted = labels(target[0]);
                    if !wanted.contains(&y.name.as_str()) {
                        continue;
                    }
                    let mut params = Map::new();
                    let mut complete = true;
                    for l in &wanted {
                        if *l == y.name {
                            params.insert(
                                l.to_string(),
                                json!(format!(
                                    "$response.body#/{}/{}",
                                    x.location_name, y.location_name
                                )),
                            );
                        } else if own.contains(l) {
                            params.insert(l.to_string(), json!(format!("$request.path.{l}")));
                        } else {
                            complete = false;
                        }
                    }
                    if complete {
                        let id: Vec<&str> = target.iter().map(|o| o.name.as_str()).collect();
                        let id = id.join("Or");
                        let mut link = json!({ "operationId": id, "parameters": params });
                        if let Some(note) = &note {
                            link["description"] = json!(note);
                        }
                        out.insert(format!("{}To{id}", y.name), link);
                    }
                }
            }
        }
    }
    out
}

/// When output member `member` of `op` is missing from the answers of other
/// operations of the same path item, a sentence saying the link holds only
/// after `op` (how the `operation` query parameter selects it) and not after them.
fn partial_link_note(
    model: &Model,
    op: &Operation,
    group: &[&Operation],
    member: &str,
    location_name: &str,
) -> Option<String> {
    let lacking: Vec<&str> = group
        .iter()
        .filter(|o| {
            !o.output
                .as_ref()
                .and_then(|s| model.shapes.get(s))
                .is_some_and(|s| s.members.iter().any(|m| m.name == member))
        })
        .map(|o| o.name.as_str())
        .collect();
    if lacking.is_empty() {
        return None;
    }
    let when = match op.query_literal() {
        None => "without the `operation` query parameter".to_string(),
        Some((k, v)) => format!("with `{k}={v}`"),
    };
    Some(format!(
        "Holds only for {} ({when}): the answer of {} has no `{location_name}` member.",
        op.name,
        lacking.join(" or ")
    ))
}

/// One OpenAPI operation for every model operation sharing a method and path.
fn operation_object(model: &Model, group: &[&Operation], groups: &[Vec<&Operation>]) -> Value {
    let names: Vec<&str> = group.iter().map(|o| o.name.as_str()).collect();
    let mut op = Map::new();
    op.insert("operationId".into(), json!(names.join("Or")));
    op.insert("summary".into(), json!(names.join(" or ")));
    op.insert("tags".into(), json!([tag_of(group[0])]));

    // Parameters: the URI, query and header members of every operation, once each.
    let mut params: BTreeMap<(String, String), Value> = BTreeMap::new();
    for o in group {
        for m in model.input_members(o) {
            if m.location != Location::Body {
                let p = parameter(m);
                let key = (
                    p["in"].as_str().unwrap_or_default().to_string(),
                    m.location_name.clone(),
                );
                // Required only when every operation of the group requires it.
                let required_by_all = group.iter().all(|g| {
                    model.input_members(g).iter().any(|x| {
                        x.location_name == m.location_name
                            && x.location == m.location
                            && (x.required || x.location == Location::Uri)
                    })
                });
                let mut p = p;
                p["required"] = json!(required_by_all);
                params.entry(key).or_insert(p);
            }
        }
    }
    let literals: Vec<(Option<&str>, &str)> = group
        .iter()
        .map(|o| (o.query_literal().map(|(_, v)| v), o.name.as_str()))
        .collect();
    if literals.iter().any(|(l, _)| l.is_some()) {
        let key_name = group
            .iter()
            .find_map(|o| o.query_literal().map(|(k, _)| k))
            .unwrap_or("operation");
        let values: Vec<&str> = literals.iter().filter_map(|(l, _)| *l).collect();
        let which: Vec<String> = literals
            .iter()
            .map(|(l, n)| match l {
                Some(v) => format!("`{v}`: {n}"),
                None => format!("absent: {n}"),
            })
            .collect();
        params.insert(
            ("query".into(), key_name.to_string()),
            json!({
                "name": key_name,
                "in": "query",
                "required": literals.iter().all(|(l, _)| l.is_some()),
                "description": format!("Chooses the operation. {}.", which.join("; ")),
                "schema": { "type": "string", "enum": values },
            }),
        );
        let map: Map<String, Value> = literals
            .iter()
            .map(|(l, n)| (l.unwrap_or("").to_string(), json!(n)))
            .collect();
        op.insert("x-amzn-operations".into(), Value::Object(map));
    }
    // Path parameters first, then query, then headers, each sorted by name.
    let mut ordered: Vec<Value> = Vec::new();
    for place in ["path", "query", "header"] {
        ordered.extend(
            params
                .iter()
                .filter(|((p, _), _)| p == place)
                .map(|(_, v)| v.clone()),
        );
    }
    if !ordered.is_empty() {
        op.insert("parameters".into(), json!(ordered));
    }

    // Request body: oneOf the bodies of the operations that have one.
    let bodies: Vec<&Operation> = group
        .iter()
        .copied()
        .filter(|o| has_body(model, o))
        .collect();
    if !bodies.is_empty() {
        let schema = if group.len() == 1 {
            schema_ref(bodies[0].input.as_deref().unwrap_or_default())
        } else {
            json!({ "oneOf": bodies
                .iter()
                .map(|o| schema_ref(o.input.as_deref().unwrap_or_default()))
                .collect::<Vec<_>>() })
        };
        let required = bodies.len() == group.len()
            && bodies.iter().all(|o| {
                model
                    .input_members(o)
                    .iter()
                    .any(|m| m.location == Location::Body && m.required)
            });
        op.insert(
            "requestBody".into(),
            json!({
                "required": required,
                "content": { "application/json": { "schema": schema } },
            }),
        );
    }

    // Responses: the success status of each operation (anyOf their outputs),
    // every modeled error status, and the errors of the front end as `default`.
    let mut responses = Map::new();
    let mut by_status: BTreeMap<u16, Vec<&Operation>> = BTreeMap::new();
    for o in group {
        by_status.entry(o.success_status).or_default().push(o);
    }
    for (status, ops) in &by_status {
        let outputs: Vec<Value> = ops
            .iter()
            .filter(|o| has_output_body(model, o))
            .map(|o| schema_ref(o.output.as_deref().unwrap_or_default()))
            .collect();
        let names: Vec<&str> = ops.iter().map(|o| o.name.as_str()).collect();
        let mut r = json!({
            "description": format!("{} succeeded", names.join(" or ")),
            "headers": { "x-amzn-RequestId": { "schema": { "type": "string" } } },
        });
        if !outputs.is_empty() {
            let schema = if outputs.len() == 1 {
                outputs[0].clone()
            } else {
                json!({ "anyOf": outputs })
            };
            r["content"] = json!({ "application/json": { "schema": schema } });
            let l = links(model, group, groups);
            if !l.is_empty() {
                r["links"] = Value::Object(l);
            }
        }
        responses.insert(status.to_string(), r);
    }
    let mut errors: BTreeMap<u16, Vec<&String>> = BTreeMap::new();
    for o in group {
        for e in &o.errors {
            if let Some(status) = model.shapes.get(e).and_then(|s| s.error_status) {
                let list = errors.entry(status).or_default();
                if !list.contains(&e) {
                    list.push(e);
                }
            }
        }
    }
    for (status, names) in &errors {
        responses.insert(status.to_string(), error_response(model, names));
    }
    responses.insert(
        "default".into(),
        json!({
            "description": "An error outside the operation's model: authentication (403), an \
                unknown route (404), a body too large (413) or too slow (408), throttling (429)",
            "content": { "application/json": { "schema": schema_ref(ERROR_SCHEMA) } },
        }),
    );
    op.insert("responses".into(), Value::Object(responses));
    Value::Object(op)
}

/// The resource an operation is about, for grouping in viewers.
fn tag_of(op: &Operation) -> &'static str {
    let p = op.path();
    if p.starts_with("/tags") {
        "Tags"
    } else if p.contains("/attendees") {
        "Attendees"
    } else if p.contains("/transcription") {
        "Transcription"
    } else {
        "Meetings"
    }
}

/// The OpenAPI document, as pretty-printed JSON with a final newline.
pub fn emit(model: &Model) -> String {
    let mut groups: BTreeMap<(String, String), Vec<&Operation>> = BTreeMap::new();
    for op in &model.operations {
        groups
            .entry((op.path().to_string(), op.method.to_ascii_lowercase()))
            .or_default()
            .push(op);
    }
    let all: Vec<Vec<&Operation>> = groups.values().cloned().collect();
    let mut paths: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    for ((path, method), group) in &groups {
        paths
            .entry(path.clone())
            .or_default()
            .insert(method.clone(), operation_object(model, group, &all));
    }
    let mut schemas = Map::new();
    let outputs = output_shapes(model);
    for s in model.shapes.values() {
        schemas.insert(
            s.name.clone(),
            shape_schema(model, s, outputs.contains(&s.name)),
        );
    }
    schemas.insert(
        ERROR_SCHEMA.into(),
        json!({
            "type": "object",
            "description": "The body of every error answer; x-amzn-ErrorType names the shape.",
            "properties": {
                "Code": { "type": "string" },
                "Message": { "type": "string" },
                "RequestId": { "type": "string" },
            },
        }),
    );
    let doc = json!({
        "openapi": "3.1.0",
        "info": {
            "title": format!("{} API, as served by Convene", model.service_id),
            "version": model.api_version,
            "description": format!(
                "The {} API (version {}, protocol {}), generated from the AWS service model by \
                 Convene's codegen. Requests are signed with AWS Signature Version 4, signing \
                 name `{}`. Where two operations share a method and path, the `operation` query \
                 parameter chooses between them (see `x-amzn-operations`).",
                model.service_id, model.api_version, model.protocol, model.signing_name
            ),
            "license": { "name": "Apache-2.0" },
        },
        "servers": [{ "url": "http://127.0.0.1:8080", "description": "convene serve (default --listen)" }],
        "security": [{ "sigv4": [] }],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "sigv4": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": format!(
                        "AWS Signature Version 4 (service `{}`, any region), made with an access \
                         key Convene knows",
                        model.signing_name
                    ),
                },
            },
        },
    });
    let mut out = serde_json::to_string_pretty(&doc).expect("JSON values serialize");
    out.push('\n');
    out
}
