//! Convene's code generator: reads the AWS service model
//! (`../shared/spec/chime-sdk-meetings/service-2.json`) and writes the Rust
//! the server compiles against (`src/model/generated.rs`), the way s3s does.
//!
//! [`model`] reads the JSON into plain structs once; each emitter ([`rust`],
//! [`openapi`]) turns a [`model::Model`] into one generated file. To add an
//! emitter, add a module next to `rust.rs` and a target in `main.rs`.

pub mod model;
pub mod openapi;
pub mod rust;

use std::path::{Path, PathBuf};

/// Where the model lives, relative to the repository root.
pub const MODEL_PATH: &str = "../shared/spec/chime-sdk-meetings/service-2.json";

/// Where the generated Rust goes, relative to the repository root.
pub const RUST_OUT: &str = "src/model/generated.rs";

/// Where the OpenAPI document goes, relative to the repository root.
pub const OPENAPI_OUT: &str = "openapi.json";

/// The OpenAPI 3.1 document for a `service-2.json` document.
pub fn generate_openapi(model_json: &str) -> Result<String, String> {
    Ok(openapi::emit(&model::Model::parse(model_json)?))
}

/// The generated Rust for a `service-2.json` document.
pub fn generate_rust(model_json: &str) -> Result<String, String> {
    Ok(rust::emit(&model::Model::parse(model_json)?))
}

/// The repository root (the parent of this crate's directory).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("codegen/ sits inside the repository")
        .to_path_buf()
}
