//! The Cell subrequest (MS-FSSHTTP 2.3.1.1): its FSSHTTPB payload decoded, each
//! FSSHTTPB sub-request answered (Query Access, Query Changes with the file laid out per
//! MS-FSSHTTPD, Put Changes checked against the expected Storage Index, Allocate
//! ExtendedGuid Range), the response encoded with the crate's FSSHTTPB encoder.

use super::locks::write_lock_check;
use super::{filetime, Call, CellService, Outcome, E_FAIL};
use crate::decode::fsshttp::{
    CellPayload, ErrorCode, HResult, LockType, PayloadOrigin, SubResponseData,
};
use crate::decode::fsshttpb::{
    self as b, AllocateExtendedGuidRangeResponse, AppliedStorageIndex, CellErrorCode,
    CellKnowledgeItem, ErrorDetail, FsshttpbResponse, Knowledge, PutChangesResponse,
    QueryChangesResponse, ResponseError, SpecializedKnowledge, HRESULT_ERROR_GUID,
    RESPONSE_SIGNATURE,
};
use crate::server::store::{check_name, Lock, Version};

impl CellService {
    /// Cell: the FSSHTTPB request in the payload, answered with an FSSHTTPB response.
    pub(super) fn cell(&mut self, c: &Call<'_>) -> Outcome {
        let Some(payload) = c.data.payload.as_ref() else {
            return Outcome::err(ErrorCode::InvalidArgument);
        };
        let fb = b::decode_request(&payload.bytes);
        if !fb.diagnostics.is_empty() {
            let mut r = fb_response();
            r.status = 1;
            r.error = Some(b::cell_error(CellErrorCode::RequestStreamSchemaError));
            return cell_outcome(ErrorCode::CellRequestFail, &r, None);
        }
        let seed = self.settings.seed;
        let now = self.now();
        let user = c.user.to_owned();
        let has_put = fb
            .sub_requests
            .iter()
            .any(|s| matches!(s.data, b::SubRequestData::PutChanges(_)));
        if self.store.find_mut(c.url).is_none() {
            if !has_put {
                let mut r = fb_response();
                r.status = 1;
                r.error = Some(hresult_error(E_FAIL));
                return cell_outcome(ErrorCode::CellRequestFail, &r, None);
            }
            // A Put Changes to a missing Url creates the file (A.7.1).
            // The name comes from the wire: it must be a plain file name (issue 14.1).
            let path = c.url.split(['?', '#']).next().unwrap_or("");
            let name = crate::decode::text::percent_decode(path.rsplit('/').next().unwrap_or(""));
            if let Err(why) = check_name(&name) {
                return Outcome::err_msg(
                    ErrorCode::InvalidUrl,
                    format!("{why}: {}", name.escape_debug()),
                );
            }
            self.store.insert(&name, Vec::new(), now, &user);
        }
        let range_guid = self.fresh_guid(0xA11);
        let Some(d) = self.store.find_mut(c.url) else {
            return Outcome::err(ErrorCode::FileNotExistsOrCannotBeCreated);
        };
        // Etag present and not matching ⇒ CellRequestFail (A.10.6).
        if let Some(etag) = c.data.etag.as_deref().filter(|e| !e.is_empty()) {
            if etag != d.etag(seed) {
                return Outcome::err_msg(
                    ErrorCode::CellRequestFail,
                    format!("Etag {etag} does not match {}", d.etag(seed)),
                );
            }
        }
        if has_put {
            if let Some(o) = write_lock_check(d, c) {
                return o;
            }
        }
        let mut resp = fb_response();
        let mut code = ErrorCode::Success;
        let mut changed: Option<Vec<u8>> = None;
        for s in &fb.sub_requests {
            let mut sr = b::SubResponse {
                request_id: s.request_id,
                request_type: s.request_type,
                ..b::SubResponse::default()
            };
            match &s.data {
                b::SubRequestData::QueryAccess => {
                    sr.data = b::SubResponseData::QueryAccess {
                        read: Some(hresult_error(0)),
                        write: Some(hresult_error(0)),
                    };
                }
                b::SubRequestData::QueryChanges(_) => {
                    let default_partition = s.target_partition_id.is_none_or(|g| g == b::Guid::NIL);
                    if default_partition {
                        let built = b::build_query_changes_response(
                            d.content(),
                            &d.package_options(seed),
                            s.request_id,
                        );
                        if resp.data_element_package.is_none() {
                            resp.data_element_package = built.data_element_package;
                        }
                        if let Some(first) = built.sub_responses.into_iter().next() {
                            sr.data = first.data;
                        }
                    } else {
                        sr.data = b::SubResponseData::QueryChanges(QueryChangesResponse::default());
                    }
                }
                b::SubRequestData::PutChanges(put) => {
                    let current = d.storage_index(seed);
                    let exists = !d.content().is_empty() || d.versions.len() > 1;
                    let expected = put.expected_storage_index_id;
                    let coherent = if expected.is_null() {
                        // No expectation: only a new (empty) file may be written blind.
                        !exists
                    } else {
                        expected == current
                    };
                    let expect_none = c.data.expect_no_file_exists == Some(true) && exists;
                    if !coherent || expect_none {
                        sr.status = 1;
                        sr.error = Some(b::cell_error(CellErrorCode::CoherencyFailure));
                        code = ErrorCode::CellRequestFail;
                    } else {
                        let file = fb.data_element_package.as_ref().and_then(b::extract_file);
                        match file {
                            Some(bytes) => {
                                let number = d.current().number + 1;
                                d.versions.push(Version {
                                    number,
                                    content: bytes.clone(),
                                    modified_ms: now,
                                    modified_by: user.clone(),
                                });
                                let added = fb
                                    .data_element_package
                                    .as_ref()
                                    .map(|p| p.elements.iter().map(|e| e.id).collect())
                                    .unwrap_or_default();
                                sr.data = b::SubResponseData::PutChanges(PutChangesResponse {
                                    applied: Some(AppliedStorageIndex {
                                        applied_storage_index_id: d.storage_index(seed),
                                        data_elements_added: added,
                                        ..AppliedStorageIndex::default()
                                    }),
                                    resultant_knowledge: Some(knowledge(&d.package_options(seed))),
                                    diagnostic_output: None,
                                });
                                changed = Some(bytes);
                            }
                            None => {
                                sr.status = 1;
                                sr.error = Some(b::cell_error(
                                    CellErrorCode::ReferencedDataElementNotFound,
                                ));
                                code = ErrorCode::CellRequestFail;
                            }
                        }
                    }
                }
                b::SubRequestData::AllocateExtendedGuidRange(a) => {
                    let g = b::Guid::parse(&range_guid).unwrap_or(b::Guid::NIL);
                    sr.data = b::SubResponseData::AllocateExtendedGuidRange(
                        AllocateExtendedGuidRangeResponse {
                            guid: g,
                            min: 1,
                            max: 1 + a.count.max(1),
                        },
                    );
                }
                b::SubRequestData::Unknown { .. } => {
                    sr.status = 1;
                    sr.error = Some(b::cell_error(CellErrorCode::UnknownRequest));
                    code = ErrorCode::CellRequestFail;
                }
            }
            resp.sub_responses.push(sr);
        }
        let name = d.name.clone();
        let lock_type = match (&d.lock, &c.data.exclusive_lock_id) {
            (Lock::Exclusive { id, .. }, Some(x)) if id == x && has_put => {
                Some(LockType::ExclusiveLock)
            }
            _ => None,
        };
        let mut data = SubResponseData {
            etag: Some(d.etag(seed)),
            modified_by: Some(d.current().modified_by.clone()),
            coalesce_h_result: Some(HResult::from_u32(0)),
            contains_hotbox_data: Some(false),
            have_only_demotion_changes: Some(false),
            lock_type,
            ..SubResponseData::default()
        };
        if c.data.get_file_props == Some(true) {
            data.create_time = Some(filetime(d.created_ms));
            data.last_modified_time = Some(filetime(d.current().modified_ms));
        }
        if let Some(bytes) = changed {
            self.store.write_back(&name, &bytes);
            self.store.touch(&name.to_ascii_lowercase());
        }
        cell_outcome(code, &resp, Some(data))
    }
}

fn fb_response() -> FsshttpbResponse {
    FsshttpbResponse {
        protocol_version: 14,
        minimum_version: 11,
        signature: RESPONSE_SIGNATURE,
        ..FsshttpbResponse::default()
    }
}

fn hresult_error(code: u32) -> ResponseError {
    ResponseError {
        error_type: HRESULT_ERROR_GUID,
        detail: ErrorDetail::HresultError { code },
        ..ResponseError::default()
    }
}

fn knowledge(opts: &b::FilePackageOptions) -> Knowledge {
    Knowledge {
        offset: 0,
        entries: vec![SpecializedKnowledge::CellKnowledge(vec![
            CellKnowledgeItem::Range {
                guid: opts.serial_guid,
                from: 1,
                to: 64,
            },
        ])],
    }
}

fn cell_outcome(code: ErrorCode, r: &FsshttpbResponse, data: Option<SubResponseData>) -> Outcome {
    let mut data = data.unwrap_or_default();
    data.payload = Some(CellPayload {
        bytes: b::encode_response(r).into(),
        origin: PayloadOrigin::Inline,
    });
    Outcome {
        message: (!code.is_success()).then(|| "the FSSHTTPB request failed".to_owned()),
        data: Some(Box::new(data)),
        versions: None,
        code,
    }
}
