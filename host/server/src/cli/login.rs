//! `switchyard login`: checks a server's token and saves it with the URL, so later commands
//! need neither. The file is `$SWITCHYARD_CONFIG`, else `$XDG_CONFIG_HOME/switchyard/config.json`,
//! else `~/.config/switchyard/config.json`, readable by its owner only.

use super::{CliError, Remote};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::PathBuf;

pub const DEFAULT_URL: &str = "http://127.0.0.1:8080";

/// What `login` saved.
#[derive(Serialize, Deserialize)]
pub struct Saved {
    pub url: String,
    pub token: String,
}

impl Saved {
    /// The saved login, if there is one.
    pub fn load() -> Result<Option<Saved>, CliError> {
        let Some(path) = path() else { return Ok(None) };
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(unusable(&path, e)),
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| unusable(&path, e))
    }
}

fn unusable(path: &std::path::Path, error: impl std::fmt::Display) -> CliError {
    CliError::Failed(format!(
        "cannot read the saved login {}: {error} (run `switchyard login` again)",
        path.display()
    ))
}

fn path() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("SWITCHYARD_CONFIG") {
        return Some(path.into());
    }
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config")))?;
    Some(config.join("switchyard/config.json"))
}

/// Asks for the token unless it was given, checks it against the server, then saves both.
pub async fn login(remote: &Remote) -> Result<(), CliError> {
    let url = remote.url.clone().unwrap_or_else(|| DEFAULT_URL.to_owned());
    let token = match &remote.token {
        Some(token) => token.clone(),
        None => {
            read_token(&url).map_err(|e| CliError::Failed(format!("cannot read the token: {e}")))?
        }
    };
    let token = token.trim().to_owned();
    let checking = Remote::new(url.clone(), token.clone(), remote.json);
    // Any route behind the token tells whether it is accepted.
    checking.call(Method::GET, "/api/plugins", None).await?;
    let path = path().ok_or_else(|| {
        CliError::Failed("no place for the login: set HOME or SWITCHYARD_CONFIG".into())
    })?;
    let saved = Saved {
        url: url.clone(),
        token,
    };
    write_private(
        &path,
        &serde_json::to_vec_pretty(&saved).expect("serializes"),
    )
    .map_err(|e| CliError::Failed(format!("cannot save {}: {e}", path.display())))?;
    remote.print(&serde_json::json!({"url": url, "saved": path}), |_| {
        format!("logged in to {url}; saved to {}\n", path.display())
    });
    Ok(())
}

/// The token from the terminal without echo, or the first line of piped input.
fn read_token(url: &str) -> std::io::Result<String> {
    use std::io::IsTerminal;
    if std::io::stdin().is_terminal() {
        return rpassword::prompt_password(format!("API token for {url}: "));
    }
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    Ok(line)
}

/// Writes a file only its owner can read: it holds a token.
fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    // `mode` applies only to a new file: an older one may have been readable by others.
    file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    file.write_all(bytes)
}
