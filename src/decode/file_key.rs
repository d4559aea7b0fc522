//! Which file an exchange is about.
//!
//! [`FileKey`] is the one key every consumer groups by: the timeline's files, the WebDAV
//! and SPFileSync cross-exchange rules, the reference server's store. SharePoint and IIS
//! treat URLs case-insensitively and clients percent-encode names differently, so the key
//! is percent-decoded and lowercased. Display is separate: [`display_path`] and
//! [`file_name`] keep the case the client used, for sentences and reports.

use std::fmt;

use super::text::percent_decode;

/// The key of the file a URL names: scheme and host lowercased, path percent-decoded and
/// lowercased, no query or fragment, no trailing slash (`/` for an empty path).
///
/// ```
/// use synctap::decode::file_key::FileKey;
///
/// let k = FileKey::of_url("https://Contoso.example/Sites/Team/Shared%20Documents/Plan.docx?x=1");
/// assert_eq!(k.as_str(), "https://contoso.example/sites/team/shared documents/plan.docx");
/// assert_eq!(k.path(), "/sites/team/shared documents/plan.docx");
/// assert_eq!(k.name(), "plan.docx");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileKey {
    key: String,
    /// Where the path starts in `key` (0 for a path-only URL).
    path_at: usize,
}

impl FileKey {
    /// The key of `url` (absolute, or path-only as in WebDAV hrefs).
    pub fn of_url(url: &str) -> Self {
        let no_query = url.trim().split(['?', '#']).next().unwrap_or("");
        let lower = percent_decode(no_query).to_lowercase();
        let trimmed = lower.trim_end_matches('/');
        let key = if trimmed.is_empty() {
            "/".to_owned()
        } else {
            trimmed.to_owned()
        };
        let path_at = match key.find("://") {
            Some(i) => key[i + 3..].find('/').map_or(key.len(), |p| i + 3 + p),
            None => 0,
        };
        Self { key, path_at }
    }

    /// The whole key.
    pub fn as_str(&self) -> &str {
        &self.key
    }

    /// The path part (from its first `/`, `/` when the URL has none): the key of a
    /// resource when some of the URLs naming it are path-only (WebDAV hrefs, RFC 4918
    /// 8.3).
    pub fn path(&self) -> &str {
        match &self.key[self.path_at..] {
            "" => "/",
            p => p,
        }
    }

    /// The last path segment: the file's name, lowercased.
    pub fn name(&self) -> &str {
        let p = self.path();
        p.rsplit('/').next().unwrap_or(p)
    }
}

impl fmt::Display for FileKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key)
    }
}

/// The path of a URL as the client wrote it, percent-decoded: no origin, query, fragment
/// or trailing slash (`/` when empty). For sentences; compare with [`FileKey`].
pub fn display_path(url: &str) -> String {
    let no_query = url.split(['?', '#']).next().unwrap_or(url);
    let path = match no_query.split_once("://") {
        Some((_, r)) => r.find('/').map_or("/", |i| &r[i..]),
        None => no_query,
    };
    let p = percent_decode(path);
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        "/".to_owned()
    } else {
        t.to_owned()
    }
}

/// The last path segment of a URL as the client wrote it, percent-decoded: how reports
/// name a file.
pub fn file_name(url: &str) -> String {
    let path = url.split(['?', '#']).next().unwrap_or("");
    let last = path.rsplit('/').find(|s| !s.is_empty()).unwrap_or(path);
    percent_decode(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_normalise_case_escapes_query_and_slash() {
        assert_eq!(
            FileKey::of_url("https://Contoso.example/Sites/Team/Shared%20Documents/Plan.docx?x=1")
                .as_str(),
            "https://contoso.example/sites/team/shared documents/plan.docx"
        );
        assert_eq!(FileKey::of_url("/a/b/").as_str(), "/a/b");
        assert_eq!(FileKey::of_url("").as_str(), "/");
        assert_eq!(FileKey::of_url("https://h").path(), "/");
        assert_eq!(FileKey::of_url("https://h/").as_str(), "https://h");
        // An absolute URL and a path-only href name the same resource by path.
        assert_eq!(
            FileKey::of_url("http://mail.contoso.com/exchange/adele/Inbox/Budget.EML").path(),
            FileKey::of_url("/exchange/adele/Inbox/Budget.EML").path()
        );
        assert_eq!(
            FileKey::of_url("https://h/sites/a/Shared%20Documents/Report.docx").name(),
            "report.docx"
        );
        // `%` before a multibyte character is a literal `%`.
        assert_eq!(FileKey::of_url("/N%Kä").as_str(), "/n%kä");
    }

    #[test]
    fn display_keeps_case() {
        assert_eq!(
            display_path("http://h/exchange/Inbox/Budget.EML?x"),
            "/exchange/Inbox/Budget.EML"
        );
        assert_eq!(display_path("https://h"), "/");
        assert_eq!(
            file_name("https://h/Shared%20Documents/Report.docx?web=1"),
            "Report.docx"
        );
        assert_eq!(file_name("https://h/Folder/"), "Folder");
    }
}
