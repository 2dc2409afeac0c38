//! The demo's scratch directory: a fresh SQLite database per run, never `./klaxon.db`,
//! removed when the demo ends.

use std::path::PathBuf;

/// A directory under the system's temporary directory, deleted on drop.
#[derive(Debug)]
pub struct Workspace {
    dir: PathBuf,
}

impl Workspace {
    /// Creates `klaxon-demo-<pid>-<ms>` under the temporary directory.
    pub fn create() -> std::io::Result<Workspace> {
        let name = format!(
            "klaxon-demo-{}-{}",
            std::process::id(),
            crate::clock::now_ms()
        );
        let dir = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&dir)?;
        Ok(Workspace { dir })
    }

    /// The demo's database file.
    pub fn database(&self) -> PathBuf {
        self.dir.join("klaxon.db")
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_directory_is_fresh_and_removed_on_drop() {
        let workspace = Workspace::create().unwrap();
        let dir = workspace.database().parent().unwrap().to_owned();
        assert!(dir.is_dir());
        drop(workspace);
        assert!(!dir.exists());
    }
}
