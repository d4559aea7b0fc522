//! The lock subrequests: Coauth, SchemaLock and ExclusiveLock (MS-FSSHTTP 2.3.1.3 to
//! 2.3.1.9): one shared lock per schema with a timeout per ClientID,
//! exclusive locks, conversions between them, and the upload's lock check.

use std::collections::BTreeMap;

use super::{Call, CellService, Outcome};
use crate::decode::fsshttp::{
    CoauthRequestType, CoauthStatus, ErrorCode, ExclusiveLockRequestType,
    ExclusiveLockReturnReason, LockType, SchemaLockRequestType, SubResponseData,
};
use crate::server::store::{Document, Lock};

/// How a caller joined: sharing the lock with this many clients, or alone and exclusive.
enum Joined {
    Shared(usize),
    Exclusive,
}

impl CellService {
    /// The request type of a lock subrequest on a file that exists, or the refusal.
    fn lock_request<T: Clone>(&mut self, c: &Call<'_>, kind: &Option<T>) -> Result<T, Outcome> {
        let Some(kind) = kind.clone() else {
            return Err(Outcome::err(ErrorCode::InvalidArgument));
        };
        if self.store.find_mut(c.url).is_none() {
            return Err(Outcome::err(ErrorCode::FileNotExistsOrCannotBeCreated));
        }
        Ok(kind)
    }

    /// Coauth: joining, refreshing and leaving a coauthoring session, and its status.
    pub(super) fn coauth(&mut self, c: &Call<'_>) -> Outcome {
        let kind = match self.lock_request(c, &c.data.coauth_request_type) {
            Ok(kind) => kind,
            Err(refused) => return refused,
        };
        match kind {
            CoauthRequestType::JoinCoauthoring => self.join(c, true),
            CoauthRequestType::RefreshCoauthoring => self.refresh(c, true),
            CoauthRequestType::ExitCoauthoring => self.release_share(c, true),
            CoauthRequestType::ConvertToExclusive => self.convert_to_exclusive(c),
            CoauthRequestType::CheckLockAvailability => self.check_shared(c),
            CoauthRequestType::MarkTransitionComplete => {
                self.with_doc(c, ErrorCode::FileNotExistsOrCannotBeCreated, |_, d, _| {
                    if !in_session(d, c) {
                        return Outcome::err(ErrorCode::InvalidCoauthSession);
                    }
                    d.transition_pending = false;
                    Outcome::ok(SubResponseData::default())
                })
            }
            CoauthRequestType::GetCoauthoringStatus => {
                self.with_doc(c, ErrorCode::FileNotExistsOrCannotBeCreated, |_, d, _| {
                    let status = in_session(d, c).then(|| status_of(d.coauthors()));
                    Outcome::ok(SubResponseData {
                        coauth_status: status,
                        ..SubResponseData::default()
                    })
                })
            }
            CoauthRequestType::Other(_) => Outcome::err(ErrorCode::InvalidArgument),
        }
    }

    /// SchemaLock: the shared lock of a schema, without coauthoring status.
    pub(super) fn schema_lock(&mut self, c: &Call<'_>) -> Outcome {
        let kind = match self.lock_request(c, &c.data.schema_lock_request_type) {
            Ok(kind) => kind,
            Err(refused) => return refused,
        };
        match kind {
            SchemaLockRequestType::GetLock => self.join(c, false),
            SchemaLockRequestType::RefreshLock => self.refresh(c, false),
            SchemaLockRequestType::ReleaseLock => self.release_share(c, false),
            SchemaLockRequestType::ConvertToExclusive => self.convert_to_exclusive(c),
            SchemaLockRequestType::CheckLockAvailability => self.check_shared(c),
            SchemaLockRequestType::Other(_) => Outcome::err(ErrorCode::InvalidArgument),
        }
    }

    /// Coauth JoinCoauthoring (`coauth`) or SchemaLock GetLock.
    fn join(&mut self, c: &Call<'_>, coauth: bool) -> Outcome {
        let coauth_on = self.settings.coauth;
        let max = self.settings.max_coauthors;
        let tid = self.fresh_guid(0x7A);
        let now = self.now();
        self.with_doc(
            c,
            ErrorCode::FileNotExistsOrCannotBeCreated,
            |_, d, _| match join_doc(d, c, coauth_on, max, now) {
                Err(o) => o,
                Ok(joined) => {
                    let transition = d.transition_id.get_or_insert(tid).clone();
                    let mut data = SubResponseData::default();
                    match joined {
                        Joined::Shared(n) => {
                            data.lock_type = Some(LockType::SchemaLock);
                            if coauth {
                                data.coauth_status = Some(status_of(n));
                                data.transition_id = Some(transition);
                            }
                        }
                        Joined::Exclusive => {
                            data.lock_type = Some(LockType::ExclusiveLock);
                            data.exclusive_lock_return_reason =
                                Some(ExclusiveLockReturnReason::CoauthoringDisabled);
                            if coauth {
                                data.coauth_status = Some(CoauthStatus::None);
                                data.transition_id = Some(transition);
                            }
                        }
                    }
                    Outcome::ok(data)
                }
            },
        )
    }

    /// Coauth RefreshCoauthoring (`coauth`) or SchemaLock RefreshLock.
    pub(super) fn refresh(&mut self, c: &Call<'_>, coauth: bool) -> Outcome {
        let now = self.now();
        let client = c.client();
        let schema = c.data.schema_lock_id.clone().unwrap_or_default();
        let timeout = c.timeout_ms();
        let mut rejoin = false;
        let r = self.with_doc(c, ErrorCode::FileNotExistsOrCannotBeCreated, |_, d, _| {
            match &mut d.lock {
                Lock::Shared {
                    schema_lock_id,
                    clients,
                } if *schema_lock_id == schema && clients.contains_key(&client) => {
                    if let Some(exp) = clients.get_mut(&client) {
                        // Refresh never shortens a timeout (A.10.2).
                        *exp = (*exp).max(now.saturating_add(timeout));
                    }
                    let n = clients.len();
                    let mut data = SubResponseData {
                        lock_type: Some(LockType::SchemaLock),
                        ..SubResponseData::default()
                    };
                    if coauth {
                        data.coauth_status = Some(status_of(n));
                    }
                    Outcome::ok(data)
                }
                Lock::Exclusive { id, expires, .. }
                    if c.data.exclusive_lock_id.as_deref() == Some(id.as_str()) =>
                {
                    // A client that fell back to an exclusive lock refreshes it here.
                    *expires = (*expires).max(now.saturating_add(timeout));
                    let mut data = SubResponseData {
                        lock_type: Some(LockType::ExclusiveLock),
                        ..SubResponseData::default()
                    };
                    if coauth {
                        data.coauth_status = Some(CoauthStatus::None);
                    }
                    Outcome::ok(data)
                }
                _ => {
                    rejoin = true;
                    Outcome::done()
                }
            }
        });
        if !rejoin {
            return r;
        }
        // The client's share expired (or it never had one): treated as a Join when
        // coauthoring is enabled, FileNotLockedOnServer otherwise (A.7.2).
        if !self.settings.coauth {
            return Outcome::err(ErrorCode::FileNotLockedOnServer);
        }
        let mut o = self.join(c, coauth);
        if let Some(d) = o.data.as_mut() {
            d.transition_id = None;
        }
        o
    }

    /// Coauth ExitCoauthoring (`coauth`) or SchemaLock ReleaseLock.
    fn release_share(&mut self, c: &Call<'_>, coauth: bool) -> Outcome {
        let client = c.client();
        let schema = c.data.schema_lock_id.clone().unwrap_or_default();
        self.with_doc(c, ErrorCode::FileNotExistsOrCannotBeCreated, |_, d, _| {
            let holder = d.holder();
            match &mut d.lock {
                Lock::None => {
                    if coauth {
                        Outcome::err(ErrorCode::FileNotLockedOnServer)
                    } else {
                        Outcome::ok(SubResponseData::default())
                    }
                }
                Lock::Exclusive { .. } => {
                    Outcome::err_msg(ErrorCode::FileAlreadyLockedOnServer, holder)
                }
                Lock::Shared { schema_lock_id, .. } if *schema_lock_id != schema => {
                    Outcome::err_msg(ErrorCode::FileAlreadyLockedOnServer, holder)
                }
                Lock::Shared { clients, .. } => {
                    if clients.remove(&client).is_none() && !coauth {
                        return Outcome::err(ErrorCode::InvalidCoauthSession);
                    }
                    if clients.is_empty() {
                        d.lock = Lock::None;
                        d.transition_pending = false;
                        d.transition_id = None;
                    } else if clients.len() == 1 {
                        d.transition_pending = false;
                    }
                    Outcome::ok(SubResponseData::default())
                }
            }
        })
    }

    /// Converting a shared lock held alone into an exclusive lock.
    pub(super) fn convert_to_exclusive(&mut self, c: &Call<'_>) -> Outcome {
        let client = c.client();
        let holder = c.holder();
        let now = self.now();
        let timeout = c.timeout_ms();
        let release = c
            .data
            .release_lock_on_conversion_to_exclusive_failure
            .unwrap_or(false);
        let Some(excl) = c.data.exclusive_lock_id.clone() else {
            return Outcome::err(ErrorCode::InvalidArgument);
        };
        self.with_doc(c, ErrorCode::FileNotExistsOrCannotBeCreated, |_, d, _| {
            if !in_session(d, c) {
                return Outcome::err(ErrorCode::InvalidCoauthSession);
            }
            let Lock::Shared { clients, .. } = &mut d.lock else {
                return Outcome::err(ErrorCode::InvalidCoauthSession);
            };
            if clients.len() > 1 {
                if release {
                    clients.remove(&client);
                    if clients.len() == 1 {
                        d.transition_pending = false;
                    }
                    return Outcome::err(ErrorCode::ExitCoauthSessionAsConvertToExclusiveFailed);
                }
                return Outcome::err(ErrorCode::MultipleClientsInCoauthSession);
            }
            // The exclusive lock lives for the Timeout of the conversion request.
            let expires = now.saturating_add(timeout);
            d.lock = Lock::Exclusive {
                id: excl,
                expires,
                holder,
            };
            d.transition_pending = false;
            d.transition_id = None;
            Outcome::ok(SubResponseData {
                lock_type: Some(LockType::ExclusiveLock),
                ..SubResponseData::default()
            })
        })
    }

    /// Whether a shared lock of this schema could be taken.
    pub(super) fn check_shared(&mut self, c: &Call<'_>) -> Outcome {
        let schema = c.data.schema_lock_id.clone().unwrap_or_default();
        self.with_doc(
            c,
            ErrorCode::FileNotExistsOrCannotBeCreated,
            |_, d, _| match &d.lock {
                Lock::Exclusive { .. } => {
                    Outcome::err_msg(ErrorCode::FileAlreadyLockedOnServer, d.holder())
                }
                Lock::Shared { schema_lock_id, .. } if *schema_lock_id != schema => {
                    Outcome::err_msg(ErrorCode::FileAlreadyLockedOnServer, d.holder())
                }
                _ => Outcome::ok(SubResponseData::default()),
            },
        )
    }

    /// ExclusiveLock: get, refresh, release, check, and conversion to a shared lock.
    pub(super) fn exclusive_lock(&mut self, c: &Call<'_>) -> Outcome {
        let Some(kind) = c.data.exclusive_lock_request_type.clone() else {
            return Outcome::err(ErrorCode::InvalidArgument);
        };
        let Some(id) = c.data.exclusive_lock_id.clone() else {
            return Outcome::err(ErrorCode::InvalidArgument);
        };
        let coauth_on = self.settings.coauth;
        let now = self.now();
        let timeout = c.timeout_ms();
        let holder = c.holder();
        let tid = self.fresh_guid(0x7A);
        self.with_doc(c, ErrorCode::FileNotExistsOrCannotBeCreated, |_, d, _| {
            let held = d.holder();
            let same = matches!(&d.lock, Lock::Exclusive { id: x, .. } if *x == id);
            let free = d.lock == Lock::None;
            let empty = || Outcome::ok(SubResponseData::default());
            match &kind {
                ExclusiveLockRequestType::GetLock | ExclusiveLockRequestType::RefreshLock => {
                    if same || free {
                        take_exclusive(d, &id, now.saturating_add(timeout), &holder);
                        empty()
                    } else {
                        Outcome::err_msg(ErrorCode::FileAlreadyLockedOnServer, held)
                            .with_data(SubResponseData::default())
                    }
                }
                ExclusiveLockRequestType::ReleaseLock => {
                    if free {
                        Outcome::err(ErrorCode::FileNotLockedOnServer)
                    } else if same {
                        d.lock = Lock::None;
                        empty()
                    } else {
                        Outcome::err_msg(ErrorCode::FileAlreadyLockedOnServer, held)
                    }
                }
                ExclusiveLockRequestType::CheckLockAvailability => {
                    if same || free {
                        empty()
                    } else {
                        Outcome::err_msg(ErrorCode::FileAlreadyLockedOnServer, held)
                    }
                }
                ExclusiveLockRequestType::ConvertToSchema
                | ExclusiveLockRequestType::ConvertToSchemaJoinCoauth => {
                    if !coauth_on || !d.coauthorable {
                        return Outcome::err(ErrorCode::LockNotConvertedAsCoauthDisabled);
                    }
                    if free {
                        return Outcome::err(ErrorCode::FileNotLockedOnServer);
                    }
                    if !same {
                        return Outcome::err_msg(ErrorCode::FileAlreadyLockedOnServer, held);
                    }
                    let Some(schema) = c.data.schema_lock_id.clone() else {
                        return Outcome::err(ErrorCode::InvalidArgument);
                    };
                    let mut clients = BTreeMap::new();
                    clients.insert(c.client(), now.saturating_add(timeout));
                    d.lock = Lock::Shared {
                        schema_lock_id: schema,
                        clients,
                    };
                    let transition = d.transition_id.get_or_insert(tid).clone();
                    if kind == ExclusiveLockRequestType::ConvertToSchemaJoinCoauth {
                        Outcome::ok(SubResponseData {
                            coauth_status: Some(CoauthStatus::Alone),
                            transition_id: Some(transition),
                            ..SubResponseData::default()
                        })
                    } else {
                        empty()
                    }
                }
                ExclusiveLockRequestType::Other(_) => Outcome::err(ErrorCode::InvalidArgument),
            }
        })
    }
}

/// Adds the caller to the shared lock, or gives it an exclusive lock when coauthoring is
/// off and it allows the fallback.
fn join_doc(
    d: &mut Document,
    c: &Call<'_>,
    coauth_on: bool,
    max: usize,
    now: u64,
) -> Result<Joined, Outcome> {
    let client = c.client();
    let timeout = now.saturating_add(c.timeout_ms());
    if !coauth_on || !d.coauthorable {
        if c.data.allow_fallback_to_exclusive != Some(true) {
            return Err(Outcome::err(ErrorCode::FileNotLockedOnServer));
        }
        let id = c
            .data
            .exclusive_lock_id
            .clone()
            .or_else(|| c.data.schema_lock_id.clone())
            .unwrap_or_else(|| client.clone());
        return match &d.lock {
            Lock::None => {
                take_exclusive(d, &id, timeout, &c.holder());
                Ok(Joined::Exclusive)
            }
            Lock::Exclusive { id: x, .. } if *x == id => {
                take_exclusive(d, &id, timeout, &c.holder());
                Ok(Joined::Exclusive)
            }
            _ => Err(Outcome::err_msg(
                ErrorCode::FileAlreadyLockedOnServer,
                d.holder(),
            )),
        };
    }
    let Some(schema) = c.data.schema_lock_id.clone() else {
        return Err(Outcome::err(ErrorCode::InvalidArgument));
    };
    let holder = d.holder();
    match &mut d.lock {
        Lock::Exclusive { .. } => Err(Outcome::err_msg(
            ErrorCode::FileAlreadyLockedOnServer,
            holder,
        )),
        Lock::Shared { schema_lock_id, .. } if *schema_lock_id != schema => Err(Outcome::err_msg(
            ErrorCode::FileAlreadyLockedOnServer,
            holder,
        )),
        Lock::Shared { clients, .. } => {
            if let Some(exp) = clients.get_mut(&client) {
                *exp = (*exp).max(timeout);
                return Ok(Joined::Shared(clients.len()));
            }
            if clients.len() >= max {
                return Err(Outcome::err_msg(
                    ErrorCode::NumberOfCoauthorsReachedMax,
                    format!("at most {max} coauthors"),
                ));
            }
            clients.insert(client, timeout);
            let n = clients.len();
            if n == 2 {
                d.transition_pending = true;
            }
            Ok(Joined::Shared(n))
        }
        Lock::None => {
            let mut clients = BTreeMap::new();
            clients.insert(client, timeout);
            d.lock = Lock::Shared {
                schema_lock_id: schema,
                clients,
            };
            d.transition_id = None;
            Ok(Joined::Shared(1))
        }
    }
}

fn take_exclusive(d: &mut Document, id: &str, expires: u64, holder: &str) {
    let expires = match &d.lock {
        Lock::Exclusive { expires: e, .. } => (*e).max(expires),
        _ => expires,
    };
    d.lock = Lock::Exclusive {
        id: id.to_owned(),
        expires,
        holder: holder.to_owned(),
    };
}

fn in_session(d: &Document, c: &Call<'_>) -> bool {
    matches!(&d.lock, Lock::Shared { schema_lock_id, clients }
        if Some(schema_lock_id.as_str()) == c.data.schema_lock_id.as_deref()
            && clients.contains_key(&c.client()))
}

fn status_of(n: usize) -> CoauthStatus {
    if n <= 1 {
        CoauthStatus::Alone
    } else {
        CoauthStatus::Coauthoring
    }
}

/// Whether an upload may write: the lock id it carries must match the file's lock
/// (A.10.5). `None` when it may.
pub(super) fn write_lock_check(d: &Document, c: &Call<'_>) -> Option<Outcome> {
    let ids = [
        c.data.bypass_lock_id.as_deref(),
        c.data.schema_lock_id.as_deref(),
        c.data.exclusive_lock_id.as_deref(),
    ];
    let ok = match &d.lock {
        Lock::None => true,
        Lock::Shared {
            schema_lock_id,
            clients,
        } => ids.contains(&Some(schema_lock_id.as_str())) && clients.contains_key(&c.client()),
        Lock::Exclusive { id, .. } => ids.contains(&Some(id.as_str())),
    };
    (!ok).then(|| Outcome::err_msg(ErrorCode::FileAlreadyLockedOnServer, d.holder()))
}
