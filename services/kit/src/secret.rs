//! The deployment secret, and every key hop derives from it (docs/security.md).
//!
//! `SECRET_KEY` keys the code permutation, the access-token signing key (unless a key file
//! is given), the credential internal gRPC calls carry ([`crate::service_auth`]) and the
//! HMAC of list cursors. Each use derives its own 32-byte key with HKDF-SHA256 under its
//! own label ([`Secret::derive`]), so no two uses share key material.
//!
//! There is no development key: `hop serve` requires SECRET_KEY, and `hop up` without it
//! generates 256 random bits once into `HOP_DATA_DIR/secret` (mode 0600, in a 0700 folder)
//! and reuses them on every later start ([`SecretArgs::or_generated`]).

use crate::config::ConfigError;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

/// Shortest accepted SECRET_KEY.
pub const MIN_SECRET_LEN: usize = 16;

/// The file under HOP_DATA_DIR that holds a generated secret.
pub const SECRET_FILE: &str = "secret";

/// The deployment secret.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Secrets")]
pub struct SecretArgs {
    /// Keys the code permutation, token signing, internal gRPC credentials and list cursors.
    /// At least 16 characters, stable for the life of the deployment; the same on every
    /// instance. Required by `hop serve`; `hop up` without it generates one into
    /// HOP_DATA_DIR/secret on first start and reuses it.
    #[arg(
        long,
        env = "SECRET_KEY",
        value_name = "SECRET_KEY",
        hide_env_values = true
    )]
    pub secret_key: Option<String>,
}

/// Where `hop up` keeps what it makes for itself.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Data")]
pub struct DataDirArgs {
    /// Folder for `hop up`'s own state: the embedded database (`hop.db`) when no
    /// PostgreSQL is set, and the generated secret (`secret`, mode 0600) when SECRET_KEY
    /// is unset. Created with mode 0700 when missing.
    #[arg(
        long,
        env = "HOP_DATA_DIR",
        value_name = "HOP_DATA_DIR",
        default_value = "./hop-data"
    )]
    pub hop_data_dir: PathBuf,
}

impl SecretArgs {
    /// The secret, which must be set.
    pub fn require(&self) -> Result<Secret, ConfigError> {
        match &self.secret_key {
            Some(key) => Secret::parse(key),
            None => Err(ConfigError::new(
                "SECRET_KEY",
                "must be set (at least 16 characters; generate one with `openssl rand -hex 32`)",
            )),
        }
    }

    /// The secret, or when it is unset the one generated into `data_dir` (made on first
    /// use). Logs where a generated secret lives, never its value.
    pub fn or_generated(&self, data_dir: &Path) -> Result<Secret, ConfigError> {
        if self.secret_key.is_some() {
            return self.require();
        }
        let (secret, path, created) = load_or_generate(data_dir)?;
        if created {
            tracing::warn!(path = %path.display(), "secret_generated");
        } else {
            tracing::info!(path = %path.display(), "secret_loaded");
        }
        Ok(secret)
    }
}

fn data_dir_error(message: String) -> ConfigError {
    ConfigError::new("HOP_DATA_DIR", message)
}

/// Creates HOP_DATA_DIR (owner-only) unless it exists.
pub fn create_data_dir(dir: &Path) -> Result<(), ConfigError> {
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| data_dir_error(format!("{} cannot be created: {e}", dir.display())))?;
    }
    Ok(())
}

/// Reads `dir/secret`, or creates it with 256 random bits (hex); `true` when created.
fn load_or_generate(dir: &Path) -> Result<(Secret, PathBuf, bool), ConfigError> {
    create_data_dir(dir)?;
    let path = dir.join(SECRET_FILE);
    let created = match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
    {
        Ok(mut file) => {
            let hex: String = rand::random::<[u8; 32]>()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            file.write_all(format!("{hex}\n").as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(|e| {
                    data_dir_error(format!("{} cannot be written: {e}", path.display()))
                })?;
            true
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => false,
        Err(e) => {
            return Err(data_dir_error(format!(
                "{} cannot be created: {e}",
                path.display()
            )));
        }
    };
    let mode = std::fs::metadata(&path)
        .map_err(|e| data_dir_error(format!("{} cannot be read: {e}", path.display())))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(data_dir_error(format!(
            "{} is readable by other users (mode {:o}); run `chmod 600` on it",
            path.display(),
            mode & 0o777
        )));
    }
    let text = std::fs::read_to_string(&path)
        .map_err(|e| data_dir_error(format!("{} cannot be read: {e}", path.display())))?;
    let secret = Secret::parse(text.trim()).map_err(|_| {
        data_dir_error(format!(
            "{} does not hold a secret of at least {MIN_SECRET_LEN} characters",
            path.display()
        ))
    })?;
    Ok((secret, path, created))
}

/// Secret bytes; `Debug` never prints them.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    pub fn parse(key: &str) -> Result<Self, ConfigError> {
        if key.chars().count() < MIN_SECRET_LEN {
            return Err(ConfigError::new(
                "SECRET_KEY",
                "must be at least 16 characters",
            ));
        }
        Ok(Self(key.as_bytes().to_vec()))
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// A 32-byte key for one purpose, from HKDF-SHA256 over the secret. `label` names the
    /// purpose and its version; two labels give unrelated keys.
    pub fn derive(&self, label: &str) -> [u8; 32] {
        let hkdf = hkdf::Hkdf::<sha2::Sha256>::new(Some(b"hop"), &self.0);
        let mut key = [0u8; 32];
        hkdf.expand(label.as_bytes(), &mut key)
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        key
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_long_enough_and_never_printed() {
        let short = SecretArgs {
            secret_key: Some("short".into()),
        };
        assert_eq!(short.require().unwrap_err().variable, "SECRET_KEY");
        assert!(SecretArgs { secret_key: None }.require().is_err());
        let good = Secret::parse("0123456789abcdef-secret").unwrap();
        assert_eq!(format!("{good:?}"), "Secret(..)");
    }

    #[test]
    fn a_generated_secret_is_private_random_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("nested").join("hop-data");
        let unset = SecretArgs { secret_key: None };
        let first = unset.or_generated(&data).unwrap();
        assert_eq!(first.expose().len(), 64, "256 bits, hex");
        let file = data.join(SECRET_FILE);
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&file), 0o600);
        assert_eq!(mode(&data), 0o700);
        assert_eq!(unset.or_generated(&data).unwrap(), first, "reused");
        let other = tempfile::tempdir().unwrap();
        assert_ne!(unset.or_generated(other.path()).unwrap(), first);
        // A set SECRET_KEY wins and nothing is written.
        let set = SecretArgs {
            secret_key: Some("an operator's own secret".into()),
        };
        let third = tempfile::tempdir().unwrap();
        assert_eq!(
            set.or_generated(third.path()).unwrap().expose(),
            b"an operator's own secret"
        );
        assert!(!third.path().join(SECRET_FILE).exists());
    }

    #[test]
    fn a_secret_file_others_can_read_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let unset = SecretArgs { secret_key: None };
        unset.or_generated(dir.path()).unwrap();
        let file = dir.path().join(SECRET_FILE);
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = unset.or_generated(dir.path()).unwrap_err();
        assert_eq!(err.variable, "HOP_DATA_DIR");
        assert!(err.message.contains("chmod 600"), "{}", err.message);
    }

    #[test]
    fn derived_keys_differ_by_label_and_secret() {
        let a = Secret::parse("0123456789abcdef-one").unwrap();
        let b = Secret::parse("0123456789abcdef-two").unwrap();
        assert_eq!(a.derive("x v1"), a.derive("x v1"));
        assert_ne!(a.derive("x v1"), a.derive("y v1"));
        assert_ne!(a.derive("x v1"), b.derive("x v1"));
    }
}
