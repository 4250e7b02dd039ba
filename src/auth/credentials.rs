//! Where access keys come from: a TOML file, the environment, or (with neither)
//! a key pair generated on first start and kept in the data directory.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rand::RngCore;
use serde::Deserialize;

use super::sigv4::KeyInfo;

/// Name of the generated credentials file inside the data directory.
pub const GENERATED_FILE: &str = "credentials.toml";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CredentialsFile {
    #[serde(default)]
    credentials: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    account_id: String,
    access_key_id: String,
    secret_access_key: String,
    #[serde(default)]
    session_token: Option<String>,
}

/// The configured keys, and where they came from (for the log).
#[derive(Debug)]
pub struct Credentials {
    pub keys: HashMap<String, KeyInfo>,
    pub source: String,
}

impl Credentials {
    pub fn accounts(&self) -> Vec<String> {
        let mut a: Vec<String> = self.keys.values().map(|k| k.account_id.clone()).collect();
        a.sort();
        a.dedup();
        a
    }
}

pub fn valid_account_id(id: &str) -> bool {
    id.len() == 12 && id.bytes().all(|c| c.is_ascii_digit())
}

fn valid_access_key_id(id: &str) -> bool {
    (1..=128).contains(&id.len()) && id.bytes().all(|c| c.is_ascii_alphanumeric())
}

fn add(keys: &mut HashMap<String, KeyInfo>, e: Entry, origin: &str) -> Result<(), String> {
    if !valid_account_id(&e.account_id) {
        return Err(format!(
            "{origin}: account_id {:?} must be 12 digits",
            e.account_id
        ));
    }
    if !valid_access_key_id(&e.access_key_id) {
        return Err(format!(
            "{origin}: access_key_id {:?} must be 1-128 letters and digits",
            e.access_key_id
        ));
    }
    if e.secret_access_key.is_empty() {
        return Err(format!(
            "{origin}: the secret_access_key of {} is empty",
            e.access_key_id
        ));
    }
    if keys.contains_key(&e.access_key_id) {
        return Err(format!(
            "{origin}: access_key_id {} appears twice",
            e.access_key_id
        ));
    }
    keys.insert(
        e.access_key_id,
        KeyInfo {
            secret_access_key: e.secret_access_key,
            account_id: e.account_id,
            session_token: e.session_token.filter(|t| !t.is_empty()),
        },
    );
    Ok(())
}

fn parse_file(path: &Path) -> Result<HashMap<String, KeyInfo>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read credentials file {}: {e}", path.display()))?;
    let file: CredentialsFile = toml::from_str(&text)
        .map_err(|e| format!("credentials file {} is not valid: {e}", path.display()))?;
    let mut keys = HashMap::new();
    for e in file.credentials {
        add(&mut keys, e, &path.display().to_string())?;
    }
    if keys.is_empty() {
        return Err(format!(
            "credentials file {} has no [[credentials]] entry",
            path.display()
        ));
    }
    Ok(keys)
}

/// What the operator configured.
pub struct Sources<'a> {
    pub file: Option<&'a Path>,
    pub account_id: &'a str,
    pub access_key_id: Option<&'a str>,
    pub secret_access_key: Option<&'a str>,
    pub data_dir: &'a Path,
}

fn random_string(len: usize, alphabet: &[u8]) -> String {
    // Bytes past the last whole multiple of the alphabet's length are skipped, so
    // every character is equally likely.
    let limit = 256 - (256 % alphabet.len());
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        rand::rngs::OsRng.fill_bytes(&mut buf);
        for &b in &buf {
            if (b as usize) < limit && out.len() < len {
                out.push(alphabet[b as usize % alphabet.len()] as char);
            }
        }
    }
    out
}

fn write_private(path: &PathBuf, text: &str) -> Result<(), String> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Loads the keys: the file if given, else the environment pair, else the
/// generated file in the data directory (made on first start).
pub fn load(src: &Sources<'_>) -> Result<Credentials, String> {
    if let Some(path) = src.file {
        return Ok(Credentials {
            keys: parse_file(path)?,
            source: format!("credentials file {}", path.display()),
        });
    }
    match (src.access_key_id, src.secret_access_key) {
        (Some(id), Some(secret)) => {
            let mut keys = HashMap::new();
            add(
                &mut keys,
                Entry {
                    account_id: src.account_id.to_string(),
                    access_key_id: id.to_string(),
                    secret_access_key: secret.to_string(),
                    session_token: None,
                },
                "CONVENE_ACCESS_KEY_ID",
            )?;
            return Ok(Credentials {
                keys,
                source: "CONVENE_ACCESS_KEY_ID and CONVENE_SECRET_ACCESS_KEY".into(),
            });
        }
        (Some(_), None) | (None, Some(_)) => {
            return Err(
                "set both CONVENE_ACCESS_KEY_ID and CONVENE_SECRET_ACCESS_KEY, or neither".into(),
            );
        }
        (None, None) => {}
    }
    let path = src.data_dir.join(GENERATED_FILE);
    if path.exists() {
        return Ok(Credentials {
            keys: parse_file(&path)?,
            source: format!("generated credentials in {}", path.display()),
        });
    }
    std::fs::create_dir_all(src.data_dir).map_err(|e| {
        format!(
            "cannot create data directory {}: {e}",
            src.data_dir.display()
        )
    })?;
    let id = format!(
        "AKIA{}",
        random_string(16, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
    );
    let secret = random_string(
        40,
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
    );
    let text = format!(
        "# Generated by convene on first start. Keep it secret.\n\
         [[credentials]]\n\
         account_id = \"{}\"\n\
         access_key_id = \"{id}\"\n\
         secret_access_key = \"{secret}\"\n",
        src.account_id
    );
    write_private(&path, &text)?;
    // Shown once, at creation, so that the operator can configure clients: the
    // secret on stdout (as shell lines), never in the log stream on stderr.
    tracing::warn!(
        path = %path.display(),
        "no credentials were configured: generated a key pair, saved it in the data \
         directory and printed it once on stdout (it will not be printed again)"
    );
    println!("export AWS_ACCESS_KEY_ID={id}\nexport AWS_SECRET_ACCESS_KEY={secret}");
    Ok(Credentials {
        keys: parse_file(&path)?,
        source: format!("generated credentials in {}", path.display()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_once_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let src = Sources {
            file: None,
            account_id: "111122223333",
            access_key_id: None,
            secret_access_key: None,
            data_dir: dir.path(),
        };
        let first = load(&src).unwrap();
        let second = load(&src).unwrap();
        assert_eq!(first.keys.len(), 1);
        let (id, key) = first.keys.iter().next().unwrap();
        assert_eq!(second.keys[id].secret_access_key, key.secret_access_key);
        assert_eq!(key.account_id, "111122223333");
        assert_eq!(key.secret_access_key.len(), 40);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(GENERATED_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn file_with_several_accounts_and_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "[[credentials]]\naccount_id = \"111122223333\"\naccess_key_id = \"AKIDA\"\nsecret_access_key = \"s1\"\n\
             [[credentials]]\naccount_id = \"111122223333\"\naccess_key_id = \"AKIDB\"\nsecret_access_key = \"s2\"\n\
             [[credentials]]\naccount_id = \"444455556666\"\naccess_key_id = \"AKIDC\"\nsecret_access_key = \"s3\"\n",
        )
        .unwrap();
        let src = Sources {
            file: Some(&path),
            account_id: "123456789012",
            access_key_id: None,
            secret_access_key: None,
            data_dir: dir.path(),
        };
        let c = load(&src).unwrap();
        assert_eq!(c.keys.len(), 3);
        assert_eq!(c.accounts(), ["111122223333", "444455556666"]);

        std::fs::write(&path, "[[credentials]]\naccount_id = \"1\"\naccess_key_id = \"A\"\nsecret_access_key = \"s\"\n").unwrap();
        let err = load(&src).unwrap_err();
        assert!(err.contains("12 digits"));
        assert!(
            !err.contains("\"s\""),
            "secrets never appear in errors: {err}"
        );
    }
}
