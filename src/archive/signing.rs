//! The acting key: loaded (or, the actor's default, created) on first use, and registered
//! in the log before the first event it signs.

use std::path::Path;
use std::sync::Arc;

use super::Archive;
use crate::error::{Error, Result};
use crate::keys::{KeyChoice, Signer, default_key_path};

impl Archive {
    /// Loads the acting key and, the first time this process writes, registers it for the
    /// acting actor (a `key_register` event) unless the log already does: every event is
    /// then sealed by a key the log knows. Made durable with the command's own commit.
    pub(crate) fn prepare_signing(&mut self) -> Result<()> {
        self.load_signer()?;
        if !self.key_registered {
            self.transact_signed(|tx| tx.ensure_registered())?;
            self.key_registered = true;
        }
        Ok(())
    }

    /// The acting key, loaded (or, the actor's default key, created) on first use.
    pub(crate) fn signer(&mut self) -> Result<Arc<Signer>> {
        self.load_signer()
    }

    pub(super) fn load_signer(&mut self) -> Result<Arc<Signer>> {
        if let Some(signer) = &self.ctx.signer {
            return Ok(signer.clone());
        }
        let signer = Arc::new(match &self.key {
            KeyChoice::Path(path) => Signer::load(path)?,
            KeyChoice::Default => {
                let path = default_key_path(&self.ctx.actor).ok_or(Error::NoKeyHome)?;
                match Signer::load(&path) {
                    Err(Error::KeyMissing(_)) => self.create_default_key(&path)?,
                    other => other?,
                }
            }
        });
        self.ctx.signer = Some(signer.clone());
        Ok(signer)
    }

    fn create_default_key(&self, path: &Path) -> Result<Signer> {
        match Signer::generate(path, &self.ctx.actor) {
            Ok(signer) => {
                (self.key_created)(path, signer.fingerprint());
                Ok(signer)
            }
            // Another process made it meanwhile: use that one.
            Err(Error::OutputExists(_)) => Signer::load(path),
            Err(e) => Err(e),
        }
    }
}
