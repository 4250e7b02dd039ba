//! Reading request bodies: JSON values checked member by member, so that every
//! error names the member at fault (`Attendees[3].Capabilities.Video`).

use serde_json::{Map, Value};

use crate::domain::{validate, Checked, Invalid};

/// Parses a request body. An empty body reads as `{}`.
pub fn parse_body(body: &[u8]) -> Checked<Value> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Map::new()));
    }
    let text = std::str::from_utf8(body).map_err(|e| {
        Invalid::new(format!(
            "The request body is not valid UTF-8 (at byte {})",
            e.valid_up_to()
        ))
    })?;
    serde_json::from_str(text)
        .map_err(|e| Invalid::new(format!("The request body is not valid JSON: {e}")))
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn wrong_type(path: &str, expected: &str, got: &Value) -> Invalid {
    Invalid::new(format!(
        "Invalid value for {path}: expected {expected}, got {}",
        type_name(got)
    ))
}

fn missing(path: &str) -> Invalid {
    Invalid::new(format!("Missing required member {path}"))
}

/// A JSON object, with the path that leads to it.
pub struct Obj<'a> {
    prefix: String,
    map: &'a Map<String, Value>,
}

impl<'a> Obj<'a> {
    /// The request body, which must be an object.
    pub fn root(v: &'a Value) -> Checked<Obj<'a>> {
        match v {
            Value::Object(map) => Ok(Obj {
                prefix: String::new(),
                map,
            }),
            other => Err(Invalid::new(format!(
                "The request body must be a JSON object, got {}",
                type_name(other)
            ))),
        }
    }

    fn at(prefix: &str, v: &'a Value) -> Checked<Obj<'a>> {
        match v {
            Value::Object(map) => Ok(Obj {
                prefix: format!("{prefix}."),
                map,
            }),
            other => Err(wrong_type(prefix, "an object", other)),
        }
    }

    /// The full path of a member of this object.
    pub fn path(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// The member's value; JSON `null` counts as absent.
    fn get(&self, name: &str) -> Option<&'a Value> {
        self.map.get(name).filter(|v| !v.is_null())
    }

    pub fn str(&self, name: &str) -> Checked<Option<String>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(wrong_type(&self.path(name), "a string", other)),
        }
    }

    pub fn req_str(&self, name: &str) -> Checked<String> {
        self.str(name)?.ok_or_else(|| missing(&self.path(name)))
    }

    pub fn bool(&self, name: &str) -> Checked<Option<bool>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(wrong_type(&self.path(name), "a boolean", other)),
        }
    }

    pub fn int(&self, name: &str) -> Checked<Option<i64>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(|| {
                Invalid::new(format!(
                    "Invalid value for {}: expected a whole number in range, got {n}",
                    self.path(name)
                ))
            }),
            Some(other) => Err(wrong_type(&self.path(name), "an integer", other)),
        }
    }

    /// An integer member within the model's range.
    pub fn int_within(&self, name: &str, min: i64, max: i64) -> Checked<Option<i64>> {
        let n = self.int(name)?;
        if let Some(n) = n {
            validate::within(&self.path(name), n, min, max)?;
        }
        Ok(n)
    }

    /// A string member holding one of an enum's values (`allowed`, in the
    /// model's order).
    pub fn enum_str(&self, name: &str, allowed: &[&str]) -> Checked<Option<String>> {
        let s = self.str(name)?;
        if let Some(s) = &s {
            validate::one_of(&self.path(name), s, allowed)?;
        }
        Ok(s)
    }

    pub fn req_enum_str(&self, name: &str, allowed: &[&str]) -> Checked<String> {
        self.enum_str(name, allowed)?
            .ok_or_else(|| missing(&self.path(name)))
    }

    pub fn obj(&self, name: &str) -> Checked<Option<Obj<'a>>> {
        self.get(name)
            .map(|v| Obj::at(&self.path(name), v))
            .transpose()
    }

    pub fn req_obj(&self, name: &str) -> Checked<Obj<'a>> {
        self.obj(name)?.ok_or_else(|| missing(&self.path(name)))
    }

    /// A list member, each element read by `item` with its indexed path.
    pub fn list<T>(
        &self,
        name: &str,
        mut item: impl FnMut(Item<'a>) -> Checked<T>,
    ) -> Checked<Option<Vec<T>>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    item(Item {
                        path: format!("{}[{i}]", self.path(name)),
                        value: v,
                    })
                })
                .collect::<Checked<Vec<T>>>()
                .map(Some),
            Some(other) => Err(wrong_type(&self.path(name), "a list", other)),
        }
    }

    pub fn req_list<T>(
        &self,
        name: &str,
        item: impl FnMut(Item<'a>) -> Checked<T>,
    ) -> Checked<Vec<T>> {
        self.list(name, item)?
            .ok_or_else(|| missing(&self.path(name)))
    }
}

/// One element of a list.
pub struct Item<'a> {
    pub path: String,
    pub value: &'a Value,
}

impl<'a> Item<'a> {
    pub fn obj(self) -> Checked<Obj<'a>> {
        Obj::at(&self.path, self.value)
    }

    pub fn str(self) -> Checked<String> {
        match self.value {
            Value::String(s) => Ok(s.clone()),
            other => Err(wrong_type(&self.path, "a string", other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_in_messages() {
        let v = parse_body(br#"{"A":{"B":[{"C":5}]}}"#).unwrap();
        let root = Obj::root(&v).unwrap();
        let a = root.req_obj("A").unwrap();
        let err = a
            .req_list("B", |item| item.obj()?.req_str("C"))
            .unwrap_err();
        assert_eq!(
            err.message,
            "Invalid value for A.B[0].C: expected a string, got a number"
        );
        assert!(root
            .req_str("Missing")
            .unwrap_err()
            .message
            .contains("Missing required member Missing"));
        let v = parse_body(br#"{"Cap":"Sometimes","Big":1e400}"#);
        assert!(v.is_err());
        let v = parse_body(br#"{"Cap":"Sometimes","Big":18446744073709551616,"N":0}"#).unwrap();
        let root = Obj::root(&v).unwrap();
        assert_eq!(
            root.enum_str("Cap", &["SendReceive", "None"])
                .unwrap_err()
                .message,
            "Invalid value for Cap: \"Sometimes\" is not one of SendReceive, None"
        );
        assert_eq!(root.enum_str("Absent", &["None"]).unwrap(), None);
        assert!(root.req_enum_str("Absent", &["None"]).is_err());
        assert!(root.int("Big").is_err());
        assert_eq!(
            root.int_within("N", 1, 250).unwrap_err().message,
            "Invalid value for N: must be between 1 and 250 (got 0)"
        );
        assert_eq!(root.int_within("N", 0, 1).unwrap(), Some(0));
        assert!(parse_body(b"").is_ok());
        assert!(parse_body(b"[1]").is_ok());
        assert!(Obj::root(&parse_body(b"[1]").unwrap()).is_err());
        assert!(parse_body(b"\xff").is_err());
        let deep = "[".repeat(10_000);
        assert!(parse_body(deep.as_bytes()).is_err());
    }
}
