//! Server configuration, from flags and the environment.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// The account used when none is configured.
pub const DEFAULT_ACCOUNT_ID: &str = "123456789012";

#[derive(Debug, Parser)]
#[command(
    name = "convene",
    version,
    about = "A server that speaks the Amazon Chime SDK Meetings API (chime-sdk-meetings, 2021-07-15).",
    long_about = "Convene serves the Amazon Chime SDK Meetings control-plane API. Point any AWS SDK or the \
AWS CLI at it with an endpoint URL, for example:\n\n  \
aws chime-sdk-meetings create-meeting --endpoint-url http://127.0.0.1:8080 --region us-east-1 \\\n    \
--client-request-token t1 --media-region us-east-1 --external-meeting-id demo\n\n\
Every flag can also be set through the environment variable named beside it."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API over HTTP on the embedded SQLite store.
    Serve(ServeArgs),
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address and port to listen on (use port 0 to pick a free one).
    #[arg(long, env = "CONVENE_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Directory holding the database; created if missing.
    #[arg(long, env = "CONVENE_DATA_DIR", default_value = "./convene-data")]
    pub data_dir: PathBuf,

    /// Base URL clients use to reach this server, from which the MediaPlacement
    /// URLs of every meeting are built [default: http://<listen address>].
    #[arg(long, env = "CONVENE_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// TOML file of accounts and their access keys ([[credentials]] entries with
    /// account_id, access_key_id, secret_access_key). Without it, the key pair in
    /// CONVENE_ACCESS_KEY_ID / CONVENE_SECRET_ACCESS_KEY is used, and without those a
    /// pair is generated on first start and saved in the data directory.
    #[arg(long, env = "CONVENE_CREDENTIALS_FILE")]
    pub credentials_file: Option<PathBuf>,

    /// The 12-digit account of the key pair from the environment or the generated one.
    #[arg(long, env = "CONVENE_ACCOUNT_ID", default_value = DEFAULT_ACCOUNT_ID)]
    pub account_id: String,

    /// Access key id of a single account (with CONVENE_SECRET_ACCESS_KEY).
    #[arg(long, env = "CONVENE_ACCESS_KEY_ID")]
    pub access_key_id: Option<String>,

    /// Secret of CONVENE_ACCESS_KEY_ID; only from the environment, so it never shows in a process list.
    #[arg(skip = std::env::var("CONVENE_SECRET_ACCESS_KEY").ok())]
    pub secret_access_key: Option<String>,

    /// Page size of ListAttendees when the request gives no MaxResults (1-100).
    #[arg(long, env = "CONVENE_DEFAULT_PAGE_SIZE", default_value_t = 100,
          value_parser = clap::value_parser!(u32).range(1..=100))]
    pub default_page_size: u32,

    /// Largest request body accepted, in bytes; larger ones get HTTP 413.
    #[arg(long, env = "CONVENE_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,
}

impl ServeArgs {
    /// The public URL, given the address actually bound.
    pub fn public_url(&self, bound: SocketAddr) -> String {
        match &self.public_url {
            Some(u) => u.clone(),
            None => {
                let addr = bound;
                if addr.ip().is_unspecified() {
                    format!("http://127.0.0.1:{}", addr.port())
                } else {
                    format!("http://{addr}")
                }
            }
        }
    }

    pub fn check(&self) -> Result<(), String> {
        if self.account_id.len() != 12 || !self.account_id.chars().all(|c| c.is_ascii_digit()) {
            return Err(format!(
                "account id {:?} must be 12 digits",
                self.account_id
            ));
        }
        Ok(())
    }
}
