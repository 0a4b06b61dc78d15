//! A node's home directory: where its key, store and socket live.
//!
//! ```text
//! <home>/            mode 0700
//!   device.key       the device's ed25519 secret key, 32 raw bytes, mode 0600
//!   entraide.redb    the store (see entraide-store), mode 0600
//! ```

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;

use crate::NodeError;

/// The paths of one home.
#[derive(Clone, Debug)]
pub struct Home {
    root: PathBuf,
}

impl Home {
    /// The home at `root` (nothing is checked or created).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The platform's default: `~/.local/share/entraide` on Linux.
    pub fn default_root() -> PathBuf {
        dirs_data().join("entraide")
    }

    /// Its directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The device key file.
    pub fn key_path(&self) -> PathBuf {
        self.root.join("device.key")
    }

    /// The store file.
    pub fn store_path(&self) -> PathBuf {
        self.root.join("entraide.redb")
    }

    /// The local socket of a running `entraide serve`.
    pub fn socket_path(&self) -> PathBuf {
        self.root.join("node.sock")
    }

    /// Whether a node was initialised here.
    pub fn is_initialised(&self) -> bool {
        self.key_path().exists() || self.store_path().exists()
    }

    /// Creates the directory (0700) and writes a new device key (0600).
    pub(crate) fn create(&self, secret: [u8; 32]) -> Result<SigningKey, NodeError> {
        if self.is_initialised() {
            return Err(NodeError::AlreadyInitialised(self.root.clone()));
        }
        create_private_dir(&self.root)?;
        let path = self.key_path();
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options
            .open(&path)
            .map_err(|e| NodeError::io("cannot create", &path, e))?;
        file.write_all(&secret)
            .and_then(|()| file.sync_all())
            .map_err(|e| NodeError::io("cannot write", &path, e))?;
        Ok(SigningKey::from_bytes(&secret))
    }

    /// Makes the store file readable by its owner only.
    pub(crate) fn protect_store(&self) -> Result<(), NodeError> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let path = self.store_path();
            fs::set_permissions(&path, fs::Permissions::from_mode(0o600))
                .map_err(|e| NodeError::io("cannot protect", &path, e))?;
        }
        Ok(())
    }

    /// Reads the device key.
    pub(crate) fn load_key(&self) -> Result<SigningKey, NodeError> {
        let path = self.key_path();
        if !path.exists() {
            return Err(NodeError::NotInitialised(self.root.clone()));
        }
        let bytes = fs::read(&path).map_err(|e| NodeError::io("cannot read", &path, e))?;
        let secret: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
            NodeError::io(
                "cannot use",
                &path,
                "the device key is damaged (it must be 32 bytes); restore it from a backup",
            )
        })?;
        Ok(SigningKey::from_bytes(&secret))
    }
}

fn create_private_dir(path: &Path) -> Result<(), NodeError> {
    fs::create_dir_all(path).map_err(|e| NodeError::io("cannot create", path, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(0o700))
            .map_err(|e| NodeError::io("cannot protect", path, e))?;
    }
    Ok(())
}

fn dirs_data() -> PathBuf {
    dirs::data_dir().unwrap_or_else(|| PathBuf::from("."))
}
