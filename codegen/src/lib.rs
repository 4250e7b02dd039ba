//! Convene's code generator: reads the AWS service model
//! (`../shared/spec/chime-sdk-meetings/service-2.json`) and writes the Rust
//! the server compiles against (`src/model/generated.rs`), the way s3s does.
//!
//! [`model`] reads the JSON into plain structs once; each emitter ([`rust`],
//! [`shapes`], [`bindings`], [`openapi`]) turns a [`model::Model`] into one
//! generated file. To add an emitter, add a module next to `rust.rs` and a
//! row in [`TARGETS`].

pub mod bindings;
pub mod model;
pub mod openapi;
pub mod rust;
pub mod shapes;

use std::path::{Path, PathBuf};

/// Where the model lives, relative to the repository root.
pub const MODEL_PATH: &str = "../shared/spec/chime-sdk-meetings/service-2.json";

/// Where the generated Rust goes, relative to the repository root.
pub const RUST_OUT: &str = "src/model/generated.rs";

/// Where the operations' input and output types go, relative to the repository root.
pub const SHAPES_OUT: &str = "src/model/shapes.rs";

/// Where the wire bindings of those types go, relative to the repository root.
pub const BINDINGS_OUT: &str = "src/wire/bindings.rs";

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

/// The operations' input and output types for a `service-2.json` document.
pub fn generate_shapes(model_json: &str) -> Result<String, String> {
    Ok(shapes::emit(&model::Model::parse(model_json)?))
}

/// The wire bindings (decoders and encoders) for a `service-2.json` document.
pub fn generate_bindings(model_json: &str) -> Result<String, String> {
    bindings::emit(&model::Model::parse(model_json)?)
}

/// Every generated file: its path from the repository root, and its emitter.
pub const TARGETS: [(&str, Generator); 4] = [
    (RUST_OUT, generate_rust),
    (SHAPES_OUT, generate_shapes),
    (BINDINGS_OUT, generate_bindings),
    (OPENAPI_OUT, generate_openapi),
];

/// An emitter: the model's JSON in, a generated file out.
pub type Generator = fn(&str) -> Result<String, String>;

/// The repository root (the parent of this crate's directory).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("codegen/ sits inside the repository")
        .to_path_buf()
}
