//! The reference server's state: documents, their versions, and the lock state of each
//! file (the file coauthoring tracker of MS-FSSHTTP 3.1.1).
//!
//! Everything here is synchronous and takes the time from a [`Clock`], so tests can move
//! time forward instead of sleeping. The SOAP layer (`cellstorage`) turns requests into
//! calls on [`Document`] and outcomes into SubResponses; no IO happens here except
//! writing uploaded versions back to the data folder, which `Store` does.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::decode::fsshttpb::{ExGuid, FilePackageOptions, Guid};

/// Where the server gets the time from.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }
}

/// A clock that only moves when told to, for tests of timeouts and expiry.
#[derive(Debug, Default)]
pub struct ManualClock {
    now: AtomicU64,
}

impl ManualClock {
    /// A clock standing at `start_ms` (milliseconds since the Unix epoch).
    pub fn new(start_ms: u64) -> Arc<Self> {
        Arc::new(Self {
            now: AtomicU64::new(start_ms),
        })
    }

    /// Moves the clock forward by `secs` seconds.
    pub fn advance_secs(&self, secs: u64) {
        self.now
            .fetch_add(secs.saturating_mul(1000), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.now.load(Ordering::SeqCst)
    }
}

/// The lock a file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lock {
    /// No lock.
    None,
    /// A shared (schema) lock with the coauthoring tracker.
    Shared {
        /// The SchemaLockID every holder presented.
        schema_lock_id: String,
        /// ClientID → expiry (ms since the epoch), in join order by id.
        clients: BTreeMap<String, u64>,
    },
    /// An exclusive lock.
    Exclusive {
        /// The ExclusiveLockID.
        id: String,
        /// Expiry (ms since the epoch).
        expires: u64,
        /// Who took it (for `LockedBy` and `ErrorMessage`).
        holder: String,
    },
}

/// One entry of the editors table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Editor {
    /// Expiry (ms since the epoch).
    pub expires: u64,
    /// Joined as editor.
    pub as_editor: bool,
    /// Up to four key/value pairs.
    pub metadata: BTreeMap<String, String>,
}

/// One stored version of a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// 1, 2, 3...
    pub number: u32,
    /// The content.
    pub content: Vec<u8>,
    /// When it was stored (ms since the epoch).
    pub modified_ms: u64,
    /// Who stored it.
    pub modified_by: String,
}

/// A document and its lock state.
#[derive(Debug, Clone)]
pub struct Document {
    /// Its name in the library (the last URL segment).
    pub name: String,
    /// A stable id used in GUIDs.
    pub doc_id: u32,
    /// Whether coauthoring is allowed on this document (false for e.g. `.csv`).
    pub coauthorable: bool,
    /// Versions, oldest first; never empty.
    pub versions: Vec<Version>,
    /// When it was created (ms since the epoch).
    pub created_ms: u64,
    /// The lock.
    pub lock: Lock,
    /// The file's coauthoring TransitionID, set when a session starts.
    pub transition_id: Option<String>,
    /// A transition request exists (a second coauthor joined and the first has not
    /// sent MarkTransitionComplete yet).
    pub transition_pending: bool,
    /// The editors table.
    pub editors: BTreeMap<String, Editor>,
    /// The library change number of the last change to this document (SPFileSync).
    pub change: u64,
}

impl Document {
    /// The current version.
    pub fn current(&self) -> &Version {
        // `versions` is never empty: documents are created with one version.
        self.versions.last().expect("a document has a version")
    }

    /// The content of the current version.
    pub fn content(&self) -> &[u8] {
        &self.current().content
    }

    /// The ETag of the current version, `"{GUID},N"` with the quotes.
    pub fn etag(&self, seed: u64) -> String {
        format!(
            "\"{},{}\"",
            guid(seed, 0xE7A6, self.doc_id),
            self.current().number
        )
    }

    /// FSSHTTPD packaging options of the current version: every version gets its own
    /// Extended GUIDs, so the Storage Index id changes with each upload.
    pub fn package_options(&self, seed: u64) -> FilePackageOptions {
        let n = self.current().number;
        FilePackageOptions {
            id_guid: guid(seed, 0x1D00 + n, self.doc_id),
            serial_guid: guid(seed, 0x5E00 + n, self.doc_id),
            ..FilePackageOptions::default()
        }
    }

    /// The Storage Index id of the current version (what a Put Changes must expect).
    pub fn storage_index(&self, seed: u64) -> ExGuid {
        ExGuid::new(self.package_options(seed).id_guid, 1)
    }

    /// Drops clients, editors and locks whose timeout has passed.
    pub fn expire(&mut self, now: u64) {
        match &mut self.lock {
            Lock::Shared { clients, .. } => {
                clients.retain(|_, exp| *exp > now);
                if clients.is_empty() {
                    self.lock = Lock::None;
                    self.transition_pending = false;
                } else if clients.len() == 1 {
                    self.transition_pending = false;
                }
            }
            Lock::Exclusive { expires, .. } if *expires <= now => self.lock = Lock::None,
            _ => {}
        }
        self.editors.retain(|_, e| e.expires > now);
    }

    /// Number of clients in the coauthoring session.
    pub fn coauthors(&self) -> usize {
        match &self.lock {
            Lock::Shared { clients, .. } => clients.len(),
            _ => 0,
        }
    }

    /// Who holds the lock, for `ErrorMessage` on FileAlreadyLockedOnServer.
    pub fn holder(&self) -> String {
        match &self.lock {
            Lock::None => String::new(),
            Lock::Shared { clients, .. } => format!(
                "shared lock held by {}",
                clients.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
            Lock::Exclusive { holder, .. } => holder.clone(),
        }
    }
}

/// A deterministic GUID from the server seed, a kind and a number.
pub fn guid(seed: u64, kind: u32, n: u32) -> Guid {
    let v = (u128::from(seed) << 64) | (u128::from(kind) << 32) | u128::from(n);
    // Mix so GUIDs do not look like counters, keeping the value deterministic.
    let mixed = v.wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835) ^ (v >> 7);
    // RFC 4122 version 4 / variant bits, so the text looks like a real GUID.
    let mixed = (mixed & !(0xFu128 << 76) & !(0x3u128 << 62)) | (0x4u128 << 76) | (0x2u128 << 62);
    Guid::from_u128(mixed)
}

/// The server's documents.
#[derive(Debug)]
pub struct Store {
    /// Documents by lowercase name.
    pub docs: BTreeMap<String, Document>,
    /// Where uploads are written, if anywhere.
    pub data_dir: Option<PathBuf>,
    /// The library's change counter (SPFileSync SyncTokens); grows with each change.
    pub change_counter: u64,
    next_doc: u32,
}

/// Sample documents the server starts with when the data folder is empty.
pub const SAMPLES: &[(&str, &str)] = &[
    (
        "Report.docx",
        "Quarterly report (sample document for synctap serve). Coauthorable.\n",
    ),
    (
        "Budget.xlsx",
        "Budget sample, coauthorable. Columns: item, amount.\n",
    ),
    ("Notes.txt", "Plain text notes.\n"),
    (
        "Inventory.csv",
        "item,count\nwidget,3\n(not coauthorable: opened with an exclusive lock)\n",
    ),
];

/// Whether a file name can be coauthored (Office formats; not `.csv`/`.txt`).
pub fn is_coauthorable(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    [".docx", ".xlsx", ".pptx", ".one", ".vsdx"]
        .iter()
        .any(|e| lower.ends_with(e))
}

impl Store {
    /// An empty store.
    pub fn new(data_dir: Option<PathBuf>) -> Self {
        Self {
            docs: BTreeMap::new(),
            data_dir,
            change_counter: 0,
            next_doc: 1,
        }
    }

    /// Loads every regular file of `dir` (seeding it with [`SAMPLES`] when it holds none).
    ///
    /// # Errors
    /// When the folder cannot be created, read or seeded.
    pub fn load(dir: &Path, now_ms: u64) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let mut files: Vec<(String, Vec<u8>)> = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                if let Some(name) = entry.file_name().to_str() {
                    files.push((name.to_owned(), std::fs::read(entry.path())?));
                }
            }
        }
        if files.is_empty() {
            for (name, text) in SAMPLES {
                std::fs::write(dir.join(name), text)?;
                files.push(((*name).to_owned(), text.as_bytes().to_vec()));
            }
        }
        files.sort();
        let mut store = Self::new(Some(dir.to_path_buf()));
        for (name, content) in files {
            store.insert(&name, content, now_ms, "synctap\\seed");
        }
        Ok(store)
    }

    /// Adds a document with one version.
    pub fn insert(&mut self, name: &str, content: Vec<u8>, now_ms: u64, by: &str) {
        let doc_id = self.next_doc;
        self.next_doc += 1;
        self.change_counter += 1;
        let change = self.change_counter;
        self.docs.insert(
            name.to_ascii_lowercase(),
            Document {
                name: name.to_owned(),
                doc_id,
                coauthorable: is_coauthorable(name),
                versions: vec![Version {
                    number: 1,
                    content,
                    modified_ms: now_ms,
                    modified_by: by.to_owned(),
                }],
                created_ms: now_ms,
                lock: Lock::None,
                transition_id: None,
                transition_pending: false,
                editors: BTreeMap::new(),
                change,
            },
        );
    }

    /// The document named by the last segment of `url` (percent-decoded, any case).
    pub fn find_mut(&mut self, url: &str) -> Option<&mut Document> {
        self.docs.get_mut(&doc_key(url))
    }

    /// Records a change to the document under `key` (its content or name changed).
    pub fn touch(&mut self, key: &str) {
        self.change_counter += 1;
        let n = self.change_counter;
        if let Some(d) = self.docs.get_mut(key) {
            d.change = n;
        }
    }

    /// Writes the content of a new version of `name` to the data folder.
    ///
    /// `name` is checked again here ([`check_name`]): whatever a caller passes, nothing is
    /// written outside the data folder.
    pub fn write_back(&self, name: &str, content: &[u8]) {
        let Some(path) = self.data_path(name) else {
            return;
        };
        if let Err(e) = std::fs::write(&path, content) {
            tracing::warn!(error = %e, file = name, "cannot write the uploaded version");
        }
    }

    /// The file in the data folder that holds `name`, or `None` without a data folder or
    /// when `name` is not a plain file name.
    fn data_path(&self, name: &str) -> Option<PathBuf> {
        let dir = self.data_dir.as_ref()?;
        if let Err(why) = check_name(name) {
            tracing::warn!(
                file = name.escape_debug().to_string(),
                why,
                "not writing a file with an invalid name"
            );
            return None;
        }
        Some(dir.join(name))
    }

    /// Renames a document; false when the new name is taken or the old one is missing.
    pub fn rename(&mut self, url: &str, new_name: &str) -> bool {
        let key = doc_key(url);
        let new_key = new_name.to_ascii_lowercase();
        if check_name(new_name).is_err() || self.docs.contains_key(&new_key) {
            return false;
        }
        let Some(mut doc) = self.docs.remove(&key) else {
            return false;
        };
        if let (Some(from), Some(to)) = (self.data_path(&doc.name), self.data_path(new_name)) {
            if let Err(e) = std::fs::rename(from, to) {
                tracing::warn!(error = %e, file = new_name, "cannot rename the stored file");
            }
        }
        new_name.clone_into(&mut doc.name);
        self.docs.insert(new_key.clone(), doc);
        self.touch(&new_key);
        true
    }
}

/// Checks that `name`, the last segment of a URL after percent-decoding, can name a
/// document in the library, and so a file in the data folder.
///
/// Refused, as SharePoint refuses them in a file name: empty names, `.` and `..`, path
/// separators (`/`, `\`), NUL and other control characters, a drive letter or NTFS
/// stream (`:`), the characters `" * < > ? |`, a `%` (a name still percent-encoded after
/// one decoding is a double-encoded path, not a name), names that start or end with a
/// space or end with a period, and names longer than 255 bytes.
///
/// # Errors
/// A short reason, for the log and the SubResponse's ErrorMessage.
pub fn check_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("the file name is empty");
    }
    if name == "." || name == ".." {
        return Err("the file name is a relative path");
    }
    if name.len() > 255 {
        return Err("the file name is longer than 255 bytes");
    }
    if name.contains(['/', '\\']) {
        return Err("the file name contains a path separator");
    }
    if name.chars().any(char::is_control) {
        return Err("the file name contains a control character");
    }
    if name.contains(':') {
        return Err("the file name contains a drive letter or stream separator (:)");
    }
    if name.contains(['"', '*', '<', '>', '?', '|', '%']) {
        return Err("the file name contains a character SharePoint does not allow");
    }
    if name.starts_with(' ') || name.ends_with(' ') || name.ends_with('.') {
        return Err("the file name starts or ends with a space or ends with a period");
    }
    Ok(())
}

/// The store key of a file URL: its last path segment, percent-decoded, lowercase.
pub fn doc_key(url: &str) -> String {
    crate::decode::file_key::FileKey::of_url(url)
        .name()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_guids() {
        assert_eq!(
            doc_key("https://h/sites/a/Shared%20Documents/Report.docx"),
            "report.docx"
        );
        assert_eq!(guid(1, 2, 3), guid(1, 2, 3));
        assert_ne!(guid(1, 2, 3), guid(2, 2, 3));
        assert!(guid(7, 1, 1).to_string().starts_with('{'));
    }

    #[test]
    fn names_from_urls_never_leave_the_folder() {
        for bad in [
            "",
            ".",
            "..",
            "../x",
            "..\\x",
            "a/b",
            "/etc/passwd",
            "C:x",
            "C:\\x",
            "x\0y",
            "a\u{1b}[41m",
            "%2e%2e",
            "a?b",
            "a|b",
            "x.",
            " x",
            "x ",
        ] {
            assert!(check_name(bad).is_err(), "{bad:?} accepted");
        }
        for good in [
            "Report.docx",
            "Report Q1.docx",
            "ä ö.txt",
            "a.b.c",
            "~$x.docx",
            "..x",
        ] {
            assert_eq!(check_name(good), Ok(()), "{good:?}");
        }
        assert!(check_name(&"a".repeat(256)).is_err());
    }

    #[test]
    fn expiry_releases_shares_one_by_one() {
        let mut s = Store::new(None);
        s.insert("a.docx", b"x".to_vec(), 0, "u");
        let Some(d) = s.find_mut("/a.docx") else {
            panic!("inserted")
        };
        let mut clients = BTreeMap::new();
        clients.insert("A".to_owned(), 10_000);
        clients.insert("B".to_owned(), 20_000);
        d.lock = Lock::Shared {
            schema_lock_id: "S".into(),
            clients,
        };
        d.expire(15_000);
        assert_eq!(d.coauthors(), 1);
        d.expire(20_000);
        assert_eq!(d.lock, Lock::None);
    }
}
