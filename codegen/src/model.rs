//! The parts of a botocore `service-2.json` the emitters use, read once into
//! plain structs (operations, shapes, exceptions), in a stable order.

use std::collections::BTreeMap;

use serde_json::Value;

/// Where a request member travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    Uri,
    QueryString,
    Header,
    Body,
}

impl Location {
    pub fn rust(self) -> &'static str {
        match self {
            Location::Uri => "Location::Uri",
            Location::QueryString => "Location::QueryString",
            Location::Header => "Location::Header",
            Location::Body => "Location::Body",
        }
    }
}

/// One member of a structure.
#[derive(Debug, Clone)]
pub struct Member {
    pub name: String,
    pub shape: String,
    pub location: Location,
    /// The name on the wire: the URI label, query key or header name (the member name for body members).
    pub location_name: String,
    pub required: bool,
    pub idempotency_token: bool,
}

/// One shape with its constraints.
#[derive(Debug, Clone)]
pub struct Shape {
    pub name: String,
    pub kind: String,
    pub min: Option<i64>,
    pub max: Option<i64>,
    pub pattern: Option<String>,
    pub enum_values: Vec<String>,
    pub sensitive: bool,
    /// Members of a structure, sorted by name.
    pub members: Vec<Member>,
    /// The member names in the order the model declares them (the order in
    /// which generated decoders read them).
    pub declared: Vec<String>,
    /// The element shape of a list.
    pub list_member: Option<String>,
    /// `Some(status)` when the shape is an exception.
    pub error_status: Option<u16>,
    /// True for server faults (5xx).
    pub fault: bool,
}

/// One operation.
#[derive(Debug, Clone)]
pub struct Operation {
    pub name: String,
    pub method: String,
    /// As the model writes it, with the query literal if any.
    pub request_uri: String,
    pub success_status: u16,
    pub input: Option<String>,
    pub output: Option<String>,
    /// Exception shape names in the model's order.
    pub errors: Vec<String>,
}

impl Operation {
    /// The path part of the request URI.
    pub fn path(&self) -> &str {
        self.request_uri
            .split_once('?')
            .map_or(self.request_uri.as_str(), |(p, _)| p)
    }

    /// The query literal (`operation=batch-create`) of the request URI, split at `=`.
    pub fn query_literal(&self) -> Option<(&str, &str)> {
        let (_, q) = self.request_uri.split_once('?')?;
        Some(q.split_once('=').unwrap_or((q, "")))
    }
}

/// The whole model.
#[derive(Debug, Clone)]
pub struct Model {
    pub api_version: String,
    pub service_id: String,
    pub signing_name: String,
    pub endpoint_prefix: String,
    pub protocol: String,
    /// Sorted by name.
    pub operations: Vec<Operation>,
    /// Sorted by name.
    pub shapes: BTreeMap<String, Shape>,
}

fn str_of<'a>(v: &'a Value, key: &str) -> Result<&'a str, String> {
    v.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("missing string {key:?}"))
}

impl Model {
    /// Reads a `service-2.json` document.
    pub fn parse(json: &str) -> Result<Model, String> {
        let doc: Value = serde_json::from_str(json).map_err(|e| format!("not JSON: {e}"))?;
        let meta = doc.get("metadata").ok_or("missing metadata")?;
        let mut order = declared_member_order(json)?;
        let mut shapes = BTreeMap::new();
        for (name, s) in doc
            .get("shapes")
            .and_then(Value::as_object)
            .ok_or("missing shapes")?
        {
            let mut shape = parse_shape(name, s)?;
            shape.declared = order.remove(name).unwrap_or_default();
            shapes.insert(name.clone(), shape);
        }
        let mut operations = Vec::new();
        for (name, o) in doc
            .get("operations")
            .and_then(Value::as_object)
            .ok_or("missing operations")?
        {
            operations
                .push(parse_operation(name, o).map_err(|e| format!("operation {name}: {e}"))?);
        }
        operations.sort_by(|a, b| a.name.cmp(&b.name));
        let model = Model {
            api_version: str_of(meta, "apiVersion")?.to_string(),
            service_id: str_of(meta, "serviceId")?.to_string(),
            signing_name: str_of(meta, "signingName")?.to_string(),
            endpoint_prefix: str_of(meta, "endpointPrefix")?.to_string(),
            protocol: str_of(meta, "protocol")?.to_string(),
            operations,
            shapes,
        };
        model.check()?;
        Ok(model)
    }

    /// Every shape named anywhere exists, and every operation error is an exception.
    fn check(&self) -> Result<(), String> {
        for s in self.shapes.values() {
            for m in &s.members {
                if !self.shapes.contains_key(&m.shape) {
                    return Err(format!(
                        "{}.{} names unknown shape {}",
                        s.name, m.shape, m.shape
                    ));
                }
            }
        }
        for op in &self.operations {
            for e in &op.errors {
                match self.shapes.get(e) {
                    Some(s) if s.error_status.is_some() => {}
                    _ => return Err(format!("{} lists {e}, which is not an exception", op.name)),
                }
            }
        }
        Ok(())
    }

    /// Exception shapes, sorted by name.
    pub fn exceptions(&self) -> impl Iterator<Item = &Shape> {
        self.shapes.values().filter(|s| s.error_status.is_some())
    }

    /// The exceptions every operation lists, sorted by name.
    pub fn common_errors(&self) -> Vec<String> {
        self.exceptions()
            .filter(|e| self.operations.iter().all(|o| o.errors.contains(&e.name)))
            .map(|e| e.name.clone())
            .collect()
    }

    /// A structure's members in the order the model declares them.
    pub fn declared_members<'a>(&'a self, shape: &'a Shape) -> impl Iterator<Item = &'a Member> {
        shape
            .declared
            .iter()
            .filter_map(|n| shape.members.iter().find(|m| &m.name == n))
    }

    /// The members of an operation's input (none when it has no input).
    pub fn input_members(&self, op: &Operation) -> &[Member] {
        op.input
            .as_ref()
            .and_then(|i| self.shapes.get(i))
            .map_or(&[], |s| s.members.as_slice())
    }
}

fn parse_member(name: &str, m: &Value, required: bool) -> Result<Member, String> {
    let location = match m.get("location").and_then(Value::as_str) {
        None => Location::Body,
        Some("uri") => Location::Uri,
        Some("querystring") => Location::QueryString,
        Some("header") => Location::Header,
        Some(other) => return Err(format!("member {name}: unknown location {other:?}")),
    };
    Ok(Member {
        name: name.to_string(),
        shape: str_of(m, "shape")?.to_string(),
        location,
        location_name: m
            .get("locationName")
            .and_then(Value::as_str)
            .unwrap_or(name)
            .to_string(),
        required,
        idempotency_token: m.get("idempotencyToken").and_then(Value::as_bool) == Some(true),
    })
}

fn parse_shape(name: &str, s: &Value) -> Result<Shape, String> {
    let required: Vec<&str> = s
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut members = Vec::new();
    if let Some(ms) = s.get("members").and_then(Value::as_object) {
        for (m_name, m) in ms {
            members.push(parse_member(
                m_name,
                m,
                required.contains(&m_name.as_str()),
            )?);
        }
    }
    let status = s
        .get("error")
        .and_then(|e| e.get("httpStatusCode"))
        .and_then(Value::as_u64)
        .and_then(|n| u16::try_from(n).ok());
    let is_exception = s.get("exception").and_then(Value::as_bool) == Some(true);
    Ok(Shape {
        name: name.to_string(),
        kind: str_of(s, "type")?.to_string(),
        min: s.get("min").and_then(Value::as_i64),
        max: s.get("max").and_then(Value::as_i64),
        pattern: s.get("pattern").and_then(Value::as_str).map(str::to_string),
        enum_values: s
            .get("enum")
            .and_then(Value::as_array)
            .map(|v| {
                v.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
        sensitive: s.get("sensitive").and_then(Value::as_bool) == Some(true),
        members,
        declared: Vec::new(),
        list_member: s
            .get("member")
            .and_then(|m| m.get("shape"))
            .and_then(Value::as_str)
            .map(str::to_string),
        error_status: if is_exception {
            Some(status.unwrap_or(400))
        } else {
            None
        },
        fault: s.get("fault").and_then(Value::as_bool) == Some(true),
    })
}

fn parse_operation(name: &str, o: &Value) -> Result<Operation, String> {
    let http = o.get("http").ok_or("missing http")?;
    let shape_of = |key: &str| {
        o.get(key)
            .and_then(|v| v.get("shape"))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    Ok(Operation {
        name: name.to_string(),
        method: str_of(http, "method")?.to_string(),
        request_uri: str_of(http, "requestUri")?.to_string(),
        success_status: http
            .get("responseCode")
            .and_then(Value::as_u64)
            .and_then(|n| u16::try_from(n).ok())
            .unwrap_or(200),
        input: shape_of("input"),
        output: shape_of("output"),
        errors: o
            .get("errors")
            .and_then(Value::as_array)
            .map(|v| {
                v.iter()
                    .filter_map(|e| e.get("shape").and_then(Value::as_str))
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
    })
}

/// A JSON value that keeps the order of object members (`serde_json::Value`
/// sorts them, and its `preserve_order` feature would reach the server's
/// build too).
enum Ordered {
    Object(Vec<(String, Ordered)>),
    Other,
}

impl<'de> serde::Deserialize<'de> for Ordered {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Ordered, D::Error> {
        d.deserialize_any(OrderedVisitor)
    }
}

struct OrderedVisitor;

impl<'de> serde::de::Visitor<'de> for OrderedVisitor {
    type Value = Ordered;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JSON")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Ordered, A::Error> {
        let mut members = Vec::new();
        while let Some((k, v)) = map.next_entry::<String, Ordered>()? {
            members.push((k, v));
        }
        Ok(Ordered::Object(members))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Ordered, A::Error> {
        while seq.next_element::<Ordered>()?.is_some() {}
        Ok(Ordered::Other)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Ordered, E> {
        Ok(Ordered::Other)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Ordered, E> {
        Ok(Ordered::Other)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Ordered, E> {
        Ok(Ordered::Other)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Ordered, E> {
        Ok(Ordered::Other)
    }

    fn visit_str<E>(self, _: &str) -> Result<Ordered, E> {
        Ok(Ordered::Other)
    }

    fn visit_unit<E>(self) -> Result<Ordered, E> {
        Ok(Ordered::Other)
    }
}

impl Ordered {
    fn get(&self, key: &str) -> Option<&Ordered> {
        match self {
            Ordered::Object(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            Ordered::Other => None,
        }
    }

    fn keys(&self) -> Vec<String> {
        match self {
            Ordered::Object(members) => members.iter().map(|(k, _)| k.clone()).collect(),
            Ordered::Other => Vec::new(),
        }
    }
}

/// Each shape's member names in the order the document declares them.
fn declared_member_order(json: &str) -> Result<BTreeMap<String, Vec<String>>, String> {
    let doc: Ordered = serde_json::from_str(json).map_err(|e| format!("not JSON: {e}"))?;
    let Some(Ordered::Object(shapes)) = doc.get("shapes") else {
        return Err("missing shapes".into());
    };
    Ok(shapes
        .iter()
        .map(|(name, s)| {
            (
                name.clone(),
                s.get("members").map(Ordered::keys).unwrap_or_default(),
            )
        })
        .collect())
}
