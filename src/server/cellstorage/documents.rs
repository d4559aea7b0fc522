//! The subrequests about the document itself rather than its locks or content:
//! AmIAlone, LockStatus, GetDocMetaInfo, GetVersions, Properties, EditorsTable,
//! Versioning and FileOperation (MS-FSSHTTP 2.3.1).

use std::collections::BTreeMap;

use super::{filetime, rfc3339, Call, CellService, Outcome};
use crate::decode::fsshttp::{
    EditorsTableRequestType, ErrorCode, FileOperationRequestType, FileVersion, GetVersionsResults,
    LockType, MetaProperty, PropertiesRequestType, PropertyValue, SubResponseData, VersionResult,
    VersionUser, VersioningRequestType,
};
use crate::server::store::{check_name, guid, Document, Editor, Lock, Version};

impl CellService {
    /// AmIAlone: whether the caller is the only coauthor.
    pub(super) fn am_i_alone(&mut self, c: &Call<'_>) -> Outcome {
        self.with_doc(c, ErrorCode::SubRequestFail, |_, d, _| {
            Outcome::ok(SubResponseData {
                am_i_alone: Some(d.coauthors() <= 1),
                ..SubResponseData::default()
            })
        })
    }

    /// LockStatus: the file's lock, its id and who holds it.
    pub(super) fn lock_status(&mut self, c: &Call<'_>) -> Outcome {
        self.with_doc(c, ErrorCode::SubRequestFail, |_, d, _| {
            let (lock_type, lock_id, by) = match &d.lock {
                Lock::None => (LockType::None, None, None),
                Lock::Shared { schema_lock_id, .. } => (
                    LockType::SchemaLock,
                    Some(schema_lock_id.clone()),
                    Some(d.holder()),
                ),
                Lock::Exclusive { id, holder, .. } => (
                    LockType::ExclusiveLock,
                    Some(id.clone()),
                    Some(holder.clone()),
                ),
            };
            Outcome::ok(SubResponseData {
                lock_type: Some(lock_type),
                lock_id,
                locked_by: by,
                ..SubResponseData::default()
            })
        })
    }

    /// GetDocMetaInfo: the document's and its folder's properties.
    pub(super) fn doc_meta_info(&mut self, c: &Call<'_>) -> Outcome {
        self.with_doc(c, ErrorCode::SubRequestFail, |s, d, _| {
            let v = d.current();
            let prop = |k: &str, v: String| MetaProperty {
                key: Some(k.to_owned()),
                value: Some(v),
            };
            Outcome::ok(SubResponseData {
                doc_props: Some(vec![
                    prop("vti_etag", d.etag(s.seed)),
                    prop("vti_filesize", v.content.len().to_string()),
                    prop("vti_timecreated", filetime(d.created_ms).ticks.to_string()),
                    prop(
                        "vti_timelastmodified",
                        filetime(v.modified_ms).ticks.to_string(),
                    ),
                    prop("vti_modifiedby", v.modified_by.clone()),
                ]),
                folder_props: Some(vec![prop("vti_listtitle", "Documents".to_owned())]),
                ..SubResponseData::default()
            })
        })
    }

    /// GetVersions: the version history, newest first.
    pub(super) fn get_versions(&mut self, c: &Call<'_>) -> Outcome {
        self.with_doc(c, ErrorCode::SubRequestFail, |s, d, url| {
            let n = d.versions.len();
            let result = d
                .versions
                .iter()
                .enumerate()
                .rev()
                .map(|(i, v)| VersionResult {
                    version: Some(format!(
                        "{}{}.0",
                        if i + 1 == n { "@" } else { "" },
                        v.number
                    )),
                    url: Some(url.to_owned()),
                    created: Some(rfc3339(v.modified_ms)),
                    created_raw: Some(rfc3339(v.modified_ms)),
                    created_by: Some(v.modified_by.clone()),
                    created_by_name: Some(v.modified_by.clone()),
                    size: Some(v.content.len() as u64),
                    comments: Some(String::new()),
                })
                .collect();
            Outcome {
                versions: Some(Box::new(GetVersionsResults {
                    list: Some(guid(s.seed, 0x115, 1).to_string()),
                    versioning: Some("1".to_owned()),
                    settings: Some("/_layouts/15/LstSetng.aspx".to_owned()),
                    result,
                })),
                ..Outcome::done()
            }
        })
    }

    /// Properties: enumerating and reading the file's properties.
    pub(super) fn properties(&mut self, c: &Call<'_>) -> Outcome {
        self.with_doc(c, ErrorCode::SubRequestFail, |s, d, _| {
            property_values(s.seed, d, c)
        })
    }

    /// EditorsTable: join, refresh and leave editing sessions, and editor metadata.
    pub(super) fn editors_table(&mut self, c: &Call<'_>) -> Outcome {
        let Some(kind) = c.data.editors_table_request_type.clone() else {
            return Outcome::err(ErrorCode::InvalidArgument);
        };
        let now = self.now();
        let client = c.client();
        let timeout = c.timeout_ms();
        self.with_doc(c, ErrorCode::FileNotExistsOrCannotBeCreated, |_, d, _| {
            let empty = Outcome::ok(SubResponseData::default());
            match kind {
                EditorsTableRequestType::JoinEditingSession
                | EditorsTableRequestType::RefreshEditingSession => {
                    let e = d.editors.entry(client).or_insert_with(|| Editor {
                        expires: 0,
                        as_editor: c.data.as_editor.unwrap_or(true),
                        metadata: BTreeMap::new(),
                    });
                    e.expires = e.expires.max(now.saturating_add(timeout));
                    empty
                }
                EditorsTableRequestType::LeaveEditingSession => {
                    d.editors.remove(&client);
                    empty
                }
                EditorsTableRequestType::UpdateEditorMetadata => {
                    let Some(e) = d.editors.get_mut(&client) else {
                        return Outcome::err(ErrorCode::EditorClientIdNotFound);
                    };
                    let key = c.data.key.clone().unwrap_or_default();
                    let value = c
                        .data
                        .value
                        .clone()
                        .or_else(|| c.data.text.clone())
                        .unwrap_or_default();
                    if key.len() > 64 || value.len() > 1024 {
                        return Outcome::err(ErrorCode::EditorMetadataStringExceedsLengthLimit);
                    }
                    if !e.metadata.contains_key(&key) && e.metadata.len() >= 4 {
                        return Outcome::err(ErrorCode::EditorMetadataQuotaReached);
                    }
                    e.metadata.insert(key, value);
                    empty
                }
                EditorsTableRequestType::RemoveEditorMetadata => {
                    let Some(e) = d.editors.get_mut(&client) else {
                        return Outcome::err(ErrorCode::EditorClientIdNotFound);
                    };
                    e.metadata.remove(c.data.key.as_deref().unwrap_or_default());
                    empty
                }
                EditorsTableRequestType::Other(_) => Outcome::err(ErrorCode::InvalidSubRequest),
            }
        })
    }

    /// Versioning: the version list, and restoring a version as a new one.
    pub(super) fn versioning(&mut self, c: &Call<'_>) -> Outcome {
        let now = self.now();
        let user = c.user.to_owned();
        self.with_doc(
            c,
            ErrorCode::FileNotExistsOrCannotBeCreated,
            |_, d, _| match c.data.versioning_request_type.clone() {
                Some(VersioningRequestType::GetVersionList) => {
                    let n = d.versions.len();
                    let mut users: Vec<String> = Vec::new();
                    let mut versions = Vec::new();
                    for (i, v) in d.versions.iter().enumerate().rev() {
                        let uid = match users.iter().position(|u| *u == v.modified_by) {
                            Some(p) => p,
                            None => {
                                users.push(v.modified_by.clone());
                                users.len() - 1
                            }
                        };
                        versions.push(FileVersion {
                            is_current: (i + 1 == n).then_some(true),
                            number: Some(format!("{}.0", v.number)),
                            last_modified_time: Some(filetime(v.modified_ms)),
                            user_id: Some(uid as i64),
                            events: None,
                        });
                    }
                    let user_table = users
                        .into_iter()
                        .enumerate()
                        .map(|(i, u)| VersionUser {
                            user_id: Some(i as i64),
                            user_name: Some(u.rsplit('\\').next().unwrap_or(&u).to_owned()),
                            user_login: Some(u),
                            user_email_address: None,
                        })
                        .collect();
                    Outcome::ok(SubResponseData {
                        user_table: Some(user_table),
                        versions: Some(versions),
                        ..SubResponseData::default()
                    })
                }
                Some(VersioningRequestType::RestoreVersion) => {
                    let wanted = c.data.version.clone().unwrap_or_default();
                    let found = d
                        .versions
                        .iter()
                        .find(|v| {
                            format!("{}.0", v.number) == wanted || v.number.to_string() == wanted
                        })
                        .map(|v| v.content.clone());
                    let Some(content) = found else {
                        return Outcome::err(ErrorCode::VersionNotFound);
                    };
                    let number = d.current().number + 1;
                    d.versions.push(Version {
                        number,
                        content,
                        modified_ms: now,
                        modified_by: user,
                    });
                    Outcome::ok(SubResponseData::default())
                }
                _ => Outcome::err(ErrorCode::InvalidArgument),
            },
        )
    }

    /// FileOperation: renaming the file.
    pub(super) fn file_operation(&mut self, c: &Call<'_>) -> Outcome {
        if c.data.file_operation != Some(FileOperationRequestType::Rename) {
            return Outcome::err(ErrorCode::InvalidArgument);
        }
        let Some(new_name) = c.data.new_file_name.clone() else {
            return Outcome::err(ErrorCode::InvalidArgument);
        };
        let Some(d) = self.store.find_mut(c.url) else {
            return Outcome::err(ErrorCode::FileNotExistsOrCannotBeCreated);
        };
        if let Lock::Exclusive { id, .. } = &d.lock {
            if c.data.exclusive_lock_id.as_deref() != Some(id.as_str()) {
                return Outcome::err_msg(ErrorCode::FileAlreadyLockedOnServer, d.holder());
            }
        }
        if let Err(why) = check_name(&new_name) {
            return Outcome::err_msg(
                ErrorCode::InvalidArgument,
                format!("{why}: {}", new_name.escape_debug()),
            );
        }
        if self.store.rename(c.url, &new_name) {
            Outcome::ok(SubResponseData::default())
        } else {
            Outcome::err_msg(
                ErrorCode::SubRequestFail,
                format!("cannot rename to {new_name}"),
            )
        }
    }
}

fn property_values(seed: u64, d: &Document, c: &Call<'_>) -> Outcome {
    let all = [
        ("vti_etag", d.etag(seed)),
        ("vti_filesize", d.content().len().to_string()),
        ("vti_title", d.name.clone()),
    ];
    match c.data.properties.clone() {
        Some(PropertiesRequestType::PropertyEnumerate) => Outcome::ok(SubResponseData {
            property_ids: Some(all.iter().map(|(k, _)| (*k).to_owned()).collect()),
            ..SubResponseData::default()
        }),
        Some(PropertiesRequestType::PropertyGet) => {
            let wanted = c.data.property_ids.clone().unwrap_or_default();
            let property_values = all
                .iter()
                .filter(|(k, _)| wanted.is_empty() || wanted.iter().any(|w| w == k))
                .map(|(k, v)| PropertyValue {
                    id: Some((*k).to_owned()),
                    value: Some(v.clone()),
                })
                .collect();
            Outcome::ok(SubResponseData {
                property_values: Some(property_values),
                ..SubResponseData::default()
            })
        }
        _ => Outcome::err(ErrorCode::InvalidArgument),
    }
}
