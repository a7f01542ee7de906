//! Compiled code, cached on this instance's disk under the upload's sha256 (in `artifacts/` of
//! the data directory): a restart, or another plugin name with the same bytes, does not compile
//! again. It is kept beside the instance, not in the store, because compiled code is native
//! to the machine and the wasmtime that made it, and because an instance must only ever run
//! native code it compiled itself: several instances may share one store.

use std::io::Write;
use std::path::{Path, PathBuf};

pub(crate) struct Artifacts {
    dir: PathBuf,
}

impl Artifacts {
    /// The cache under the data directory `data`. One that cannot be made only costs
    /// compilations, so that is logged.
    pub(crate) fn open(data: &Path) -> Artifacts {
        let dir = data.join("artifacts");
        if let Err(e) = std::fs::create_dir_all(&dir) {
            tracing::warn!("cannot cache compiled plugins in {}: {e}", dir.display());
        }
        Artifacts { dir }
    }

    /// The artifact compiled from the upload with this digest, if one is cached.
    pub(crate) fn get(&self, digest: &str) -> Option<Vec<u8>> {
        std::fs::read(self.dir.join(digest)).ok()
    }

    /// Caches an artifact: written beside and renamed into place, so a reader never sees half
    /// of one. A failure only costs a compilation later, so it is logged, not returned.
    pub(crate) fn put(&self, digest: &str, artifact: &[u8]) {
        let partial = self.dir.join(format!("{digest}.partial"));
        let written = std::fs::File::create(&partial)
            .and_then(|mut file| file.write_all(artifact))
            .and_then(|()| std::fs::rename(&partial, self.dir.join(digest)));
        if let Err(e) = written {
            tracing::warn!(
                "cannot cache a compiled plugin in {}: {e}",
                self.dir.display()
            );
        }
    }

    /// Removes every cached artifact whose digest `used` does not name.
    pub(crate) fn retain(&self, used: impl Fn(&str) -> bool) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            if !name.to_str().is_some_and(&used) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}
