//! `cargo run -p convene-codegen [-- --check] [--model PATH]`: regenerates
//! `src/model/generated.rs`, `src/model/shapes.rs`, `src/wire/bindings.rs`
//! and `openapi.json` from the service model, or with `--check` only reports
//! whether the committed files are up to date (exit status 1 if not).

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let root = convene_codegen::repo_root();
    let mut model = root.join(convene_codegen::MODEL_PATH);
    let mut check = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--check" => check = true,
            "--model" => match args.next() {
                Some(p) => model = PathBuf::from(p),
                None => return usage("--model needs a path"),
            },
            other => return usage(&format!("unknown argument {other:?}")),
        }
    }
    let json = match std::fs::read_to_string(&model) {
        Ok(j) => j,
        Err(e) => {
            eprintln!("codegen: cannot read the model {}: {e}", model.display());
            return ExitCode::FAILURE;
        }
    };
    let mut status = ExitCode::SUCCESS;
    for (path, generate) in convene_codegen::TARGETS {
        let generated = match generate(&json) {
            Ok(g) => g,
            Err(e) => {
                eprintln!("codegen: {}: {e}", model.display());
                return ExitCode::FAILURE;
            }
        };
        let out = root.join(path);
        let current = std::fs::read_to_string(&out).unwrap_or_default();
        if check {
            if current == generated {
                println!("{} is up to date", out.display());
            } else {
                eprintln!(
                    "{} is out of date: run `cargo run -p convene-codegen`",
                    out.display()
                );
                status = ExitCode::FAILURE;
            }
        } else if current == generated {
            println!("{} unchanged", out.display());
        } else if let Err(e) = std::fs::write(&out, generated) {
            eprintln!("codegen: cannot write {}: {e}", out.display());
            return ExitCode::FAILURE;
        } else {
            println!("wrote {}", out.display());
        }
    }
    status
}

fn usage(problem: &str) -> ExitCode {
    eprintln!("codegen: {problem}\nusage: convene-codegen [--check] [--model PATH]");
    ExitCode::from(2)
}
