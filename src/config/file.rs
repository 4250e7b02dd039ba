//! The configuration file, and the order in which settings are taken.
//!
//! A setting comes from, in rising precedence: its built-in default, the TOML
//! file named by `--config` (or `CONVENE_CONFIG`), its `CONVENE_…` environment
//! variable, and its flag. The file's keys are the long flag names with `_`
//! (or `-`) between words, so every flag of `convene serve` works from the file
//! with no code of its own: the file's values become the flags' defaults before
//! clap parses the command line, which then applies the environment and flags
//! on top as usual. Secrets, which have no flag, are the only keys read by name
//! ([`SECRET_KEYS`]).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches};

use super::Cli;

/// Settings that are secrets: never a flag, only the environment or the file.
pub const SECRET_KEYS: &[(&str, &str)] = &[
    ("secret_access_key", "CONVENE_SECRET_ACCESS_KEY"),
    ("metrics_token", "CONVENE_METRICS_TOKEN"),
    ("test_controls_token", "CONVENE_TEST_CONTROLS_TOKEN"),
    ("events_webhook_secret", "CONVENE_EVENTS_WEBHOOK_SECRET"),
];

/// The id of the argument naming the file (present on every command that reads one).
const CONFIG_ARG: &str = "config";

/// The parsed command line with where each value came from.
pub struct Parsed {
    pub cli: Cli,
    /// The file that was read, if any.
    pub file: Option<FileSettings>,
    matches: ArgMatches,
}

/// The settings of a configuration file, as strings keyed by `snake_case` name.
#[derive(Debug, Clone, Default)]
pub struct FileSettings {
    pub path: PathBuf,
    pub values: BTreeMap<String, String>,
}

impl FileSettings {
    /// Reads and checks the shape of a configuration file (every value a scalar).
    pub fn load(path: &Path) -> Result<FileSettings, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the configuration file {}: {e}", path.display()))?;
        let table: toml::Table = toml::from_str(&text)
            .map_err(|e| format!("{} is not valid TOML: {e}", path.display()))?;
        let mut values = BTreeMap::new();
        for (key, value) in table {
            let text = match value {
                toml::Value::String(s) => s,
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Float(f) => f.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                toml::Value::Datetime(d) => d.to_string(),
                toml::Value::Array(_) | toml::Value::Table(_) => {
                    return Err(format!(
                        "{}: `{key}` must be a single value (a string, number or boolean)",
                        path.display()
                    ))
                }
            };
            values.insert(key.replace('-', "_"), text);
        }
        Ok(FileSettings {
            path: path.to_path_buf(),
            values,
        })
    }

    /// A secret from the file (only used when its environment variable is unset).
    pub fn secret(&self, key: &str) -> Option<String> {
        self.values.get(key).cloned()
    }
}

/// Where `--config` points on this command line, else `CONVENE_CONFIG`.
fn config_path(args: &[OsString]) -> Option<PathBuf> {
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        let Some(s) = a.to_str() else { continue };
        if s == "--" {
            break;
        }
        if s == "--config" {
            return it.next().map(PathBuf::from);
        }
        if let Some(v) = s.strip_prefix("--config=") {
            return Some(PathBuf::from(v));
        }
    }
    std::env::var_os("CONVENE_CONFIG")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

fn leak(s: &str) -> &'static str {
    Box::leak(s.to_string().into_boxed_str())
}

/// Makes the file's values the defaults of every command that takes `--config`;
/// a key that names no flag (and no secret) is an error.
fn apply(cmd: clap::Command, file: &FileSettings) -> Result<clap::Command, String> {
    let mut cmd = cmd;
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    for name in names {
        let mut failure = None;
        cmd = cmd.mut_subcommand(&name, |sub| match apply(sub.clone(), file) {
            Ok(s) => s,
            Err(e) => {
                failure = Some(e);
                sub
            }
        });
        if let Some(e) = failure {
            return Err(e);
        }
    }
    if cmd.get_arguments().all(|a| a.get_id() != CONFIG_ARG) {
        return Ok(cmd);
    }
    let flags: BTreeMap<String, String> = cmd
        .get_arguments()
        .filter_map(|a| Some((a.get_long()?.replace('-', "_"), a.get_id().to_string())))
        .filter(|(k, _)| k != CONFIG_ARG && k != "help" && k != "version")
        .collect();
    for (key, value) in &file.values {
        if let Some(id) = flags.get(key) {
            let value = leak(value);
            cmd = cmd.mut_arg(id, |a| a.default_value(value));
        } else if !SECRET_KEYS.iter().any(|(k, _)| k == key) {
            let mut known: Vec<&str> = flags.keys().map(String::as_str).collect();
            known.extend(SECRET_KEYS.iter().map(|(k, _)| *k));
            return Err(format!(
                "{}: unknown setting `{key}` (known: {})",
                file.path.display(),
                known.join(", ")
            ));
        }
    }
    Ok(cmd)
}

/// Parses the process's command line, with the configuration file under it.
/// Exits (as clap does) on `--help`, `--version` and command-line errors.
pub fn parse() -> Result<Parsed, String> {
    parse_from(std::env::args_os().collect())
}

pub fn parse_from(args: Vec<OsString>) -> Result<Parsed, String> {
    let file = config_path(&args)
        .map(|p| FileSettings::load(&p))
        .transpose()?;
    let mut cmd = Cli::command();
    if let Some(f) = &file {
        cmd = apply(cmd, f)?;
    }
    let matches = cmd.get_matches_from(args);
    let mut cli = Cli::from_arg_matches(&matches).map_err(|e| e.to_string())?;
    if let Some(f) = &file {
        cli.command.fill_secrets(f);
    }
    Ok(Parsed { cli, file, matches })
}

impl Parsed {
    /// The effective settings of the subcommand that ran, one `key = value`
    /// line each with where the value came from; secrets masked. The output is
    /// itself a valid configuration file.
    pub fn effective(&self, secrets: &[(&str, bool)]) -> String {
        let mut cmd = Cli::command();
        let mut matches = &self.matches;
        let mut path = Vec::new();
        while let Some((name, sub)) = matches.subcommand() {
            path.push(name.to_string());
            matches = sub;
        }
        for name in &path {
            cmd = match cmd.find_subcommand(name) {
                Some(s) => s.clone(),
                None => break,
            };
        }
        let mut out = String::new();
        if let Some(f) = &self.file {
            out.push_str(&format!(
                "# effective configuration (file: {})\n",
                f.path.display()
            ));
        } else {
            out.push_str("# effective configuration (no file)\n");
        }
        for arg in cmd.get_arguments() {
            let id = arg.get_id().as_str();
            let Some(long) = arg.get_long() else { continue };
            if id == CONFIG_ARG || long == "help" || long == "version" {
                continue;
            }
            let key = long.replace('-', "_");
            let env = arg
                .get_env()
                .map(|e| e.to_string_lossy().into_owned())
                .unwrap_or_default();
            let raw: Option<Vec<String>> = matches.get_raw(id).map(|vs| {
                vs.map(|v| v.to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
            });
            let source = self.source_of(matches, id, long, &env, &key);
            match raw {
                Some(values) if !values.is_empty() => {
                    let mut v = values.join(",");
                    if key == "database_url" {
                        v = super::mask_url_password(&v);
                    }
                    out.push_str(&format!("{key} = {}  # {source}\n", toml_scalar(&v)));
                }
                _ => out.push_str(&format!("# {key} is not set\n")),
            }
        }
        out.push_str(&secret_lines(secrets));
        out
    }

    /// Where an argument's value came from: a flag, the environment, the file or the default.
    fn source_of(
        &self,
        matches: &ArgMatches,
        id: &str,
        long: &str,
        env: &str,
        key: &str,
    ) -> String {
        match matches.value_source(id) {
            Some(ValueSource::CommandLine) => format!("flag --{long}"),
            Some(ValueSource::EnvVariable) => format!("environment {env}"),
            Some(ValueSource::DefaultValue) => {
                if self
                    .file
                    .as_ref()
                    .is_some_and(|f| f.values.contains_key(key))
                {
                    "file".to_string()
                } else {
                    "default".to_string()
                }
            }
            _ => "default".to_string(),
        }
    }
}

/// The secrets' lines: masked when set, with where they came from.
fn secret_lines(secrets: &[(&str, bool)]) -> String {
    let mut out = String::new();
    for (key, set) in secrets {
        let env = SECRET_KEYS
            .iter()
            .find(|(k, _)| k == key)
            .map_or("", |(_, e)| *e);
        if *set {
            let source = if std::env::var_os(env).is_some() {
                format!("environment {env}")
            } else {
                "file".to_string()
            };
            out.push_str(&format!("{key} = \"********\"  # {source}\n"));
        } else {
            out.push_str(&format!("# {key} is not set (secret: {env} or the file)\n"));
        }
    }
    out
}

/// A value as TOML: numbers and booleans bare, everything else a quoted string.
fn toml_scalar(v: &str) -> String {
    let bare = v == "true"
        || v == "false"
        // Integers of up to 11 digits; longer digit strings are ids (account ids).
        || (v.parse::<i64>().is_ok() && !v.starts_with('0') && v.len() < 12 || v == "0")
        || (v.parse::<f64>().is_ok() && v.contains('.') && !v.starts_with('.'));
    if bare {
        v.to_string()
    } else {
        // A JSON string is also a TOML basic string.
        serde_json::to_string(v).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars() {
        assert_eq!(toml_scalar("30"), "30");
        assert_eq!(toml_scalar("0"), "0");
        assert_eq!(toml_scalar("012345678901"), "\"012345678901\"");
        assert_eq!(toml_scalar("123456789012"), "\"123456789012\"");
        assert_eq!(toml_scalar("1.5"), "1.5");
        assert_eq!(toml_scalar("true"), "true");
        assert_eq!(toml_scalar("127.0.0.1:8080"), "\"127.0.0.1:8080\"");
        assert_eq!(toml_scalar("a\"b"), "\"a\\\"b\"");
    }

    #[test]
    fn config_path_from_flag() {
        let args: Vec<OsString> = ["convene", "serve", "--config", "x.toml"]
            .iter()
            .map(OsString::from)
            .collect();
        assert_eq!(config_path(&args), Some(PathBuf::from("x.toml")));
        let args: Vec<OsString> = ["convene", "serve", "--config=y.toml"]
            .iter()
            .map(OsString::from)
            .collect();
        assert_eq!(config_path(&args), Some(PathBuf::from("y.toml")));
    }
}
