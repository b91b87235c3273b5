//! A log file rotated by size: `app.log` is renamed to `app.log.1` (and `.1` to `.2`, …,
//! keeping LOG_FILE_BACKUP_COUNT files) before a write would take it past
//! LOG_FILE_MAX_BYTES. The same scheme as Python's RotatingFileHandler, which the original
//! project used, so existing log shipping keeps working.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

#[derive(Debug)]
pub struct RotatingFile {
    path: PathBuf,
    max_bytes: u64,
    backups: u32,
    file: File,
    written: u64,
}

impl RotatingFile {
    /// Opens (appending to) `path`, creating its directory when needed.
    pub fn open(path: &Path, max_bytes: u64, backups: u32) -> io::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let written = file.metadata()?.len();
        Ok(Self {
            path: path.to_owned(),
            max_bytes,
            backups,
            file,
            written,
        })
    }

    fn backup(&self, n: u32) -> PathBuf {
        let mut name = self.path.clone().into_os_string();
        name.push(format!(".{n}"));
        PathBuf::from(name)
    }

    fn rotate(&mut self) -> io::Result<()> {
        self.file.flush()?;
        if self.backups == 0 {
            self.file = File::create(&self.path)?;
        } else {
            for n in (1..self.backups).rev() {
                let from = self.backup(n);
                if from.exists() {
                    std::fs::rename(&from, self.backup(n + 1))?;
                }
            }
            std::fs::rename(&self.path, self.backup(1))?;
            self.file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)?;
        }
        self.written = 0;
        Ok(())
    }
}

impl Write for RotatingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.written > 0 && self.written + buf.len() as u64 > self.max_bytes {
            self.rotate()?;
        }
        let n = self.file.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_by_size_and_keeps_the_configured_backups() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs/app.log");
        let mut file = RotatingFile::open(&path, 100, 2).unwrap();
        let line = format!("{}\n", "x".repeat(39)); // 40 bytes
        for _ in 0..10 {
            file.write_all(line.as_bytes()).unwrap();
        }
        file.flush().unwrap();
        let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).ok();
        assert_eq!(size(&path), Some(80));
        assert_eq!(size(&dir.path().join("logs/app.log.1")), Some(80));
        assert_eq!(size(&dir.path().join("logs/app.log.2")), Some(80));
        assert_eq!(size(&dir.path().join("logs/app.log.3")), None);
    }

    #[test]
    fn zero_backups_truncates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        let mut file = RotatingFile::open(&path, 50, 0).unwrap();
        for _ in 0..5 {
            file.write_all(&[b'y'; 30]).unwrap();
        }
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 30);
        assert!(!dir.path().join("app.log.1").exists());
    }
}
